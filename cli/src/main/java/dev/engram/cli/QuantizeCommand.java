package dev.engram.cli;

import dev.engram.api.InvalidInputException;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code engram quantize}: a float package -> the same package with int8 or int4 weights, by
 * tools/engram_import/quantize.py (run as {@code engram import} runs its tool), then loaded once by the engine as a check.
 */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Write a copy of a model package whose weight matrices are int8 (per output column; activations"
                + " quantized per row at each call) or int4 (ONNX Runtime's MatMulNBits, per block of --block rows):"
                + " smaller and faster to decode; it runs wherever the float package runs (tools/engram_import/README.md,"
                + " \"Quantized packages\").")
final class QuantizeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "PKG", description = "The float package.")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "PKG", description = "The package directory to create (must not exist).")
    Path out;

    @Option(names = "--type", required = true, paramLabel = "TYPE", description = "int8 or int4.")
    String type;

    @Option(names = "--block", paramLabel = "N", description = "int4: rows of a weight column per scale and zero point,"
            + " a power of two >= 16 (default: the block the package was trained for, engram.json training.qatBlock, else 32).")
    Integer block;

    @Option(names = "--accuracy-level", paramLabel = "L", description = "int4: MatMulNBits accuracy_level, 4 (ONNX Runtime"
            + " quantizes the activations to int8 per block: the fast kernels; the default) or 0 (float32 activations).")
    Integer accuracyLevel;

    @picocli.CommandLine.Mixin
    CalibrationOptions calibration;

    @Option(names = "--calibration-ids", paramLabel = "FILE", description = "As --calibration, given as whitespace-separated token ids.")
    Path calibrationIds;

    @picocli.CommandLine.Mixin
    PythonOptions pythonOptions;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "3600", description = "Give up after this long (default: ${DEFAULT-VALUE}).")
    long timeout;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        List<String> args = new ArrayList<>(List.of("--from", model.toAbsolutePath().toString(),
                "--out", out.toAbsolutePath().toString(), "--type", type));
        if (block != null) {
            args.addAll(List.of("--block", block.toString()));
        }
        if (accuracyLevel != null) {
            args.addAll(List.of("--accuracy-level", accuracyLevel.toString()));
        }
        if (calibration.text != null && calibrationIds != null) {
            throw new InvalidInputException("--calibration", "and --calibration-ids exclude each other; give one");
        }
        if (calibrationIds != null) {
            UserFiles.input("--calibration-ids", calibrationIds);
            args.addAll(List.of("--calibration-ids", calibrationIds.toAbsolutePath().toString()));
        }
        try (CalibrationOptions.ToolArgs extra = calibration.toolArgs(this::floatTokenizer)) {
            args.addAll(extra.args());
            return ImportCommand.runPackageTool(spec, pythonOptions, "engram_import.quantize", args, "quantize", "quantized ", out, timeout);
        }
    }

    private Tokenizer floatTokenizer() {
        try (Engine engine = new EngineLoader().systemOverrides(false).load(model)) {
            return engine.tokenizer();
        }
    }
}
