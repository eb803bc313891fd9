package dev.engram.cli.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.InvalidInputException;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The Reformer paper's duplication experiment (arXiv 2001.04451 section 5, Table 2) as one of the demo's experiments:
 * one-layer models trained on {@code 0 w 0 w} (DuplicationTask) with full attention or with `lsh` attention at some
 * number of hash rounds, each `lsh` model evaluated with 1, 2, 4 and 8 rounds (the package's memory config with
 * {@code rounds} overridden at load), the full model with its own attention. The cell is the accuracy per token of the
 * second w, teacher-forced, over the same sequences in every cell.
 */
public final class DuplicationDemo implements Experiment {
    public static final String NAME = "duplication";
    static final int DEFAULT_TRIALS = 16;
    /** The evaluation columns after "full": hash rounds. */
    static final int[] EVAL_ROUNDS = {1, 2, 4, 8};
    /** Sequences per engine call. */
    static final int BATCH = 8;
    static final String PAPER_SHAPE = "The paper's shape (Table 2: 1 layer, d 256, 4 heads, N = 1024): full attention "
            + "copies about 100%; a model trained with LSH copies best when evaluated with the most rounds (8) and loses "
            + "accuracy as the evaluation uses fewer, most with 1; more rounds at evaluation never hurt.";
    static final String NOT_RUN = "-: not run. `lsh` reads shared QK (its keys are the normalised queries) and `full` "
            + "its own keys, so a model trained with one has no trained keys for the other (the paper's full model was "
            + "shared-QK, so it could swap).";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A package of this task: its attention ("full" or "lsh"), training rounds (0 for full) and sequence length. */
    public record Model(Path dir, String name, String attention, int trainRounds, int length) {
        String label() {
            return attention.equals("full") ? "full" : "lsh, " + trainRounds + (trainRounds == 1 ? " round" : " rounds");
        }
    }

    /**
     * One cell: {@code evalRounds} null = the model's own full attention; accuracy per token and the share of whole
     * copies right, as fractions.
     */
    public record Cell(Model model, Integer evalRounds, double accuracy, double exact, int trials) {
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Map<String, Object> run(List<Path> packages, Settings settings, Path chart, PrintWriter out)
            throws IOException {
        int trials = settings.trialsOr(DEFAULT_TRIALS);
        List<Model> models = new ArrayList<>();
        for (Path dir : packages) {
            models.add(model(dir));
        }
        models.sort(Comparator.comparing((Model m) -> !m.attention().equals("full")).thenComparingInt(Model::trainRounds)
                .thenComparing(Model::name));
        List<Cell> cells = evaluate(models, trials, settings.seed());
        print(cells, trials, settings.seed(), out);
        DuplicationChart.write(chart, cells, trials);
        return json(cells, trials, settings.seed());
    }

    /** Reads what the demo needs from a package's engram.json (written by train_duplication.py). */
    static Model model(Path dir) throws IOException {
        Path file = dir.resolve("engram.json");
        JsonNode manifest = JSON.readTree(file.toFile());
        JsonNode training = manifest.path("training");
        String attention = manifest.path("memory").path("layers").path("default").path("attention").path("provider").asText("");
        if (!attention.equals("full") && !attention.equals("lsh")) {
            throw new InvalidInputException("--models", file + ": memory.layers.default.attention.provider is '" + attention
                    + "'; the duplication experiment runs full or lsh models");
        }
        int length = training.path("length").asInt(0);
        if (length < 4 || length % 2 != 0) {
            throw new InvalidInputException("--models", file + ": training.length is " + training.path("length")
                    + "; valid: an even sequence length >= 4 (the 0 w 0 w the model was trained on)");
        }
        int rounds = attention.equals("lsh") ? training.path("rounds").asInt(0) : 0;
        if (attention.equals("lsh") && rounds < 1) {
            throw new InvalidInputException("--models", file + ": training.rounds is " + training.path("rounds")
                    + "; valid: the hash rounds the lsh model was trained with (>= 1)");
        }
        return new Model(dir, dir.getFileName().toString(), attention, rounds, length);
    }

    /** The random stream of trial {@code trial}: the same sequence for every model and every evaluation. */
    static SplittableRandom trialRandom(long seed, int trial) {
        return new SplittableRandom(seed * 1_000_003L + trial);
    }

    static List<Cell> evaluate(List<Model> models, int trials, long seed) {
        List<Cell> cells = new ArrayList<>();
        for (Model m : models) {
            if (m.attention().equals("full")) {
                cells.add(evaluate(m, null, trials, seed));
            } else {
                for (int rounds : EVAL_ROUNDS) {
                    cells.add(evaluate(m, rounds, trials, seed));
                }
            }
        }
        return cells;
    }

