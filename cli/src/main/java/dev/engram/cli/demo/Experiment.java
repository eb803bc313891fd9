package dev.engram.cli.demo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.InvalidInputException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One of `engram demo`'s experiments (passkey, sorting, duplication): it runs on the bundled packages trained for its
 * task, prints its table, draws its chart and gives its part of the --json file.
 */
public interface Experiment {
    /** The name `--only` takes and the JSON's {@code "name"}. */
    String name();

    /**
     * The task of the packages it runs on: a package's manifest says its task in {@code training.task} (train.py and
     * the other training scripts write it); a package with none is a passkey model, as every package was before the
     * other experiments.
     */
    default String task() {
        return name();
    }

    /**
     * Runs on {@code packages} (all of this experiment's task, sorted by name), prints the table(s) to {@code out},
     * writes its chart to {@code chart}, and returns its JSON object: {@code {"name": name(), "rows": [...], ...}}.
     */
    Map<String, Object> run(List<Path> packages, Settings settings, Path chart, PrintWriter out) throws IOException;

    /**
     * What the user set on the command line; {@code trials} is null where the user left each experiment its own
     * default, {@code lengths} null likewise; {@code progress} false for --no-progress.
     */
    record Settings(Integer trials, int[] lengths, boolean longRun, long seed, boolean progress) {
        /** The user's --trials, else the experiment's own default. */
        int trialsOr(int experimentDefault) {
            return trials != null ? trials : experimentDefault;
        }
    }

    /** The task a package was trained for, from its manifest; "passkey" when it says none. */
    static String taskOf(Path pkg) throws IOException {
        Path manifest = pkg.resolve("engram.json");
        try {
            return new ObjectMapper().readTree(manifest.toFile()).path("training").path("task").asText("passkey");
        } catch (JsonProcessingException e) {
            throw new InvalidInputException("--models", manifest + " is not a JSON manifest ("
                    + e.getOriginalMessage() + ")");
        }
    }
}
