package dev.engram.cli;

import dev.engram.api.InvalidInputException;
import dev.engram.runtime.text.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * A calibration text for GPTQ ({@code engram quantize --calibration}, {@code engram import --quantize ... --calibration}),
 * tokenized in Java with the model's own tokenizer and handed to tools/engram_import as a temporary file of token ids.
 */
final class CalibrationText {
    private CalibrationText() {
    }

    /** The ids of {@code text} (named {@code option} in messages) in a new temporary file; the caller deletes it. */
    static Path idsFile(String option, Path text, Tokenizer tokenizer) throws IOException {
        UserFiles.input(option, text);
        int[] ids = tokenizer.encode(Files.readString(text, StandardCharsets.UTF_8), true);
        if (ids.length < 2) {
            throw new InvalidInputException(option, "gives " + ids.length + " tokens; give a text of at least 2 (a few thousand is typical)");
        }
        Path file = Files.createTempFile("engram-calibration-", ".ids.txt");
        Files.writeString(file, Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        return file;
    }
}
