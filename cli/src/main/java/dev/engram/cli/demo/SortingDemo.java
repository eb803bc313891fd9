package dev.engram.cli.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.InvalidInputException;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * The ∞-former paper's sorting-by-frequency experiment (arXiv 2109.00301 section 4.1) with the bundled sorting
 * models: for each model and input length (1, 2, 4 and 8 times the model's training length L0), draw sequences
 * ({@link SortingTask}) and count, per answer position, how often the model's most likely symbol is the right one
 * given the true earlier answer symbols (teacher-forced: the paper's metric, as its public code's {@code evaluate}
 * scores it), and, answering greedily (each answer position fed its own previous output), per-position accuracy and
 * whole answers exactly right.
 */
public final class SortingDemo {
    /** The input lengths, as multiples of the model's training length L0. */
    public static final int[] MULTIPLES = {1, 2, 4, 8};
    /** With --long. */
    public static final int[] LONG_MULTIPLES = {1, 2, 4, 8, 16};
    /** What the paper reports, stated beside the table. */
    public static final String PAPER_SHAPE = "Paper (section 4.1): Transformer-XL slightly ahead at the "
            + "shortest length and falling sharply as the length grows; the ∞-former changes little.";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One model's results per input length (fractions 0..1): {@code accuracy} per position teacher-forced (the paper's
     * metric), {@code greedyAccuracy} per position of the greedy answer, {@code exact} the greedy answers entirely right.
     */
    public record Result(String model, String strategy, int trainLength, int[] lengths, double[] accuracy,
                         double[] greedyAccuracy, double[] exact) {
    }

    private final List<Path> models;
    private final int[] multiples;
    private final int trials;
    private final long seed;
    private final PrintWriter out;

    /** @param multiples the input lengths to measure each model at, as multiples of its training length L0 */
    public SortingDemo(List<Path> models, int[] multiples, int trials, long seed, PrintWriter out) {
        if (trials < 1) {
            throw new IllegalArgumentException("trials " + trials + ": must be >= 1");
        }
        for (int m : multiples) {
            if (m < 1) {
                throw new IllegalArgumentException("multiple " + m + " of the training length: must be >= 1");
            }
        }
        this.models = List.copyOf(models);
        this.multiples = multiples.clone();
        this.trials = trials;
        this.seed = seed;
        this.out = out;
    }

    public List<Result> run() throws IOException {
        List<Result> results = new ArrayList<>();
        for (Path dir : models) {
            int trainLength = trainLength(dir);
            if (trainLength <= 0) {
                throw new InvalidInputException("--models", dir + ": its manifest's training.lengths gives no training "
                        + "length L0 (train_sorting.py writes [min, max] input symbols)");
            }
            int[] chosen = new int[multiples.length];
            for (int i = 0; i < chosen.length; i++) {
                chosen[i] = multiples[i] * trainLength;
            }
            try (Engine engine = new EngineLoader().systemOverrides(false).load(dir)) {
                if (engine.manifest().architecture().vocabSize() < SortingTask.BOS + 1) {
                    throw new InvalidInputException("--models", dir + ": vocabulary " + engine.manifest().architecture().vocabSize()
                            + " is too small for the sorting task's " + (SortingTask.BOS + 1) + " ids");
                }
                double[] accuracy = new double[chosen.length];
                double[] greedyAccuracy = new double[chosen.length];
                double[] exact = new double[chosen.length];
                for (int li = 0; li < chosen.length; li++) {
                    int forced = 0;
                    int hits = 0;
                    int whole = 0;
                    for (int t = 0; t < trials; t++) {
                        SortingTask.Sample s = SortingTask.sample(trialRandom(seed, chosen[li], t), chosen[li]);
                        forced += teacherForcedHits(engine, s);
                        int[] answer = engine.generate(engine.newSequence(), s.prompt(),
                                GenerationParams.greedy(SortingTask.SYMBOLS), id -> { });
                        int right = 0;
                        for (int i = 0; i < SortingTask.SYMBOLS; i++) {
                            right += i < answer.length && answer[i] == s.answer()[i] ? 1 : 0;
                        }
                        hits += right;
                        whole += right == SortingTask.SYMBOLS ? 1 : 0;
                    }
                    accuracy[li] = forced / (double) (trials * SortingTask.SYMBOLS);
                    greedyAccuracy[li] = hits / (double) (trials * SortingTask.SYMBOLS);
                    exact[li] = whole / (double) trials;
                }
                results.add(new Result(dir.getFileName().toString(), PasskeyDemo.strategyOf(engine), trainLength, chosen, accuracy,
                        greedyAccuracy, exact));
            }
        }
        return results;
    }

    /**
     * Answer positions whose most likely symbol is right given the prompt and the true earlier answer symbols: one
     * pass over prompt + answer (its last symbol predicts nothing asked), argmax with ties to the lower id.
     */
    static int teacherForcedHits(Engine engine, SortingTask.Sample s) {
        int[] prompt = s.prompt();
        int[] fed = java.util.Arrays.copyOf(prompt, prompt.length + SortingTask.SYMBOLS - 1);
        System.arraycopy(s.answer(), 0, fed, prompt.length, SortingTask.SYMBOLS - 1);
        float[][] logits = engine.ingestAll(List.of(engine.newSequence()), List.of(fed)).get(0);
        int hits = 0;
        for (int i = 0; i < SortingTask.SYMBOLS; i++) {
            float[] row = logits[prompt.length - 1 + i];
            int best = 0;
            for (int v = 1; v < row.length; v++) {
                best = row[v] > row[best] ? v : best;
            }
            hits += best == s.answer()[i] ? 1 : 0;
        }
        return hits;
    }

    /** The random stream of one trial: distinct for every (seed, length, trial) within the demo's ranges. */
    static SplittableRandom trialRandom(long seed, int length, int trial) {
        return new SplittableRandom((seed * 1_000_003L + length) * 1_000_033L + trial + 0x5047L);
    }

    /** L0: the longest training input (train_sorting.py's training.lengths [min, max], over all stages); 0 if absent. */
    static int trainLength(Path dir) throws IOException {
        JsonNode training = JSON.readTree(dir.resolve("engram.json").toFile()).path("training");
        int longest = training.path("lengths").path(1).asInt(0);
        for (JsonNode stage : training.path("stages")) {
            longest = Math.max(longest, stage.path("lengths").path(1).asInt(0));
        }
        return longest;
    }

    /** The table (Markdown): per-position accuracy and exact answers by input length, the paper's shape beside it. */
    public void print(List<Result> results) {
        out.println();
        out.printf(Locale.ROOT, "Sorting by frequency (the ∞-former paper's section 4.1): %d symbols, %d trials per cell; "
                + "per position: teacher-forced (the true earlier answer symbols given: the paper's metric) and greedy "
                + "(the model's own earlier answers fed); exact: greedy answers entirely right; length = input symbols, "
                + "L0 = the model's longest training input; chance per position 5%%%n", SortingTask.SYMBOLS, trials);
        out.println(PAPER_SHAPE);
        out.println("| model | strategy | L0 | length | x L0 | per position (teacher-forced) | per position (greedy) | exact |");
        out.println("|---|---|---:|---:|---:|---:|---:|---:|");
        for (Result r : results) {
            for (int li = 0; li < r.lengths().length; li++) {
                out.printf(Locale.ROOT, "| %s | %s | %d | %d | %s | %.1f%% | %.1f%% | %.0f%% |%n", r.model(), r.strategy(),
                        r.trainLength(), r.lengths()[li], multiple(r.lengths()[li], r.trainLength()),
                        100 * r.accuracy()[li], 100 * r.greedyAccuracy()[li], 100 * r.exact()[li]);
            }
        }
        out.flush();
    }

    /** The experiment's JSON object: {"name": "sorting", "trials", "seed", "rows": {@link #jsonRows}}. */
    public Map<String, Object> json(List<Result> results) {
        Map<String, Object> experiment = new LinkedHashMap<>();
        experiment.put("name", SortingExperiment.NAME);
        experiment.put("trials", trials);
        experiment.put("seed", seed);
        experiment.put("rows", jsonRows(results));
        return experiment;
    }

    private static String multiple(int length, int trainLength) {
        if (trainLength <= 0) {
            return "?";
        }
        return length % trainLength == 0 ? String.valueOf(length / trainLength)
                : String.format(Locale.ROOT, "%.2f", length / (double) trainLength);
    }

    /**
     * Issue 15's JSON rows: {model, strategy, tokens (input length), train_tokens (L0), accuracy (per position,
     * teacher-forced: the paper's metric), greedy_accuracy, exact (greedy), trials}.
     */
    public List<Map<String, Object>> jsonRows(List<Result> results) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Result r : results) {
            for (int li = 0; li < r.lengths().length; li++) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("model", r.model());
                row.put("strategy", r.strategy());
                row.put("tokens", r.lengths()[li]);
                row.put("train_tokens", r.trainLength());
                row.put("accuracy", r.accuracy()[li]);
                row.put("greedy_accuracy", r.greedyAccuracy()[li]);
                row.put("exact", r.exact()[li]);
                row.put("trials", trials);
                rows.add(row);
            }
        }
        return rows;
    }

    // ------------------------------------------------------------------------------------------------ chart

    private static final Font LABEL = ChartCanvas.LABEL;
    private static final Color[] LINES = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
            new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b)};

    /** The PNG: teacher-forced per-position accuracy (y, 0-100%) against input length (x, log scale), one line per model. */
    public void chart(Path file, List<Result> results) throws IOException {
        if (results.isEmpty()) {
            throw new IllegalArgumentException("results: no model to draw");
        }
        TreeSet<Integer> xs = new TreeSet<>();
        results.forEach(r -> java.util.Arrays.stream(r.lengths()).forEach(xs::add));
        String heading = "Sorting by frequency: per-position accuracy against input length";
        String caption = String.format(Locale.ROOT, "%d trials per point, teacher-forced (the paper's metric); dashed: "
                + "chance (5%%).", trials);
        FontMetrics title = ChartCanvas.metrics(ChartCanvas.TITLE);
        FontMetrics label = ChartCanvas.metrics(LABEL);
        int legendW = 0;
        for (Result r : results) {
            legendW = Math.max(legendW, label.stringWidth(legend(r)) + 30);
        }
        int margin = ChartCanvas.MARGIN;
        int axisW = label.stringWidth("100%") + 10;
        int plotW = Math.max(480, 90 * xs.size());
        int plotH = 260;
        int width = Math.max(2 * margin + axisW + plotW + 20 + legendW,
                ChartCanvas.headingWidth(heading, caption, PAPER_SHAPE));
        int top = margin + title.getHeight() + 2 * label.getHeight() + 16;
        int height = top + plotH + 2 * label.getHeight() + 12 + margin;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = ChartCanvas.blank(image);
        ChartCanvas.heading(g, heading, caption, PAPER_SHAPE);
        int x0 = margin + axisW;
        double lo = Math.log(xs.first());
        double span = Math.max(1e-9, Math.log(xs.last()) - lo);
        java.util.function.IntUnaryOperator px = length -> xs.size() == 1 ? x0 + plotW / 2
                : x0 + 10 + (int) Math.round((plotW - 20) * (Math.log(length) - lo) / span);
        java.util.function.DoubleToIntFunction py = v -> top + (int) Math.round(plotH * (1 - v));
        for (int pct = 0; pct <= 100; pct += 20) {
            int y = py.applyAsInt(pct / 100.0);
            g.setColor(new Color(0xdddddd));
            g.drawLine(x0, y, x0 + plotW, y);
            g.setColor(Color.BLACK);
            String t = pct + "%";
            g.drawString(t, x0 - 6 - label.stringWidth(t), y + label.getAscent() / 2 - 1);
        }
        g.setColor(Color.GRAY);
        g.setStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {5f, 4f}, 0f));
        g.drawLine(x0, py.applyAsInt(1.0 / SortingTask.SYMBOLS), x0 + plotW, py.applyAsInt(1.0 / SortingTask.SYMBOLS));
        g.setStroke(new BasicStroke(1f));
        g.setColor(Color.BLACK);
        g.drawRect(x0, top, plotW, plotH);
        for (int length : xs) {
            String t = String.valueOf(length);
            int x = px.applyAsInt(length);
            g.drawLine(x, top + plotH, x, top + plotH + 4);
            g.drawString(t, x - label.stringWidth(t) / 2, top + plotH + 6 + label.getAscent());
        }
        String xAxis = "input length (symbols, log scale)";
        g.drawString(xAxis, x0 + (plotW - label.stringWidth(xAxis)) / 2, top + plotH + 8 + label.getHeight()
                + label.getAscent());
        for (int i = 0; i < results.size(); i++) {
            Result r = results.get(i);
            Color c = LINES[i % LINES.length];
            g.setColor(c);
            g.setStroke(new BasicStroke(2.5f));
            for (int li = 0; li < r.lengths().length; li++) {
                int x = px.applyAsInt(r.lengths()[li]);
                int y = py.applyAsInt(r.accuracy()[li]);
                g.fillOval(x - 4, y - 4, 8, 8);
                if (li > 0) {
                    g.drawLine(px.applyAsInt(r.lengths()[li - 1]), py.applyAsInt(r.accuracy()[li - 1]), x, y);
                }
            }
            int ly = top + 10 + i * (label.getHeight() + 6);
            int lx = x0 + plotW + 20;
            g.drawLine(lx, ly, lx + 20, ly);
            g.setColor(Color.BLACK);
            g.drawString(legend(r), lx + 26, ly + label.getAscent() / 2 - 1);
        }
        g.dispose();
        ChartCanvas.write(image, file);
    }

    private static String legend(Result r) {
        return r.model() + " (" + r.strategy() + (r.trainLength() > 0 ? ", L0 " + r.trainLength() : "") + ")";
    }
}
