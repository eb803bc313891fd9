package dev.engram.cli.demo;

import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.ModelSequence;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Passkey retrieval with the bundled trained models: for each model, context length and passkey
 * depth, plant a passkey, ask for it at the end, and count exact answers (greedy decoding).
 */
public final class PasskeyDemo {
    /** Where the passkey sits in the filler: near the start, the middle and the end. */
    static final double[] DEPTHS = {0.05, 0.5, 0.95};
    static final String[] DEPTH_NAMES = {"start", "middle", "end"};

    /** One model's results: accuracy [length][depth], ingest tokens/s per length, state bytes per length. */
    public record Result(String model, String strategy, int[] lengths, double[][] accuracy, double[] tokensPerSecond,
                         long[] stateBytes) {
        double meanAccuracy(int li) {
            return Arrays.stream(accuracy[li]).average().orElse(0);
        }
    }

    private final List<Path> models;
    private final int[] lengths;
    private final int trials;
    private final int digits;
    private final long seed;
    private final PrintWriter out;

    public PasskeyDemo(List<Path> models, int[] lengths, int trials, int digits, long seed, PrintWriter out) {
        this.models = List.copyOf(models);
        this.lengths = lengths.clone();
        this.trials = trials;
        this.digits = digits;
        this.seed = seed;
        this.out = out;
    }

    public List<Result> run() {
        long total = (long) models.size() * Arrays.stream(lengths).asLongStream().sum() * DEPTHS.length * trials;
        List<Result> results = new ArrayList<>();
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName("passkey").setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUnit(" Ktok", 1000).setUpdateIntervalMillis(500).build()) {
            for (Path dir : models) {
                try (Engine engine = new EngineLoader().systemOverrides(false).load(dir)) {
                    results.add(evaluate(dir, engine, bar));
                }
            }
        }
        return results;
    }

    private Result evaluate(Path dir, Engine engine, ProgressBar bar) {
        double[][] accuracy = new double[lengths.length][DEPTHS.length];
        double[] speed = new double[lengths.length];
        long[] bytes = new long[lengths.length];
        for (int li = 0; li < lengths.length; li++) {
            long tokens = 0;
            long nanos = 0;
            for (int di = 0; di < DEPTHS.length; di++) {
                int hits = 0;
                for (int t = 0; t < trials; t++) {
                    SplittableRandom random = new SplittableRandom(seed * 1_000_003L + lengths[li] * 31L + di * 7L + t);
                    PasskeyTask.Sample sample = PasskeyTask.sample(random, lengths[li], digits, DEPTHS[di]);
                    ModelSequence sequence = engine.newSequence();
                    long start = System.nanoTime();
                    int[] answer = engine.generate(sequence, sample.prompt(), GenerationParams.greedy(digits), id -> { });
                    nanos += System.nanoTime() - start;
                    tokens += sample.prompt().length;
                    bytes[li] = Math.max(bytes[li], sequence.stateBytes());
                    hits += Arrays.equals(answer, sample.passkey()) ? 1 : 0;
                    bar.stepBy(lengths[li]);
                }
                accuracy[li][di] = hits / (double) trials;
            }
            speed[li] = tokens / (nanos / 1e9);
        }
        return new Result(dir.getFileName().toString(), strategyOf(engine), lengths, accuracy, speed, bytes);
    }

    private static String strategyOf(Engine engine) {
        Map<String, Boolean> seen = new LinkedHashMap<>();
        engine.plan().layers().forEach(l -> seen.put(l.memory().map(m -> m.provider())
                .orElse(l.attention().provider()), true));
        return String.join("+", seen.keySet());
    }

    public void print(List<Result> results) {
        out.println();
        out.printf(Locale.ROOT, "Passkey retrieval, %d-digit passkey, %d trials per cell, greedy decoding%n", digits, trials);
        out.printf(Locale.ROOT, "%-18s %-12s %8s %7s %7s %7s %12s %12s%n", "model", "strategy", "context", DEPTH_NAMES[0],
                DEPTH_NAMES[1], DEPTH_NAMES[2], "tokens/s", "state bytes");
        for (Result r : results) {
            for (int li = 0; li < r.lengths().length; li++) {
                out.printf(Locale.ROOT, "%-18s %-12s %8s %6.0f%% %6.0f%% %6.0f%% %12.0f %12d%n", r.model(), r.strategy(),
                        human(r.lengths()[li]), 100 * r.accuracy()[li][0], 100 * r.accuracy()[li][1],
                        100 * r.accuracy()[li][2], r.tokensPerSecond()[li], r.stateBytes()[li]);
            }
        }
    }

    static String human(int tokens) {
        return tokens % 1024 == 0 ? tokens / 1024 + "K" : String.valueOf(tokens);
    }
}
