package dev.engram.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.InvalidInputException;
import dev.engram.cli.bench.PythonTools;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.text.Tokenizer;
import dev.engram.runtime.text.Tokenizers;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code engram import}: a pretrained checkpoint in the Hugging Face layout -> an Engram package, by
 * tools/engram_import (Python + torch + onnx, run as {@code engram bench} runs its tools), then loaded once by the
 * engine as a check.
 */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Import a pretrained checkpoint (config.json, model.safetensors or a sharded index, tokenizer.json;"
                + " model_type gpt2, llama, mistral or qwen2) as an Engram package that runs it exactly;"
                + " --memory adds a long-term memory that contributes nothing until fine-tuned (tools/engram_import/README.md).")
final class ImportCommand implements Callable<Integer> {
    @Option(names = "--hf", required = true, paramLabel = "DIR", description = "The checkpoint directory.")
    Path hf;

    @Option(names = "--out", required = true, paramLabel = "PKG", description = "The package directory to create (must not exist).")
    Path out;

    @Option(names = "--memory", paramLabel = "NAME", description = "infini, lsh-knn or continuous: added with its gates closed"
            + " (outputs unchanged until trained).")
    String memory;

    @Option(names = "--layers", paramLabel = "RANGE", description = "The layers that get the memory: 'i' or 'a-b' inclusive (default: all).")
    String layers;

    @Option(names = "--segment", paramLabel = "N", description = "Segment length of the package (default: min(256, the model's positions)).")
    Integer segment;

    @Option(names = "--name", description = "Package name (default: the --out folder's name).")
    String name;

    @picocli.CommandLine.Mixin
    PythonOptions pythonOptions;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "3600", description = "Give up after this long (default: ${DEFAULT-VALUE}).")
    long timeout;

    @Spec
    CommandSpec spec;

    @Option(names = "--quantize", paramLabel = "TYPE", description = "int8 or int4: write the package with quantized weights"
            + " (as engram quantize does; tools/engram_import/README.md, \"Quantized packages\").")
    String quantize;

    @picocli.CommandLine.Mixin
    CalibrationOptions calibration;

    @Override
    public Integer call() throws IOException {
        List<String> args = new ArrayList<>(List.of("--hf", hf.toAbsolutePath().toString(), "--out", out.toAbsolutePath().toString()));
        if (memory != null) {
            args.addAll(List.of("--memory", memory));
        }
        if (layers != null) {
            args.addAll(List.of("--layers", layers));
        }
        if (segment != null) {
            args.addAll(List.of("--segment", segment.toString()));
        }
        if (name != null) {
            args.addAll(List.of("--name", name));
        }
        if (quantize != null) {
            args.addAll(List.of("--quantize", quantize));
        }
        if (calibration.given() && quantize == null) {
            throw new InvalidInputException(calibration.text != null ? "--calibration" : "--calibration-length",
                    "is for --quantize (the codes of quantized weights); give --quantize int8 or int4 too");
        }
        try (CalibrationOptions.ToolArgs extra = calibration.toolArgs(this::checkpointTokenizer)) {
            args.addAll(extra.args());
            return runPackageTool(spec, pythonOptions, "engram_import", args, "import", "imported ", out, timeout);
        }
    }

    /** The checkpoint's tokenizer.json (or the byte fallback without one), as the imported package will have it. */
    private Tokenizer checkpointTokenizer() throws IOException {
        Path config = hf.resolve("config.json");
        UserFiles.input("--hf config.json", config);
        JsonNode vocab = new ObjectMapper().readTree(config.toFile()).path("vocab_size");
        if (!vocab.canConvertToInt() || vocab.asInt() < 1) {
            throw new InvalidInputException("--hf " + config, "'vocab_size' is " + vocab + "; valid: a number of tokens >= 1");
        }
        Path file = hf.resolve("tokenizer.json");
        List<String> problems = new ArrayList<>();
        Tokenizer t = Tokenizers.forPackage(Files.isRegularFile(file) ? Optional.of(file) : Optional.empty(), "tokenizer.json",
                vocab.asInt(), problems, new ArrayList<>());
        if (t == null) {
            throw new InvalidInputException("--hf " + file, String.join("; ", problems));
        }
        return t;
    }

    /**
     * Runs the Python module that writes the package {@code out} (its output lines shown indented, except a refusal
     * "engram NAME: ..." and the summary line starting with {@code summaryPrefix}, which are printed as one line each),
     * then loads the package once with the engine as a check. 0 on success, 2 when refused or failed.
     */
    static int runPackageTool(CommandSpec spec, PythonOptions pythonOptions, String module, List<String> args, String name,
                              String summaryPrefix, Path out, long timeout) throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        String refusal = "engram " + name + ": ";
        List<String> refused = new ArrayList<>();
        PythonTools pyTools = pythonOptions.tools(line -> {
            if (line.startsWith(refusal)) {
                refused.add(line.substring(refusal.length()));
            } else if (!line.startsWith(summaryPrefix)) { // the summary, printed to stdout below
                err.println("  | " + line);
                err.flush();
            }
        });
        var why = pythonOptions.tools(line -> { }).unavailable();
        if (why.isPresent()) {
            err.println("engram: " + name + " needs Python with torch and onnx: " + why.get());
            return 2;
        }
        PythonTools.Result r;
        try {
            r = pyTools.module(module, args, timeout);
        } catch (IOException e) {
            err.println("engram: " + name + " failed: " + e.getMessage());
            return 2;
        }
        if (r.exit() != 0) {
            err.println("engram: " + (refused.isEmpty() ? "tools/" + module.replace('.', '/') + " failed (exit " + r.exit()
                    + "); its output is above" : String.join("; ", refused)));
            return 2;
        }
        String summary = r.output().strip();
        stdout.println(summary.substring(summary.lastIndexOf('\n') + 1));
        try (Engine engine = new EngineLoader().systemOverrides(false).load(out)) {
            Map<String, Object> q = engine.manifest().quantization();
            stdout.printf("checked: the package loads (%s; tokenizer: %s%s)%n", engine.manifest().describePositional(),
                    engine.tokenizer().description(), q.isEmpty() ? "" : "; weights " + q.get("type"));
        }
        return 0;
    }
}
