package dev.engram.cli.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import me.tongfei.progressbar.ProgressBar;

/**
 * Passkey retrieval with the bundled trained models: for each model, context length and passkey
 * depth, plant a passkey, ask for it at the end, and count answers (greedy decoding). A trial's prompt is up to
 * 31 tokens shorter than the length named (LENGTH_SPREAD), so the question lands at every offset of its segment.
 */
public final class PasskeyDemo {
    /**
     * Where the passkey block sits in the filler: 0 directly after {@code <bos>}, 1 directly before the question
     * (in the question's own, last segment: what a model must repeat from one sentence ago).
     */
    public static final double[] DEPTHS = {0, 0.25, 0.5, 0.75, 0.9, 1};
    static final String[] DEPTH_NAMES = {"0", "0.25", "0.5", "0.75", "0.9", "1 (last seg)"};
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * One model's results: exact-match rate and per-digit accuracy [length][depth], ingest tokens/s per length,
     * state bytes per length; {@code trainTokens} is the longest training context (0 when the manifest does not say).
     */
    public record Result(String model, String strategy, int trainTokens, int[] lengths, double[][] exact,
                         double[][] digitAccuracy, double[] tokensPerSecond, long[] stateBytes) {
        double meanExact(int li) {
            return Arrays.stream(exact[li]).average().orElse(0);
        }
    }

    private final List<Path> models;
    private final int[] lengths;
    private final int trials;
    private final int digits;
    private final long seed;
    private final PrintWriter out;
    private final boolean progress;

    public PasskeyDemo(List<Path> models, int[] lengths, int trials, int digits, long seed, PrintWriter out,
                       boolean progress) {
        if (trials < 1) {
            throw new IllegalArgumentException("trials " + trials + ": must be >= 1");
        }
        this.models = List.copyOf(models);
        this.lengths = lengths.clone();
        this.trials = trials;
        this.digits = digits;
        this.seed = seed;
        this.out = out;
        this.progress = progress;
    }

    public List<Result> run() throws IOException {
        long total = (long) models.size() * Arrays.stream(lengths).asLongStream().sum() * DEPTHS.length * trials;
        List<Result> results = new ArrayList<>();
        try (ProgressBar bar = DemoProgress.tokens("passkey", total, 500, progress)) {
            for (Path dir : models) {
                try (Engine engine = new EngineLoader().systemOverrides(false).load(dir)) {
                    results.add(evaluate(dir, engine, bar));
                }
            }
        }
        return results;
    }

    /**
     * Up to how many tokens a trial's prompt is shorter than the length the table names. The bundled models' segment
     * is 32 tokens; a prompt of whole segments puts the question at one offset of its segment and the answer inside
     * it, while a user's prompt puts them anywhere (the answer crossing into the next segment too), so each trial
     * draws its length from the 32 below the named one.
     */
    static final int LENGTH_SPREAD = 32;

    /** The random stream of one trial: distinct for every (seed, length, depth, trial) within the demo's ranges. */
    static SplittableRandom trialRandom(long seed, int length, int depthIndex, int trial) {
        long key = ((seed * 1_000_003L + length) * 64 + depthIndex) * 1_000_033L + trial;
        return new SplittableRandom(key);
    }

    /**
     * The length of one trial's sequence (prompt and answer): {@code length} less 0 to LENGTH_SPREAD - 1 tokens,
     * drawn from a stream of its own (depth index + 32 in {@link #trialRandom}), never too short for the task.
     */
    static int trialLength(long seed, int length, int depthIndex, int trial, int digits) {
        int shortest = length - PasskeyTask.room(length, digits); // bos, the block, the question and the answer
        return length - Math.min(trialRandom(seed, length, 32 + depthIndex, trial).nextInt(LENGTH_SPREAD),
                length - shortest);
    }

    private Result evaluate(Path dir, Engine engine, ProgressBar bar) throws IOException {
        double[][] exact = new double[lengths.length][DEPTHS.length];
        double[][] digitAcc = new double[lengths.length][DEPTHS.length];
        double[] speed = new double[lengths.length];
        long[] bytes = new long[lengths.length];
        for (int li = 0; li < lengths.length; li++) {
            long tokens = 0;
            long nanos = 0;
            for (int di = 0; di < DEPTHS.length; di++) {
                int hits = 0;
                int digitHits = 0;
                for (int t = 0; t < trials; t++) {
                    PasskeyTask.Sample sample = PasskeyTask.sample(trialRandom(seed, lengths[li], di, t),
                            trialLength(seed, lengths[li], di, t, digits), digits, DEPTHS[di]);
                    ModelSequence sequence = engine.newSequence();
                    long start = System.nanoTime();
                    int[] answer = engine.generate(sequence, sample.prompt(), GenerationParams.greedy(digits), id -> { });
                    nanos += System.nanoTime() - start;
                    tokens += sample.prompt().length;
                    bytes[li] = Math.max(bytes[li], sequence.stateBytes());
                    hits += Arrays.equals(answer, sample.passkey()) ? 1 : 0;
                    for (int i = 0; i < digits; i++) {
                        digitHits += i < answer.length && answer[i] == sample.passkey()[i] ? 1 : 0;
                    }
                    bar.stepBy(lengths[li]);
                }
                exact[li][di] = hits / (double) trials;
                digitAcc[li][di] = digitHits / (double) (trials * digits);
            }
            speed[li] = tokens / (nanos / 1e9);
        }
        return new Result(dir.getFileName().toString(), strategyOf(engine), trainTokens(dir), lengths, exact, digitAcc,
                speed, bytes);
    }

