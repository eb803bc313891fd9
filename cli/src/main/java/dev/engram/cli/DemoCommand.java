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
                "(a passkey planted near the start, middle or end of filler, asked for at the end). Prints accuracy,",
                "tokens/s and memory footprint per strategy and writes the same as a PNG chart.",
                "--long goes on to 64K tokens; --mechanisms runs the untrained mechanism comparison instead."})
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--models", paramLabel = "DIR", description = "Folder of model packages (default: the bundled models/).")
    Path models;

    @Option(names = "--trials", defaultValue = "20", description = "Trials per cell (default: ${DEFAULT-VALUE}).")
    int trials;

    @Option(names = "--lengths", split = ",", paramLabel = "N",
            description = "Context lengths in tokens (default: 512,2048,8192; with --long also 32768,65536)."
                    + " models/README.md gives each bundled model's training contexts.")
    int[] lengths;

    @Option(names = "--long", description = "The long version: up to 64K tokens (128x the training context).")
    boolean longRun;

    @Option(names = "--chart", defaultValue = "engram-demo.png", paramLabel = "FILE",
            description = "Where to write the PNG chart (default: ${DEFAULT-VALUE}).")
    Path chart;

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
            out.println("No bundled models in " + dir.toAbsolutePath() + "; running the mechanism comparison instead.");
            return new MechanismDemo(Math.max(1, trials / 2), longRun, seed, out).call();
        }
        int[] chosen = lengths != null ? lengths : longRun ? new int[] {512, 2048, 8192, 32768, 65536} : new int[] {512, 2048, 8192};
        for (int length : chosen) {
            if (length < 32) {
                throw InvalidInputException.outOfRange("--lengths", length, ">= 32 tokens");
            }
        }
        PasskeyDemo demo = new PasskeyDemo(packages, chosen, trials, 5, seed, out);
        List<PasskeyDemo.Result> results = demo.run();
        demo.print(results);
        dev.engram.cli.demo.AccuracyChart.write(chart, results);
        out.println("chart: " + chart.toAbsolutePath());
        return 0;
    }
}
