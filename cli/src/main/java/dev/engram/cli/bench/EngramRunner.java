package dev.engram.cli.bench;

import dev.engram.cli.strategy.MemoryStrategy;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineFactory;
import dev.engram.runtime.ModelSequence;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.spi.ProviderRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.LongConsumer;

/** Runs the Engram side: per strategy one engine (config overrides), per context length a fresh sequence. */
public final class EngramRunner {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path model;
    /** The package's weight type (ModelManifest.weightType), on every measurement. */
    private final String weights;
    private final int threads;
    private static final int WARM_UP_SEGMENTS = 8;
    private static final long WARM_UP_NANOS = 3_000_000_000L;
    /** The decode warm-up's context, ingested in one call as the measured contexts are. */
    private static final int WARM_UP_CONTEXT_SEGMENTS = 4;
    private final int decodeTokens;
    private final int decodeRuns;
    private final double budgetSeconds;
    private final LongConsumer progress;
    private final java.util.function.Consumer<String> log;
    private int decodeWarmUpTokens;

    /**
     * @param budgetSeconds a length whose estimated ingest time (extrapolated from the previous length: linear, or
     *                      quadratic for full attention and lsh-knn) exceeds this is skipped; 0 = never skip
     * @param progress      receives the tokens of each finished segment
     * @param decodeRuns    how many times the decode latency is measured after each context ({@code decodeTokens}
     *                      tokens each, one run after another): the median and spread of the runs are reported
     */
    public EngramRunner(Path model, int threads, int decodeTokens, int decodeRuns, double budgetSeconds,
                        LongConsumer progress, java.util.function.Consumer<String> log) {
        this.model = model;
        this.weights = weightType(model);
        this.threads = threads;
        this.decodeTokens = decodeTokens;
        this.decodeRuns = decodeRuns;
        this.budgetSeconds = budgetSeconds;
        this.progress = progress;
        this.log = log;
    }

    /** The weight type of the package this runner measures. */
    public String weights() {
        return weights;
    }

    /** The package's weight type; float32 where its manifest cannot be read (loading it then says why). */
    static String weightType(Path model) {
        ModelManifest m = ModelManifest.read(model.resolve(ModelManifest.FILE_NAME), new ArrayList<>());
        return m == null ? ModelManifest.FLOAT32_WEIGHTS : m.weightType();
    }

    public List<Measurement> run(String strategy, List<Integer> lengths) {
        List<Measurement> out = new ArrayList<>();
        TimedProviders timer = new TimedProviders();
        Engine engine;
        try {
            engine = load(strategy, timer);
        } catch (RuntimeException e) {
            String why = "cannot load: " + oneLine(e);
            lengths.forEach(l -> out.add(Measurement.skipped(strategy, weights, l, why)));
            return out;
        }
        try (engine) {
            int s = engine.segmentLength();
            int vocab = engine.vocabSize();
            long[] segNanos = {0};
            int[] segments = {0};
            // engine.onnxNanos() when the last complete segment ended: within one ingest every complete segment
            // runs before the incomplete tail, so (this - the value before the ingest) is ORT's share of them
            long[] onnxAtSegment = {0};
            boolean[] counting = {false};
            Engine timed = engine;
            engine.setSegmentListener((seqs, tokens, nanos) -> {
                segNanos[0] += nanos;
                segments[0]++;
                onnxAtSegment[0] = timed.onnxNanos();
                if (counting[0]) {
                    progress.accept((long) seqs * tokens);
                }
            });
            // warm-up, not counted in the progress bar's total
            ModelSequence warm = warmUp(engine);
            warm = null; // its state must not count in the heap and RSS measured below
            counting[0] = true;
            double prevLen = 0;
            double prevSeconds = 0;
            for (int length : lengths) {
                if (prevLen > 0 && budgetSeconds > 0) {
                    double est = prevSeconds * Math.pow(length / prevLen, MemoryStrategy.quadratic(strategy) ? 2 : 1);
                    if (est > budgetSeconds) {
                        out.add(Measurement.skipped(strategy, weights, length,
                                String.format("estimated %.0f s > budget %.0f s", est, budgetSeconds)));
                        continue;
                    }
                }
                try {
                    Measurement m = measure(engine, strategy, length, vocab, timer, segNanos, segments, onnxAtSegment);
                    out.add(m);
                    prevLen = length;
                    prevSeconds = length / m.ingestTokensPerSecond();
                } catch (RuntimeException e) {
                    out.add(Measurement.skipped(strategy, weights, length, "failed: " + oneLine(e)));
                }
            }
        }
        return out;
    }

