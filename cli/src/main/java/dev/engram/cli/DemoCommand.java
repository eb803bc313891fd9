package dev.engram.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.engram.api.InvalidInputException;
import dev.engram.cli.demo.DuplicationDemo;
import dev.engram.cli.demo.Experiment;
import dev.engram.cli.demo.MechanismDemo;
import dev.engram.cli.demo.PasskeyExperiment;
import dev.engram.cli.demo.SortingExperiment;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"The main job: each source paper's own experiment with the bundled trained models, side by side.",
                "sorting (the infinity-former's sorting by frequency: per-position accuracy at 1, 2, 4, 8 times the training",
                "length), duplication (Reformer's 0 w 0 w copy: per-token accuracy, trained and evaluated with 1-8 hash",
                "rounds beside full attention), passkey (retrieval at growing context lengths, the passkey at depth 0, 0.25,",
                "0.5, 0.75, 0.9 of the filler or directly before the question: a heat map per model). Every experiment",
                "prints its table and writes its chart; --json writes all rows.",
                "--long takes passkey on to 64K tokens; --mechanisms runs the untrained mechanism comparison instead."})
final class DemoCommand implements Callable<Integer> {
    /** Every experiment, in the order they run; each runs on the packages whose manifest names its task. */
    static final List<Experiment> EXPERIMENTS = List.of(new SortingExperiment(), new DuplicationDemo(),
            new PasskeyExperiment());

    @Option(names = "--models", paramLabel = "DIR", description = "Folder of model packages (default: the bundled models/).")
    Path models;

    @Option(names = "--trials", paramLabel = "N", description = "Trials per cell (default: each experiment's own; passkey 20, duplication 16).")
    Integer trials;

    @Option(names = "--lengths", split = ",", paramLabel = "N",
            description = "passkey: context lengths in tokens (default: 512,2048,8192; with --long also 16384,32768,65536)."
                    + " models/README.md gives each bundled model's training contexts.")
    int[] lengths;

    @Option(names = "--long", description = "The long version: passkey from 512 tokens to 64K (16K and up are 16x or more the bundled models' training contexts).")
    boolean longRun;

    @Option(names = "--chart", defaultValue = "engram-demo.png", paramLabel = "FILE",
            description = "Where to write the passkey chart (PNG; default: ${DEFAULT-VALUE}); every other experiment's goes "
                    + "beside it, named after it (engram-demo-sorting.png, ...).")
    Path chart;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON: {\"experiments\": "
            + "[{\"name\": \"passkey\" | ..., \"rows\": [{model, strategy, tokens, train_tokens, accuracy, exact, ...}]}]}"
            + " (accuracy and exact as fractions 0..1; passkey rows add depth, duplication rows rounds).")
    Path json;

    @Option(names = "--only", split = ",", paramLabel = "NAME",
            description = "Run only these experiments (available: ${COMPLETION-CANDIDATES}).", completionCandidates = Names.class)
    List<String> only;

    @Option(names = "--mechanisms", description = "Compare the raw mechanisms on synthetic vectors (no trained models).")
    boolean mechanisms;

    @Option(names = "--no-progress", description = "No progress bar (on stderr), for logs and scripts.")
    boolean noProgress;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Spec
    CommandSpec spec;

    /** The experiments' names, for --only's help and its error message. */
    static final class Names extends ArrayList<String> {
        Names() {
            super(EXPERIMENTS.stream().map(Experiment::name).toList());
        }
    }

    @Override
    public Integer call() throws IOException {
        UserFiles.output("--chart", chart); // before the trials, not after them
        PrintWriter out = spec.commandLine().getOut();
        List<Experiment> chosen = chosenExperiments();
        if (trials != null && trials < 1) {
            throw InvalidInputException.outOfRange("--trials", trials, ">= 1");
        }
        if (mechanisms && json != null) {
            throw new InvalidInputException("--json", "the mechanism comparison (--mechanisms) writes no JSON; "
                    + "--json goes with the trained models' experiments");
        }
        int mechanismTrials = Math.max(1, (trials != null ? trials : 20) / 2);
        if (mechanisms) {
            return new MechanismDemo(mechanismTrials, longRun, seed, out, !noProgress).call();
        }
        if (lengths != null) {
            for (int length : lengths) {
                if (length < 32) {
                    throw InvalidInputException.outOfRange("--lengths", length, ">= 32 tokens");
                }
            }
        }
        Path dir = models != null ? models : Path.of(System.getProperty("engram.home", "."), "models");
        Map<String, List<Path>> byTask = packagesByTask(dir);
        if (byTask.isEmpty()) {
            if (models != null) {
                throw new InvalidInputException("--models", "no model package (a folder with engram.json) in "
                        + dir.toAbsolutePath());
            }
            if (json != null) {
                throw new InvalidInputException("--json", "no model package in " + dir.toAbsolutePath()
                        + ": the experiments need the bundled models (or --models DIR)");
            }
            out.println("No bundled models in " + dir.toAbsolutePath() + "; running the mechanism comparison instead.");
            return new MechanismDemo(mechanismTrials, longRun, seed, out, !noProgress).call();
        }
        Experiment.Settings settings = new Experiment.Settings(trials, lengths, longRun, seed, !noProgress);
        List<Map<String, Object>> results = new ArrayList<>();
        for (Experiment experiment : chosen) {
            List<Path> packages = byTask.getOrDefault(experiment.task(), List.of());
            if (packages.isEmpty()) {
                if (only != null) {
                    throw new InvalidInputException("--only", "experiment '" + experiment.name() + "' has no model "
                            + "package in " + dir.toAbsolutePath() + " (none whose manifest says training.task \""
                            + experiment.task() + "\")");
                }
                out.println(experiment.name() + ": no model package for it in " + dir.toAbsolutePath() + "; skipped.");
                continue;
            }
            Path experimentChart = chartFor(experiment);
            results.add(experiment.run(packages, settings, experimentChart, out));
            out.println("chart: " + experimentChart.toAbsolutePath());
        }
        if (json != null) {
            Path parent = json.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                    .writeValue(json.toFile(), Map.of("experiments", results));
            out.println("json: " + json.toAbsolutePath());
        }
        return 0;
    }

    private List<Experiment> chosenExperiments() {
        if (only == null) {
            return EXPERIMENTS;
        }
        List<String> names = new Names();
        for (String name : only) {
            if (!names.contains(name)) {
                throw new InvalidInputException("--only", "no experiment named '" + name + "'; available: " + names);
            }
        }
        return EXPERIMENTS.stream().filter(e -> only.contains(e.name())).toList();
    }

    /** The passkey chart is --chart itself; the others go beside it as STEM-NAME.png. */
    Path chartFor(Experiment experiment) {
        if (experiment.name().equals(PasskeyExperiment.NAME)) {
            return chart;
        }
        String file = chart.getFileName().toString();
        int dot = file.lastIndexOf('.');
        String stem = dot > 0 ? file.substring(0, dot) : file;
        return chart.resolveSibling(stem + "-" + experiment.name() + ".png");
    }

    private static Map<String, List<Path>> packagesByTask(Path dir) throws IOException {
        Map<String, List<Path>> byTask = new LinkedHashMap<>();
        List<Path> packages;
        try (Stream<Path> s = Files.isDirectory(dir) ? Files.list(dir) : Stream.empty()) {
            packages = s.filter(p -> Files.exists(p.resolve("engram.json"))).sorted().toList();
        }
        for (Path pkg : packages) {
            byTask.computeIfAbsent(Experiment.taskOf(pkg), t -> new ArrayList<>()).add(pkg);
        }
        return byTask;
    }
}
