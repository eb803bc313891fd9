package dev.engram.cli.bench;

import dev.engram.cli.strategy.MemoryStrategy;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineFactory;
import dev.engram.runtime.ModelSequence;
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
    private final int threads;
    private static final int WARM_UP_SEGMENTS = 8;
    private static final long WARM_UP_NANOS = 3_000_000_000L;
    private final int decodeTokens;
    private final double budgetSeconds;
    private final LongConsumer progress;
    private final java.util.function.Consumer<String> log;

    /**
     * @param budgetSeconds a length whose estimated ingest time (extrapolated from the previous length: linear, or
     *                      quadratic for full attention and lsh-knn) exceeds this is skipped; 0 = never skip
     * @param progress      receives the tokens of each finished segment
     */
    public EngramRunner(Path model, int threads, int decodeTokens, double budgetSeconds, LongConsumer progress,
                        java.util.function.Consumer<String> log) {
        this.model = model;
        this.threads = threads;
        this.decodeTokens = decodeTokens;
        this.budgetSeconds = budgetSeconds;
        this.progress = progress;
        this.log = log;
    }

    public List<Measurement> run(String strategy, List<Integer> lengths) {
        List<Measurement> out = new ArrayList<>();
        TimedProviders timer = new TimedProviders();
        Engine engine;
        try {
            engine = load(strategy, timer);
        } catch (RuntimeException e) {
            String why = "cannot load: " + oneLine(e);
            lengths.forEach(l -> out.add(Measurement.skipped(strategy, l, why)));
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
            // warm-up, not counted in the progress bar's total: JIT (the plugins' loops), ORT's first runs, buffer
            // shapes (full segments and the partial lengths decode uses). At least WARM_UP_SEGMENTS segments and
            // WARM_UP_NANOS of them, since the SIMD kernels run many times slower until C2 has compiled them
            // (about a second in); then tokens fed one at a time (at least 4 x --decode-tokens and 1.5 s, at most
            // 256), so the decode path's loops (one row per call) are compiled before they are timed too.
            ModelSequence warm = engine.newSequence();
            int[] segmentTokens = tokens(s, vocab, 3);
            long warmStart = System.nanoTime();
            for (int i = 0; i < WARM_UP_SEGMENTS || (System.nanoTime() - warmStart < WARM_UP_NANOS && i < 64); i++) {
                engine.ingest(warm, segmentTokens);
            }
            int[] one = new int[1];
            long decodeStart = System.nanoTime();
            for (int i = 0; decodeTokens > 0 && i < 256
                    && (i < 4 * decodeTokens || System.nanoTime() - decodeStart < WARM_UP_NANOS / 2); i++) {
                one[0] = 1 + i % (vocab - 1);
                engine.ingest(warm, one);
            }
            warm = null; // its state must not count in the heap and RSS measured below
            counting[0] = true;
            double prevLen = 0;
            double prevSeconds = 0;
            for (int length : lengths) {
                if (prevLen > 0 && budgetSeconds > 0) {
                    double est = prevSeconds * Math.pow(length / prevLen, MemoryStrategy.quadratic(strategy) ? 2 : 1);
                    if (est > budgetSeconds) {
                        out.add(Measurement.skipped(strategy, length,
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
                    out.add(Measurement.skipped(strategy, length, "failed: " + oneLine(e)));
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
        double decodeMs = 0;
        if (decodeTokens > 0) {
            int[] one = new int[1];
            long d0 = System.nanoTime();
            for (int i = 0; i < decodeTokens; i++) {
                one[0] = argmax(logits);
                logits = engine.ingest(seq, one);
            }
            decodeMs = (System.nanoTime() - d0) / 1e6 / decodeTokens;
        }
        log.accept(String.format("%s %d: %.0f tokens/s", strategy, length, length / (ingest / 1e9)));
        return new Measurement(strategy, length, length / (ingest / 1e9), decodeMs, heap, rss, stateBytes, segMs, plugin, onnx, null);
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
