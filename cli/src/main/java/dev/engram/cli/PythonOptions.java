package dev.engram.cli;

import dev.engram.cli.bench.PythonTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import picocli.CommandLine.Option;

/** --python and --tools, for the commands that run the repository's Python tools (bench, import). */
final class PythonOptions {
    @Option(names = "--python", paramLabel = "EXE", description = "Python with torch and onnx (default: /usr/bin/python3 if present, else python3).")
    String python;

    @Option(names = "--tools", paramLabel = "DIR", description = "The repository's tools/ folder (default: found above the working directory).")
    Path tools;

    /** The tools, each output line of a Python process passed to {@code log}. */
    PythonTools tools(Consumer<String> log) {
        String py = python != null ? python : Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
        Path toolsDir = tools != null ? tools : PythonTools.findTools(Path.of("")).orElse(null);
        return new PythonTools(py, toolsDir, log);
    }
}
