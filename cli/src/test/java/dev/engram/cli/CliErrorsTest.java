package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A user error is one line on stderr, "engram..." naming the option or file, never a Java stack trace; and an
 * output that cannot be written is refused before the work starts. One test per command.
 */
class CliErrorsTest {
    static final Path PASSKEY = Path.of("..", "models", "passkey-infini");

    @TempDir
    Path dir;

    /** Runs the command, checks it failed with exactly one line (warnings aside) containing every {@code expected}. */
    private static CliRun fails(List<String> args, String... expected) {
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertNotEquals(0, r.exit(), r.all());
        assertNotEquals(70, r.exit(), "an internal error, not a user error:\n" + r.all());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank() && !l.startsWith("warning: ")).toList();
        assertEquals(1, lines.size(), "one line:\n" + r.all());
        String line = lines.get(0);
        assertTrue(line.startsWith("engram"), line);
        assertFalse(line.contains("Exception") || r.err().contains("\tat "), "no Java exception shown:\n" + r.all());
        for (String e : expected) {
            assertTrue(line.contains(e), "'" + e + "' in: " + line);
        }
        return r;
    }

    private List<String> run(String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("run", "--model", PASSKEY.toString(), "--no-progress"));
        args.addAll(List.of(more));
        return args;
    }

    @Test
    void run() throws IOException {
        fails(run("--resume", dir.resolve("nope.bin").toString(), "--tokens", "1,2"), "--resume", "nope.bin", "does not exist");
        // The output is checked before the input is ingested: nothing is printed on stdout but what the error left.
        CliRun toDir = fails(run("--tokens", "1,2", "--save", dir.toString()), "--save", "is a directory");
        assertFalse(toDir.out().contains("ingested"), toDir.all());
        CliRun toProc = fails(run("--tokens", "1,2", "--save", "/proc/x.bin"), "--save", "/proc/x.bin", "cannot be written");
        assertFalse(toProc.out().contains("ingested"), toProc.all());
        CliRun logits = fails(run("--tokens", "1,2", "--logits-out", "/proc/l.npy"), "--logits-out", "cannot be written");
        assertFalse(logits.out().contains("ingested"), logits.all());
        fails(run("--input", dir.resolve("missing.txt").toString()), "--input", "does not exist");
        fails(run("--token-file", dir.toString()), "--token-file", "is a directory");
        Path junk = Files.writeString(dir.resolve("junk.snap"), "not a snapshot");
        fails(run("--resume", junk.toString(), "--tokens", "1,2"), "snapshot");
        fails(run("--tokns", "1,2"), "--tokns", "--help");
        fails(run("--tokens", "1,x"), "--tokens");
        fails(run("--tokens", "1,99"), "token[1]", "99");
        fails(List.of("run", "--model", dir.resolve("nope").toString(), "--tokens", "1"), "nope");
    }

    @Test
    void generate() throws IOException {
        List<String> base = List.of("generate", "--model", PASSKEY.toString(), "--tokens", "1,2", "--max-tokens", "2");
        fails(concat(base, "--resume", dir.resolve("nope.bin").toString()), "--resume", "does not exist");
        fails(concat(base, "--save", dir.toString()), "--save", "is a directory");
        fails(concat(base, "--save", "/proc/x.bin"), "--save", "cannot be written");
        fails(concat(base, "--max-tokens", "-1"), "max");
        fails(concat(base, "--device", "tpu"), "--device", "tpu", "cpu or cuda");
    }

    @Test
    void inspect() {
        fails(List.of("inspect", "--model", dir.resolve("nope").toString()), "nope");
        fails(List.of("inspect", "--model", PASSKEY.toString(), "--config", dir.resolve("c.yaml").toString()), "c.yaml");
    }

    @Test
    void plan() {
        fails(List.of("plan", "--config", dir.resolve("c.yaml").toString()), "c.yaml");
    }

    @Test
    void conformance() {
        fails(List.of("conformance", dir.resolve("none.json").toString()), "none.json");
        fails(List.of("conformance", "--emit", dir.toString(), dir.resolve("none.json").toString()), "--emit", "is a directory");
    }

    @Test
    void bench() throws IOException {
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        fails(List.of("bench", "--quick", "--out", file.toString()), "--out", "is a file");
        fails(List.of("bench", "--quick", "--out", "/proc/bench-out"), "--out", "cannot be written");
    }

    @Test
    void serve() {
        fails(List.of("serve", "--model", dir.resolve("nope").toString(), "--data-dir", dir.resolve("d").toString(), "--port", "0"),
                "nope");
        fails(List.of("serve", "--model", PASSKEY.toString(), "--data-dir", "/proc/engram-data", "--port", "0"), "/proc/engram-data");
    }

    @Test
    void demo() {
        fails(List.of("demo", "--chart", dir.toString()), "--chart", "is a directory");
    }

    @Test
    void aTextInputReportsWordsOutsideTheVocabulary() {
        // "cat" and "dog" are not in the passkey vocabulary (tools/engram_model/passkey.py): two unknown tokens.
        CliRun r = CliRun.of("run", "--model", PASSKEY.toString(), "--no-progress", "--prompt", "the cat is dog .");
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.out().contains("input: 5 tokens (2 of them the tokenizer's unknown token"), r.out());
        CliRun known = CliRun.of("run", "--model", PASSKEY.toString(), "--no-progress", "--prompt", "the sky is blue .");
        assertTrue(known.out().contains("input: 5 tokens; "), known.out());
    }

    private static List<String> concat(List<String> a, String... b) {
        List<String> all = new java.util.ArrayList<>(a);
        all.addAll(List.of(b));
        return all;
    }
}
