package dev.engram.cli;

import dev.engram.api.InvalidInputException;
import dev.engram.cli.demo.MechanismDemo;
import dev.engram.cli.demo.PasskeyDemo;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"The main job: passkey retrieval at growing context lengths with the bundled trained models",
                "(a passkey planted at depth 0, 0.25, 0.5, 0.75, 0.9 of the filler or directly before the question,",
                "asked for at the end). Prints exact match by length and depth, digit accuracy, tokens/s and memory",
                "footprint per model, writes a heat map (length x depth) per model as a PNG, and with --json the rows.",
                "--long goes on to 64K tokens; --mechanisms runs the untrained mechanism comparison instead."})
final class DemoCommand implements Callable<Integer> {
    static final String PASSKEY = "passkey";
    static final List<String> EXPERIMENTS = List.of(PASSKEY);

    @Option(names = "--models", paramLabel = "DIR", description = "Folder of model packages (default: the bundled models/).")
    Path models;

    @Option(names = "--trials", defaultValue = "20", description = "Trials per cell (default: ${DEFAULT-VALUE}).")
    int trials;

    @Option(names = "--lengths", split = ",", paramLabel = "N",
            description = "Context lengths in tokens (default: 512,2048,8192; with --long also 16384,32768,65536)."
                    + " models/README.md gives each bundled model's training contexts.")
    int[] lengths;

    @Option(names = "--long", description = "The long version: 512 tokens to 64K (16K and up are 16x or more the bundled models' training contexts).")
    boolean longRun;

    @Option(names = "--chart", defaultValue = "engram-demo.png", paramLabel = "FILE",
            description = "Where to write the PNG chart (default: ${DEFAULT-VALUE}).")
    Path chart;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON: {\"experiments\": "
            + "[{\"name\": \"passkey\", \"rows\": [{model, strategy, tokens, train_tokens, depth, accuracy (per digit), "
            + "exact (whole passkey), ...}]}]} (fractions 0..1).")
    Path json;

    @Option(names = "--only", split = ",", paramLabel = "NAME",
            description = "Run only these experiments (available: " + PASSKEY + ").")
    List<String> only;

    @Option(names = "--mechanisms", description = "Compare the raw mechanisms on synthetic vectors (no trained models).")
    boolean mechanisms;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        UserFiles.output("--chart", chart); // before the trials, not after them
        PrintWriter out = spec.commandLine().getOut();
        if (only != null) {
            for (String name : only) {
                if (!EXPERIMENTS.contains(name)) {
                    throw new InvalidInputException("--only", "no experiment named '" + name + "'; available: " + EXPERIMENTS);
                }
            }
        }
        if (trials < 1) {
            throw InvalidInputException.outOfRange("--trials", trials, ">= 1");
        }
        if (mechanisms && json != null) {
            throw new InvalidInputException("--json", "the mechanism comparison (--mechanisms) writes no JSON; "
                    + "--json goes with the passkey experiment");
        }
        if (mechanisms) {
            return new MechanismDemo(Math.max(1, trials / 2), longRun, seed, out).call();
        }
        Path dir = models != null ? models : Path.of(System.getProperty("engram.home", "."), "models");
        List<Path> packages;
        try (Stream<Path> s = Files.isDirectory(dir) ? Files.list(dir) : Stream.empty()) {
            packages = s.filter(p -> Files.exists(p.resolve("engram.json"))).sorted().toList();
        }
        if (packages.isEmpty()) {
            if (models != null) {
                throw new InvalidInputException("--models", "no model package (a folder with engram.json) in "
                        + dir.toAbsolutePath());
            }
            if (json != null) {
                throw new InvalidInputException("--json", "no model package in " + dir.toAbsolutePath()
                        + ": the passkey experiment needs the bundled models (or --models DIR)");
            }
            out.println("No bundled models in " + dir.toAbsolutePath() + "; running the mechanism comparison instead.");
            return new MechanismDemo(Math.max(1, trials / 2), longRun, seed, out).call();
        }
        int[] chosen = lengths != null ? lengths : longRun ? new int[] {512, 2048, 8192, 16384, 32768, 65536} : new int[] {512, 2048, 8192};
        for (int length : chosen) {
            if (length < 32) {
                throw InvalidInputException.outOfRange("--lengths", length, ">= 32 tokens");
            }
        }
        PasskeyDemo demo = new PasskeyDemo(packages, chosen, trials, 5, seed, out);
        List<PasskeyDemo.Result> results = demo.run();
        demo.print(results);
        dev.engram.cli.demo.AccuracyChart.write(chart, results, trials);
        out.println("chart: " + chart.toAbsolutePath());
        if (json != null) {
            demo.writeJson(json, results);
            out.println("json: " + json.toAbsolutePath());
        }
        return 0;
    }
}