    /**
     * The longest context the model was trained on, from the manifest's {@code training} field (train.py's
     * {@code segments} [min, max] times {@code segmentLength}, over all stages); 0 when it has none.
     */
    static int trainTokens(Path dir) throws IOException {
        JsonNode training = JSON.readTree(dir.resolve("engram.json").toFile()).path("training");
        List<JsonNode> stages = new ArrayList<>();
        stages.add(training);
        training.path("stages").forEach(stages::add);
        int longest = 0;
        for (JsonNode stage : stages) {
            longest = Math.max(longest, stage.path("segments").path(1).asInt(0) * stage.path("segmentLength").asInt(0));
        }
        return longest;
    }

    /** The strategy a package runs, as the demo tables name it: each layer's memory provider, else its attention's. */
    static String strategyOf(Engine engine) {
        Map<String, Boolean> seen = new LinkedHashMap<>();
        engine.plan().layers().forEach(l -> seen.put(l.memory().map(m -> m.provider())
                .orElse(l.attention().provider()), true));
        return String.join("+", seen.keySet());
    }

    /** The table: exact match per depth (Markdown, so it pastes into a README), then digit accuracy, speed, state. */
    public void print(List<Result> results) {
        out.println();
        out.printf(Locale.ROOT, "Passkey retrieval, %d-digit passkey, %d trials per cell, greedy decoding: exact match by"
                + " depth (0 = right after <bos>, 1 = directly before the question, in its segment); each prompt up to %d"
                + " tokens shorter than its context, so the question falls at every offset of a segment%n", digits, trials,
                LENGTH_SPREAD - 1);
        StringBuilder head = new StringBuilder("| model | strategy | trained to | context |");
        StringBuilder rule = new StringBuilder("|---|---|---:|---:|");
        for (String name : DEPTH_NAMES) {
            head.append(' ').append(name).append(" |");
            rule.append("---:|");
        }
        head.append(" digits | tokens/s | state bytes |");
        rule.append("---:|---:|---:|");
        out.println(head);
        out.println(rule);
        for (Result r : results) {
            for (int li = 0; li < r.lengths().length; li++) {
                StringBuilder row = new StringBuilder();
                row.append(String.format(Locale.ROOT, "| %s | %s | %s | %s |", r.model(), r.strategy(),
                        r.trainTokens() > 0 ? human(r.trainTokens()) : "?", human(r.lengths()[li])));
                for (int di = 0; di < DEPTHS.length; di++) {
                    row.append(String.format(Locale.ROOT, " %.0f%% |", 100 * r.exact()[li][di]));
                }
                double digitMean = Arrays.stream(r.digitAccuracy()[li]).average().orElse(0);
                row.append(String.format(Locale.ROOT, " %.0f%% | %.0f | %d |", 100 * digitMean, r.tokensPerSecond()[li],
                        r.stateBytes()[li]));
                out.println(row);
            }
        }
    }

    /**
     * This experiment's object in the --json file: {"name": "passkey", "digits", "trials", "seed", "rows": [...]}, one
     * row per model, length and depth; "accuracy" is the per-digit accuracy, "exact" the whole-passkey rate, both
     * fractions in [0, 1].
     */
    public Map<String, Object> json(List<Result> results) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Result r : results) {
            for (int li = 0; li < r.lengths().length; li++) {
                for (int di = 0; di < DEPTHS.length; di++) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("model", r.model());
                    row.put("strategy", r.strategy());
                    row.put("tokens", r.lengths()[li]);
                    row.put("train_tokens", r.trainTokens());
                    row.put("depth", DEPTHS[di]);
                    row.put("accuracy", r.digitAccuracy()[li][di]);
                    row.put("exact", r.exact()[li][di]);
                    row.put("trials", trials);
                    row.put("tokens_per_second", Math.round(r.tokensPerSecond()[li]));
                    row.put("state_bytes", r.stateBytes()[li]);
                    rows.add(row);
                }
            }
        }
        Map<String, Object> experiment = new LinkedHashMap<>();
        experiment.put("name", "passkey");
        experiment.put("digits", digits);
        experiment.put("trials", trials);
        experiment.put("seed", seed);
        experiment.put("rows", rows);
        return experiment;
    }

    static String human(int tokens) {
        return tokens % 1024 == 0 ? tokens / 1024 + "K" : String.valueOf(tokens);
    }
}
