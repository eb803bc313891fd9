package dev.engram.cli;

import dev.engram.api.InvalidInputException;
import dev.engram.runtime.text.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import picocli.CommandLine.Option;

/**
 * The calibration text for GPTQ codes ({@code engram quantize}, {@code engram import --quantize}): tokenized in Java
 * with the model's own tokenizer and handed to tools/engram_import (gptq.py) as a temporary file of token ids.
 */
final class CalibrationOptions {
    @Option(names = "--calibration", paramLabel = "FILE", description = "UTF-8 text like the model's own input (a few"
            + " thousand tokens), tokenized with the model's tokenizer: the quantized codes are then chosen by GPTQ, so"
            + " that each weight's output on that text changes least (tools/engram_import/gptq.py), instead of the"
            + " nearest codes. For checkpoints trained in float; a model fine-tuned for the nearest codes (--qat) can lose.")
    Path text;

    @Option(names = "--calibration-length", paramLabel = "N", description = "Tokens per calibration sequence (default: 4 segments).")
    Integer length;

    /** Whether either option was given. */
    boolean given() {
        return text != null || length != null;
    }

    /** Where the model's tokenizer comes from; asked only when a text is given (loading it may cost a model load). */
    interface TokenizerSource {
        Tokenizer tokenizer() throws IOException;
    }

    /** The tool's arguments for these options; closing deletes the text's temporary ids file. */
    record ToolArgs(List<String> args, Path idsFile) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            if (idsFile != null) {
                Files.deleteIfExists(idsFile);
            }
        }
    }

    ToolArgs toolArgs(TokenizerSource source) throws IOException {
        List<String> args = new ArrayList<>();
        if (length != null) {
            args.addAll(List.of("--calibration-length", length.toString()));
        }
        if (text == null) {
            return new ToolArgs(args, null);
        }
        UserFiles.input("--calibration", text);
        int[] ids = source.tokenizer().encode(Files.readString(text, StandardCharsets.UTF_8), true);
        if (ids.length < 2) {
            throw new InvalidInputException("--calibration", "gives " + ids.length + " tokens; give a text of at least 2 (a few thousand is typical)");
        }
        Path file = Files.createTempFile("engram-calibration-", ".ids.txt");
        Files.writeString(file, Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        args.addAll(List.of("--calibration-ids", file.toString(), "--calibration-source", text.toString()));
        return new ToolArgs(args, file);
    }
}