    private Measurement measure(Engine engine, String strategy, int length, int vocab, TimedProviders timer,
                                long[] segNanos, int[] segments, long[] onnxAtSegment) {
        ModelSequence seq = engine.newSequence();
        int[] input = tokens(length, vocab, 7);
        timer.reset();
        segNanos[0] = 0;
        segments[0] = 0;
        long onnxBefore = engine.onnxNanos();
        onnxAtSegment[0] = onnxBefore;
        long t0 = System.nanoTime();
        float[] logits = engine.ingest(seq, input);
        long ingest = System.nanoTime() - t0;
        double plugin = segNanos[0] == 0 ? 0 : (double) timer.nanos() / segNanos[0];
        double onnx = segNanos[0] == 0 ? 0 : (double) (onnxAtSegment[0] - onnxBefore) / segNanos[0];
        double segMs = segments[0] == 0 ? 0 : segNanos[0] / 1e6 / segments[0];
        long stateBytes = seq.stateBytes();
        System.gc();
        Runtime rt = Runtime.getRuntime();
        long heap = rt.totalMemory() - rt.freeMemory();
        long rss = ProcessMemory.rssBytes();
        java.util.List<Double> runMillis = new java.util.ArrayList<>();
        int[] one = new int[1];
        double firstMillis = Double.NaN;
        if (decodeTokens > 0) { // alone: it may pay the sequence's one allocation of held rows (Measurement)
            one[0] = argmax(logits);
            long f0 = System.nanoTime();
            logits = engine.ingest(seq, one);
            firstMillis = (System.nanoTime() - f0) / 1e6;
        }
        for (int run = 0; decodeTokens > 0 && run < decodeRuns; run++) { // one after another, the context growing
            long d0 = System.nanoTime();
            for (int i = 0; i < decodeTokens; i++) {
                one[0] = argmax(logits);
                logits = engine.ingest(seq, one);
            }
            runMillis.add((System.nanoTime() - d0) / 1e6 / decodeTokens);
        }
        log.accept(String.format("%s %d: %.0f tokens/s", strategy, length, length / (ingest / 1e9)));
        return new Measurement(strategy, weights, length, length / (ingest / 1e9), firstMillis, Measurement.median(runMillis), runMillis,
                heap, rss, stateBytes, segMs, plugin, onnx, null);
    }

    /**
     * JIT (the plugins' loops), ORT's first runs, buffer shapes (full segments and the partial lengths decode uses).
     * At least WARM_UP_SEGMENTS segments and WARM_UP_NANOS of them, since the SIMD kernels run many times slower until
     * C2 has compiled them (about a second in); then a fresh sequence's context of several segments in one call and
     * tokens fed one at a time until the JIT has settled ({@link #decodeUntilSettled}), so that the decode path is
     * compiled, with the branches the measurements take, before it is timed.
     */
    private ModelSequence warmUp(Engine engine) {
        int s = engine.segmentLength();
        int vocab = engine.vocabSize();
        ModelSequence warm = engine.newSequence();
        int[] segmentTokens = tokens(s, vocab, 3);
        long warmStart = System.nanoTime();
        for (int i = 0; i < WARM_UP_SEGMENTS || (System.nanoTime() - warmStart < WARM_UP_NANOS && i < 64); i++) {
            engine.ingest(warm, segmentTokens);
        }
        if (decodeTokens > 0) {
            // as each measurement does: a fresh sequence, a context of several segments in one call, then decode.
            // Warmed on the one sequence above alone, the compiled layer step and cache staging met branches they had
            // never taken (a new sequence's cache growing within a call: -Xlog:deoptimization, "unstable_if" in
            // Engine.layerStep and CachedAttention.ensureCapacity) at the first measured context and ran as
            // profiling code through every decode run after it. Decode first, briefly, so that the traps of its own
            // branches come before that context and the profile the settled code is compiled from holds both
            feedGreedy(engine, warm, 2 * DECODE_WARM_UP_BLOCK);
            ModelSequence fresh = engine.newSequence();
            engine.ingest(fresh, tokens(WARM_UP_CONTEXT_SEGMENTS * s, vocab, 5));
            decodeWarmUpTokens = decodeUntilSettled(engine, fresh);
            log.accept("decode warm-up: " + decodeWarmUpTokens + " tokens"
                    + (decodeWarmUpTokens >= DECODE_WARM_UP_MAX_TOKENS ? " (the cap; the JIT was still compiling)" : ""));
        }
        return warm;
    }

    /** The tokens the last warm-up decoded before the JIT settled (bench.json's decodeWarmUpTokens). */
    public int decodeWarmUpTokens() {
        return decodeWarmUpTokens;
    }

