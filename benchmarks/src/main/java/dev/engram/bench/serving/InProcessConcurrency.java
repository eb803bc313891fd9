package dev.engram.bench.serving;

import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.Generator;
import dev.engram.runtime.ModelSequence;
import dev.engram.runtime.StepSharing;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Requests answered inside an application from many threads at once (what the LangChain4j adapter does): each caller
 * has its own sequence with {@code context} tokens of history and decodes {@code tokens} greedy tokens, all callers
 * starting together; aggregate decode tokens/s, each caller's time between tokens (p50, p99) and the slowest wait for
 * a first token, for
 * {@link StepSharing} (the callers share steps) against the peer, one generation at a time behind a lock (the adapter
 * before it shared steps), both in the same run, alternating per level. Prints a Markdown table; asserts nothing.
 *
 * <pre>
 *   mvn -B -q -pl benchmarks -am package -DskipTests -DskipPythonTests
 *   java -cp benchmarks/target/benchmarks.jar dev.engram.bench.serving.InProcessConcurrency PACKAGE [levels] [context] [tokens]
 * </pre>
 * Defaults: levels 1,4,8, context 256, tokens 48; the engine's threads as {@code engram} gives them (ENGRAM_THREADS or
 * the cores).
 */
public final class InProcessConcurrency {
    private InProcessConcurrency() {
    }

    /** What one level measured: aggregate tokens/s and the callers' times between tokens. */
    private record Result(double tokensPerSecond, double p50Millis, double p99Millis, double slowestFirstMillis) {
    }

    /** How the callers get the engine: sharing its steps, or one whole generation at a time. */
    private interface Mode {
        int[] generate(ModelSequence seq, int[] prompt, GenerationParams params, Runnable onToken);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: InProcessConcurrency PACKAGE [levels, default 1,4,8] [context, default 256] [tokens, default 48]");
            System.exit(2);
        }
        Path model = Path.of(args[0]);
        int[] levels = Arrays.stream((args.length > 1 ? args[1] : "1,4,8").split(","))
                .mapToInt(v -> positive("levels", v)).toArray();
        int context = args.length > 2 ? positive("context", args[2]) : 256;
        int tokens = args.length > 3 ? positive("tokens", args[3]) : 48;
        try (Engine engine = new EngineLoader().load(model)) {
            StepSharing sharing = new StepSharing(engine, StepSharing.DEFAULT_STEP_TOKENS);
            Object lock = new Object();
            Mode shared = (seq, prompt, params, onToken) -> sharing.run(
                    engine.generator(seq, prompt, params, null, (t, l) -> {
                        onToken.run();
                        return true;
                    }), null);
            Mode oneAtATime = (seq, prompt, params, onToken) -> {
                synchronized (lock) {
                    return engine.generate(seq, prompt, params, t -> onToken.run());
                }
            };
            System.out.printf(Locale.ROOT, "%s, context %d, %d tokens a caller, %d cores%n%n", engine.manifest().name(), context,
                    tokens, Runtime.getRuntime().availableProcessors());
            System.out.println("| callers | shared steps: tok/s | between tokens p50 / p99 ms | slowest first token ms "
                    + "| one at a time: tok/s | between tokens p50 / p99 ms | slowest first token ms | tok/s shared / one at a time |");
            System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|");
            measure(engine, sharing, shared, 1, context, 8); // warm-up: the JIT, the buffers of every row count
            measure(engine, sharing, oneAtATime, 1, context, 8);
            for (int n : levels) {
                Result s = measure(engine, sharing, shared, n, context, tokens);
                Result o = measure(engine, sharing, oneAtATime, n, context, tokens);
                System.out.printf(Locale.ROOT, "| %d | %.1f | %.1f / %.1f | %.0f | %.1f | %.1f / %.1f | %.0f | %.2f |%n", n,
                        s.tokensPerSecond(), s.p50Millis(), s.p99Millis(), s.slowestFirstMillis(), o.tokensPerSecond(),
                        o.p50Millis(), o.p99Millis(), o.slowestFirstMillis(), s.tokensPerSecond() / o.tokensPerSecond());
            }
        }
    }

    /** {@code value} as a whole number >= 1, or exits naming the argument and what is valid. */
    private static int positive(String name, String value) {
        try {
            int n = Integer.parseInt(value.trim());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        System.err.println(name + " is '" + value + "'; valid: a whole number >= 1");
        System.exit(2);
        return 0;
    }

    private static Result measure(Engine engine, StepSharing sharing, Mode mode, int callers, int context, int tokens)
            throws Exception {
        List<ModelSequence> seqs = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(callers);
        for (int i = 0; i < callers; i++) {
            int[] history = rnd.ints(context, 0, engine.vocabSize()).toArray();
            seqs.add(sharing.alone(() -> {
                ModelSequence s = engine.newSequence();
                engine.ingest(s, history);
                return s;
            }));
        }
        ExecutorService pool = Executors.newFixedThreadPool(callers);
        CyclicBarrier start = new CyclicBarrier(callers + 1);
        List<CompletableFuture<long[]>> gaps = new ArrayList<>();
        try {
            for (int i = 0; i < callers; i++) {
                ModelSequence seq = seqs.get(i);
                int[] prompt = {rnd.nextInt(engine.vocabSize())};
                gaps.add(CompletableFuture.supplyAsync(() -> {
                    long[] at = new long[tokens + 1];
                    int[] n = {0};
                    await(start);
                    at[0] = System.nanoTime();
                    mode.generate(seq, prompt, GenerationParams.greedy(tokens), () -> at[++n[0]] = System.nanoTime());
                    return at;
                }, pool));
            }
            await(start);
            long t0 = System.nanoTime();
            CompletableFuture.allOf(gaps.toArray(CompletableFuture[]::new)).join();
            double seconds = (System.nanoTime() - t0) / 1e9;
            List<Double> between = new ArrayList<>();
            double slowestFirst = 0;
            for (CompletableFuture<long[]> f : gaps) {
                long[] at = f.join();
                slowestFirst = Math.max(slowestFirst, (at[1] - at[0]) / 1e6);
                for (int t = 2; t < at.length; t++) { // from the second token: the first waits for the start
                    between.add((at[t] - at[t - 1]) / 1e6);
                }
            }
            between.sort(Double::compare);
            return new Result(callers * (double) tokens / seconds, percentile(between, 0.50), percentile(between, 0.99),
                    slowestFirst);
        } finally {
            pool.shutdownNow();
        }
    }

    private static double percentile(List<Double> sorted, double p) {
        return sorted.isEmpty() ? 0 : sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p * sorted.size()) - 1));
    }

    private static void await(CyclicBarrier b) {
        try {
            b.await();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
