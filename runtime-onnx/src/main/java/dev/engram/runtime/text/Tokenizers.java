package dev.engram.runtime.text;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** The tokenizer of a model package: its {@code tokenizer.json}, or the {@link ByteTokenizer} fallback without one. */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * @param file      the package's tokenizer file, if the manifest names one
     * @param name      the file's name for messages (as the manifest gives it)
     * @param vocabSize the model's vocabulary size: every id the tokenizer can produce must be below it
     * @return null if there were problems (added to {@code problems})
     */
    public static Tokenizer forPackage(Optional<Path> file, String name, int vocabSize, List<String> problems,
                                       List<String> warnings) {
        if (file.isEmpty()) {
            return new ByteTokenizer(vocabSize);
        }
        Tokenizer t = TokenizerJson.read(file.get(), name, problems, warnings);
        if (t == null) {
            return null;
        }
        HfTokenizer h = (HfTokenizer) t;
        String valid = "the model's vocabulary is " + vocabSize + " (engram.json architecture.vocabSize), so valid ids are 0 to "
                + (vocabSize - 1);
        int before = problems.size();
        if (t.vocabSize() > vocabSize) {
            problems.add(name + ": has token ids up to " + h.maxId() + " ('" + h.tokenString(h.maxId()) + "'); " + valid);
        }
        new java.util.TreeMap<>(h.postProcessorIds()).forEach((field, id) -> {
            if (id >= vocabSize) {
                problems.add(name + ": '" + field + "' is " + id + "; " + valid);
            }
        });
        return problems.size() > before ? null : t;
    }
}