    /** Decode warm-up tokens per settle check: two blocks in a row in which the JIT compiled nothing end the warm-up. */
    static final int DECODE_WARM_UP_BLOCK = 16;
    /**
     * At least this many warm-up tokens whatever the JIT shows: a method the engine calls once per layer and token
     * reaches C2's invocation threshold (5,000 calls) only after about 400 tokens of a 12-layer model, and until then
     * the JIT may be quiet for a while.
     */
    static final int DECODE_WARM_UP_MIN_TOKENS = 512;
    /** The decode warm-up's cap, whether or not the JIT has settled by then. */
    static final int DECODE_WARM_UP_MAX_TOKENS = 1024;
    private static final long DECODE_WARM_UP_MAX_NANOS = 60_000_000_000L;

    /**
     * Feeds {@code seq} its greedy token, one at a time, at least DECODE_WARM_UP_MIN_TOKENS, then in blocks of
     * DECODE_WARM_UP_BLOCK until two blocks in a row pass without the JIT compiling anything (the JVM's total
     * compilation time unchanged), at most DECODE_WARM_UP_MAX_TOKENS or DECODE_WARM_UP_MAX_NANOS; returns the tokens
     * fed. Why: with a fixed warm-up of 32-75 tokens (up to 2026-12-06) the timed decode runs at the GPT-2-small shape
     * saw about a hundred C2 compilations of the decode path (-Xlog:jit+compilation), each taking one of the machine's
     * two cores from the decode and leaving profiling code running until it finished: the slow first run after every
     * context (docs/performance.md).
     */
    private int decodeUntilSettled(Engine engine, ModelSequence seq) {
        java.lang.management.CompilationMXBean jit = java.lang.management.ManagementFactory.getCompilationMXBean();
        boolean observable = jit != null && jit.isCompilationTimeMonitoringSupported();
        int fed = 0;
        int quietBlocks = 0;
        long start = System.nanoTime();
        while (fed < DECODE_WARM_UP_MAX_TOKENS && System.nanoTime() - start < DECODE_WARM_UP_MAX_NANOS) {
            long compiledBefore = observable ? jit.getTotalCompilationTime() : 0;
            feedGreedy(engine, seq, DECODE_WARM_UP_BLOCK);
            fed += DECODE_WARM_UP_BLOCK;
            quietBlocks = observable && jit.getTotalCompilationTime() == compiledBefore ? quietBlocks + 1 : 0;
            if (fed >= Math.max(DECODE_WARM_UP_MIN_TOKENS, 4 * decodeTokens) && (quietBlocks >= 2 || !observable)) {
                break;
            }
        }
        return fed;
    }

    /** Feeds {@code seq} {@code tokens} tokens one at a time, each the greedy choice after the last (as the timed runs do). */
    private static void feedGreedy(Engine engine, ModelSequence seq, int tokens) {
        int[] one = {1};
        for (int i = 0; i < tokens; i++) {
            one[0] = argmax(engine.ingest(seq, one));
        }
    }

    /**
     * {@code engram bench --concurrency}: per level, that many sessions served together through
     * {@code Engine.forwardBatch} (the rows of all sessions in one ONNX Runtime call per graph): the sessions' contexts
     * (session i: {@code context} + i S / level tokens, so they sit at different places in their segments) ingested
     * in one call, then {@code steps} decode steps of one greedy token per session. Level 1 is the single-session
     * figure the others are compared with. Each level after a short warm-up at that level.
     */
    public List<ConcurrencyResult> runConcurrency(String strategy, List<Integer> levels, int context, int steps) {
        List<ConcurrencyResult> out = new ArrayList<>();
        Engine engine;
        try {
            engine = load(strategy, new TimedProviders());
        } catch (RuntimeException e) {
            String why = "cannot load: " + oneLine(e);
            levels.forEach(c -> out.add(ConcurrencyResult.skipped(strategy, c, why)));
            return out;
        }
        try (engine) {
            warmUp(engine);
            for (int c : levels) {
                try {
                    // a warm-up at this very level first, dropped: one session runs the engine's single-slot path and
                    // several the gathering one, compiled apart; measured right after another level's warm-up, the
                    // single session ran partly in code the JIT was replacing (its decode 42-58 tok/s from run to run).
                    // As many steps as a segment has tokens, so that every session completes a segment in it as in the
                    // measured run: a first completion in the timed steps threw the compiled step away (JFR
                    // Deoptimization, "unstable_if" in Engine.layerStep) and ran it interpreted for several steps,
                    // which were the 8-session p99.
                    measureConcurrency(engine, strategy, c, engine.segmentLength(), Math.min(steps, engine.segmentLength()));
                    ConcurrencyResult r = measureConcurrency(engine, strategy, c, context, steps);
                    log.accept(String.format(java.util.Locale.ROOT, "%s x%d: decode %.0f tokens/s, p99 %.1f ms",
                            strategy, c, r.decodeTokensPerSecond(), r.p99Millis()));
                    out.add(r);
                } catch (RuntimeException e) {
                    out.add(ConcurrencyResult.skipped(strategy, c, "failed: " + oneLine(e)));
                }
            }
        }
        return out;
    }