    /**
     * Runs {@code trials} sequences through the package, `lsh` with {@code rounds} rounds and rotations drawn from
     * {@code seed} (the provider's Well19937c stream), and scores the second w of each.
     */
    static Cell evaluate(Model m, Integer rounds, int trials, long seed) {
        long right = 0;
        int exact = 0;
        try (Engine engine = open(m, rounds, seed)) {
            for (int first = 0; first < trials; first += BATCH) {
                List<ModelSequence> sequences = new ArrayList<>();
                List<int[]> inputs = new ArrayList<>();
                for (int t = first; t < Math.min(trials, first + BATCH); t++) {
                    sequences.add(engine.newSequence());
                    inputs.add(DuplicationTask.sample(trialRandom(seed, t), m.length()));
                }
                List<float[][]> logits = engine.ingestAll(sequences, inputs);
                for (int b = 0; b < inputs.size(); b++) {
                    int c = DuplicationTask.correct(logits.get(b), inputs.get(b));
                    right += c;
                    exact += c == DuplicationTask.scored(m.length()) ? 1 : 0;
                }
            }
        }
        return new Cell(m, rounds, right / (double) ((long) trials * DuplicationTask.scored(m.length())),
                exact / (double) trials, trials);
    }

    /**
     * The package's engine, `lsh` with {@code rounds} rounds and rotation seed {@code seed} over the package's memory
     * config (config layering: these overrides win); null rounds: as packaged.
     */
    static Engine open(Model m, Integer rounds, long seed) {
        Map<List<String>, String> overrides = new LinkedHashMap<>();
        if (rounds != null) {
            overrides.put(List.of("layers", "default", "attention", "rounds"), String.valueOf(rounds));
            overrides.put(List.of("layers", "default", "attention", "seed"), String.valueOf(seed));
        }
        return new EngineLoader().systemOverrides(false).overrides(overrides).load(m.dir());
    }

    /** The paper's table: a row per trained model, a column per evaluation (full, then 1, 2, 4, 8 rounds). */
    static void print(List<Cell> cells, int trials, long seed, PrintWriter out) {
        out.println();
        out.printf(Locale.ROOT, "Duplication (Reformer, arXiv 2001.04451 section 5): 0 w 0 w, symbols 1..127. Accuracy per "
                + "token of the second w, teacher-forced (in brackets: whole copies right); %d sequences per cell, the "
                + "same in every cell; lsh rotations drawn from seed %d.%n", trials, seed);
        StringBuilder head = new StringBuilder("| trained with | model | N | eval: full |");
        StringBuilder rule = new StringBuilder("|---|---|---:|---:|");
        for (int r : EVAL_ROUNDS) {
            head.append(" lsh ").append(r).append(r == 1 ? " round |" : " rounds |");
            rule.append("---:|");
        }
        out.println(head);
        out.println(rule);
        boolean notRun = false;
        for (Model m : models(cells)) {
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %s | %d |", m.label(), m.name(),
                    m.length()));
            for (int col = -1; col < EVAL_ROUNDS.length; col++) {
                Cell c = cell(cells, m, col < 0 ? null : EVAL_ROUNDS[col]);
                notRun |= c == null;
                row.append(c == null ? " - |" : String.format(Locale.ROOT, " %s (%s) |", percent(c.accuracy()),
                        percent(c.exact())));
            }
            out.println(row);
        }
        if (notRun) {
            out.println(NOT_RUN);
        }
        out.println(PAPER_SHAPE);
    }

    /** 99.9% style: one decimal, so that the 99% and 95% targets can be read off. */
    static String percent(double v) {
        return String.format(Locale.ROOT, "%.1f%%", 100 * v);
    }

    static List<Model> models(List<Cell> cells) {
        List<Model> models = new ArrayList<>();
        for (Cell c : cells) {
            if (!models.contains(c.model())) {
                models.add(c.model());
            }
        }
        return models;
    }

    /** The cell of {@code model} evaluated with {@code rounds} (null = full), or null when it was not run. */
    static Cell cell(List<Cell> cells, Model model, Integer rounds) {
        for (Cell c : cells) {
            if (c.model().equals(model) && java.util.Objects.equals(c.evalRounds(), rounds)) {
                return c;
            }
        }
        return null;
    }

    /**
     * Issue 15's rows: model, strategy (the attention evaluated: full or lsh), tokens (N), train_tokens (N trained on),
     * rounds (evaluation rounds; null for full), accuracy (per token) and exact (whole copies), fractions in [0, 1];
     * plus train_rounds and trials.
     */
    static Map<String, Object> json(List<Cell> cells, int trials, long seed) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Cell c : cells) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("model", c.model().name());
            row.put("strategy", c.evalRounds() == null ? "full" : "lsh");
            row.put("tokens", c.model().length());
            row.put("train_tokens", c.model().length());
            row.put("rounds", c.evalRounds());
            row.put("accuracy", c.accuracy());
            row.put("exact", c.exact());
            row.put("train_rounds", c.model().trainRounds());
            row.put("trials", c.trials());
            rows.add(row);
        }
        Map<String, Object> experiment = new LinkedHashMap<>();
        experiment.put("name", NAME);
        experiment.put("trials", trials);
        experiment.put("seed", seed);
        experiment.put("rows", rows);
        return experiment;
    }
}
