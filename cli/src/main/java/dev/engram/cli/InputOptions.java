package dev.engram.cli;

import dev.engram.api.InvalidInputException;
import dev.engram.runtime.Engine;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Where the input tokens come from: text (tokenized with the package's tokenizer) or token ids. Exactly one. */
final class InputOptions {
    @Option(names = {"--input", "--text"}, paramLabel = "FILE", description = "Input as a UTF-8 text file, tokenized with the package's tokenizer.")
    Path input;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "Input as text, tokenized with the package's tokenizer.")
    String prompt;

    @Option(names = "--tokens", paramLabel = "IDS", split = ",", description = "Input as comma-separated token ids.")
    List<Integer> tokens;

    @Option(names = {"--token-file", "--file"}, paramLabel = "FILE", description = "Input as a file of whitespace-separated token ids.")
    Path tokenFile;

    @Option(names = "--random", paramLabel = "N", description = "Input as N seeded random token ids (a smoke or speed test).")
    Integer random;

    /**
     * For a text input, " (K unknown to the tokenizer: ...)" when the tokenizer mapped K of {@code ids} to its unknown
     * token, else "": words the vocabulary lacks are reported, not dropped silently.
     */
    String unknownNote(Engine engine, int[] ids) {
        int unknown = isText() ? engine.tokenizer().unknownTokens(ids) : 0;
        return unknown == 0 ? "" : " (" + unknown + " of them the tokenizer's unknown token: words outside its vocabulary)";
    }

    /** Whether the input is text (so output may be shown as text too). */
    boolean isText() {
        return input != null || prompt != null;
    }

    /**
     * @param addSpecialTokens let the tokenizer add its special tokens (e.g. a leading BOS); false when the text
     *                         continues a saved sequence
     */
    int[] tokens(Engine engine, boolean addSpecialTokens) throws IOException {
        int vocabSize = engine.vocabSize();
        int given = (tokens != null ? 1 : 0) + (tokenFile != null ? 1 : 0) + (random != null ? 1 : 0) + (input != null ? 1 : 0)
                + (prompt != null ? 1 : 0);
        if (given != 1) {
            throw new InvalidInputException("input", "give exactly one of --input, --prompt, --tokens, --token-file, --random");
        }
        UserFiles.input("--input", input);
        UserFiles.input("--token-file", tokenFile);
        if (isText()) {
            String text = prompt != null ? prompt : Files.readString(input, StandardCharsets.UTF_8);
            int[] ids = engine.tokenizer().encode(text, addSpecialTokens);
            if (ids.length == 0) {
                throw new InvalidInputException(prompt != null ? "--prompt" : "--input", "gives no tokens; give some text");
            }
            return ids;
        }
        List<Integer> ids = new ArrayList<>();
        if (tokens != null) {
            ids.addAll(tokens);
        } else if (tokenFile != null) {
            for (String part : Files.readString(tokenFile).trim().split("\\s+")) {
                if (!part.isEmpty()) {
                    try {
                        ids.add(Integer.parseInt(part));
                    } catch (NumberFormatException e) {
                        throw new InvalidInputException("--token-file", "holds '" + part + "'; valid: whitespace-separated token ids");
                    }
                }
            }
        } else {
            if (random < 1) {
                throw InvalidInputException.outOfRange("--random", random, ">= 1");
            }
            java.util.SplittableRandom r = new java.util.SplittableRandom(7);
            for (int i = 0; i < random; i++) {
                ids.add(r.nextInt(vocabSize));
            }
        }
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            int id = ids.get(i);
            if (id < 0 || id >= vocabSize) {
                throw InvalidInputException.outOfRange("token[" + i + "]", id, "[0, " + (vocabSize - 1) + "] (the model's vocabulary)");
            }
            out[i] = id;
        }
        if (out.length == 0) {
            throw new InvalidInputException("input", "is empty; give at least one token");
        }
        return out;
    }
}
