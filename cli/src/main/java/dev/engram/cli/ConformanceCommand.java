package dev.engram.cli;

import dev.engram.conformance.CaseResult;
import dev.engram.conformance.ConformanceCase;
import dev.engram.conformance.ConformanceRunner;
import dev.engram.conformance.MalformedCaseException;
import dev.engram.api.EngramException;
import dev.engram.api.SnapshotFiles;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "conformance", mixinStandardHelpOptions = true,
        description = {"Check attention and memory providers against conformance cases (docs/conformance.md).",
                "Prints one line per case and exits 1 when any case fails or cannot be run."})
final class ConformanceCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "CASE", description = "Case files, or folders searched for *.json.")
    List<Path> cases;

    @Option(names = "--emit", paramLabel = "OUT.json",
            description = "Run one case and write it with 'expected' replaced by what the provider produced.")
    Path emit;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        UserFiles.output("--emit", emit);
        ConformanceRunner runner = new ConformanceRunner(dev.engram.runtime.EngineFactory.create().registry());
        List<Path> files = expand(cases);
        if (emit != null) {
            if (files.size() != 1) {
                err.println("engram conformance: --emit takes exactly one case; got " + files.size());
                return 2;
            }
            Path file = files.get(0);
            try {
                ConformanceCase c = ConformanceCase.parse(file.getFileName().toString(), Files.readString(file));
                SnapshotFiles.writeAtomically(emit, runner.emit(c).getBytes(StandardCharsets.UTF_8));
                out.println("wrote " + emit);
                return 0;
            } catch (EngramException e) {
                err.println("ERROR " + file.getFileName() + ": " + e.getMessage());
                return 1;
            }
        }
        if (files.isEmpty()) {
            err.println("engram conformance: no *.json case found in " + cases);
            return 2;
        }
        int failed = 0;
        for (Path file : files) {
            CaseResult r = runner.check(file);
            out.println(r.summaryLine());
            for (String f : r.failures()) {
                out.println("    " + f);
            }
            if (!r.passed()) {
                failed++;
            }
        }
        out.println((files.size() - failed) + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    private static List<Path> expand(List<Path> paths) throws IOException {
        List<Path> files = new ArrayList<>();
        for (Path p : paths) {
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.walk(p)) {
                    s.filter(f -> f.toString().endsWith(".json")).sorted().forEach(files::add);
                }
            } else if (!Files.exists(p)) {
                throw new MalformedCaseException(p + ": no such file");
            } else {
                files.add(p);
            }
        }
        return files;
    }
}