    private ConcurrencyResult measureConcurrency(Engine engine, String strategy, int sessions, int context, int steps) {
        int s = engine.segmentLength();
        int vocab = engine.vocabSize();
        List<ModelSequence> seqs = new ArrayList<>(sessions);
        List<Engine.Step> ingest = new ArrayList<>(sessions);
        long contextTokens = 0;
        for (int i = 0; i < sessions; i++) {
            int n = context + (int) ((long) i * s / sessions);
            ModelSequence seq = engine.newSequence();
            seqs.add(seq);
            ingest.add(new Engine.Step(seq, tokens(n, vocab, 100 + i)));
            contextTokens += n;
        }
        // the previous level's sessions are garbage now: collected here, not in the middle of the timed ingest
        System.gc();
        long onnx0 = engine.onnxNanos();
        long t0 = System.nanoTime();
        List<float[]> logits = engine.forwardBatch(ingest);
        long ingestNanos = System.nanoTime() - t0;
        double outside = 1 - (double) (engine.onnxNanos() - onnx0) / ingestNanos;
        double[] latencies = new double[sessions * steps];
        long decodeNanos = 0;
        long decodeOnnx = 0;
        double maxDiff = 0;
        double[] stepMillis = new double[steps];
        // The first step's tokens fed to a fork of each session alone, before the timing: the batched step must give
        // each the same logits. Then one collection: the sessions' new state (caches, held rows; hundreds of MB at 8
        // sessions of the GPT-2 shape) and these forks' are young until a collection copies them out, and left to the
        // decode steps those copies were 100-350 ms pauses that made the p99 of every level (-Xlog:gc). The
        // single-context measurement collects before decoding too.
        List<float[]> alone = new ArrayList<>(sessions);
        for (int i = 0; i < sessions; i++) {
            alone.add(engine.ingest(seqs.get(i).fork(), new int[] {argmax(logits.get(i))}));
        }
        System.gc();
        for (int step = 0; step < steps; step++) {
            List<Engine.Step> batch = new ArrayList<>(sessions);
            for (int i = 0; i < sessions; i++) {
                batch.add(new Engine.Step(seqs.get(i), new int[] {argmax(logits.get(i))}));
            }
            long onnxBefore = engine.onnxNanos();
            long d0 = System.nanoTime();
            logits = engine.forwardBatch(batch);
            long dt = System.nanoTime() - d0;
            decodeNanos += dt;
            decodeOnnx += engine.onnxNanos() - onnxBefore;
            java.util.Arrays.fill(latencies, step * sessions, (step + 1) * sessions, dt / 1e6);
            stepMillis[step] = dt / 1e6;
            for (int i = 0; step == 0 && i < sessions; i++) {
                for (int v = 0; v < vocab; v++) {
                    maxDiff = Math.max(maxDiff, Math.abs(alone.get(i)[v] - logits.get(i)[v]));
                }
            }
        }
        java.util.Arrays.sort(latencies);
        return new ConcurrencyResult(strategy, sessions, contextTokens, contextTokens / (ingestNanos / 1e9), outside,
                steps, (double) sessions * steps / (decodeNanos / 1e9), 1 - (double) decodeOnnx / decodeNanos,
                ConcurrencyResult.quantile(latencies, 0.5),
                ConcurrencyResult.quantile(latencies, 0.99), maxDiff, stepMillis, null);
    }

    private Engine load(String strategy, TimedProviders timer) throws RuntimeException {
        // the one override: every provider the engine finds is timed (the plugin share of each segment)
        ProviderRegistry timed = timer.wrap(EngineFactory.create().registry());
        int segment = segmentLength();
        Map<List<String>, String> overrides = new LinkedHashMap<>();
        try {
            overrides.put(List.of("layers"), JSON.writeValueAsString(MemoryStrategy.layers(strategy, segment)));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        overrides.put(List.of("session", "intraOpThreads"), Integer.toString(threads));
        return EngineFactory.create(b -> b.bind(ProviderRegistry.class).toInstance(timed)).loader()
                .systemOverrides(false).overrides(overrides).load(model);
    }

    private int segmentLength() {
        try {
            return JSON.readTree(Files.readString(model.resolve("engram.json"))).path("segmentLength").asInt(1);
        } catch (IOException e) {
            return 1;
        }
    }

    static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(vocab);
        }
        return t;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replace('\n', ' ').replaceAll("\\s+", " ");
    }
}
