package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.runtime.text.Tokenizer;
import dev.engram.runtime.text.TokenizerJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** engram run / generate / inspect with text, a tokenizer.json, sampling options, stops and --memory. */
class TextCommandsTest {
    static final Path TINY = Path.of("..", "runtime-onnx", "src", "test", "resources", "models", "tiny");
    /** WordLevel over the tiny model's 16 ids, with a template that puts <s> first. */
    static final String WORDS = """
            {"version": "1.0", "truncation": null, "padding": null,
             "added_tokens": [
               {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
               {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
             "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
             "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
             "decoder": null,
             "model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {"<unk>": 0, "<s>": 1, "a": 2, "b": 3, "c": 4, "d": 5,
                 "e": 6, "f": 7, "g": 8, "h": 9, "i": 10, "j": 11, "k": 12, "l": 13, "m": 14, ".": 15}}}
            """;

    @TempDir
    static Path dir;
    static Path withTokenizer;
    static Path text;

    @BeforeAll
    static void packages() throws IOException {
        withTokenizer = dir.resolve("tiny-words");
        Files.createDirectories(withTokenizer);
        try (Stream<Path> files = Files.list(TINY)) {
            for (Path f : files.toList()) {
                Files.copy(f, withTokenizer.resolve(f.getFileName()));
            }
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode manifest = (ObjectNode) json.readTree(withTokenizer.resolve("engram.json").toFile());
        ((ObjectNode) manifest.get("files")).put("tokenizer", "tokenizer.json");
        Files.writeString(withTokenizer.resolve("engram.json"), manifest.toPrettyString());
        Files.writeString(withTokenizer.resolve("tokenizer.json"), WORDS);
        text = dir.resolve("text.txt");
        Files.writeString(text, "a b c d . e f g h . i j k l . m a b c d e f");  // 22 words
    }

    /** The tiny package's own config names a test-only memory; every command here picks the strategy with --memory. */
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    private static Tokenizer words() {
        return TokenizerJson.read(withTokenizer.resolve("tokenizer.json"));
    }

    private static int[] ids(String out) {
        return Arrays.stream(out.trim().split(" ")).mapToInt(Integer::parseInt).toArray();
    }

    @Test
    void runTokenizesATextFileShowsProgressAndReportsSpeedAndMemory() {
        CliRun r = run("run", "--model", withTokenizer.toString(), "--memory", "window", "--input", text.toString());
        assertEquals(0, r.exit(), r.all());
        // 22 words + the template's <s> = 23 tokens = 5 segments of 4 + 3
        assertTrue(r.out().contains("tokenizer: tokenizer.json: WordLevel (16 tokens"), r.all());
        assertTrue(r.out().contains("input: 23 tokens; segment length 4: 5 complete segments + a partial one"), r.all());
        assertTrue(r.err().contains("ingest 100%"), "progress bar on stderr:\n" + r.all());
        assertTrue(r.err().contains("segment 5/5"), "per-segment progress:\n" + r.all());
        assertTrue(r.out().matches("(?s).*ingested 23 tokens in [0-9.]+ s \\([0-9]+ tokens/s\\); 5 segments; position 23\n.*"), r.all());
        assertTrue(r.out().matches("(?s).*memory state [0-9.]+ MiB \\([0-9]+ bytes\\), JVM heap [0-9.]+ MiB \\(after GC\\), process RSS [0-9.]+ MiB\n.*"),
                r.all());
        // candidates show the token text
        assertTrue(Pattern.compile("next token candidates: \\d+ \"[^\"]+\" \\(").matcher(r.out()).find(), r.all());
        CliRun quiet = run("run", "--model", withTokenizer.toString(), "--memory", "window", "--input", text.toString(), "--no-progress");
        assertFalse(quiet.err().contains("ingest"), quiet.all());
    }

    @Test
    void textAndTheSameTokenIdsGiveTheSameResult() {
        int[] ids = words().encode("a b c d . e f g h . i j k l . m a b c d e f");
        String csv = String.join(",", Arrays.stream(ids).mapToObj(Integer::toString).toList());
        CliRun fromText = run("run", "--model", withTokenizer.toString(), "--memory", "window", "--input", text.toString(), "--no-progress");
        CliRun fromIds = run("run", "--model", withTokenizer.toString(), "--memory", "window", "--tokens", csv, "--no-progress");
        assertEquals(candidates(fromText.out()), candidates(fromIds.out()));
        // without a tokenizer.json: the byte fallback, byte mod 16 for this 16-token model
        CliRun bytes = run("run", "--model", TINY.toString(), "--memory", "window", "--prompt", "AB", "--no-progress");
        CliRun same = run("run", "--model", TINY.toString(), "--memory", "window", "--tokens", ('A' % 16) + "," + ('B' % 16), "--no-progress");
        assertEquals(0, bytes.exit(), bytes.all());
        assertTrue(bytes.out().contains("byte fallback"), bytes.all());
        assertEquals(candidates(same.out()), candidates(bytes.out()));
    }

    @Test
    void aResumedTextGetsNoSecondLeadingSpecialToken() throws IOException {
        Path snap = dir.resolve("seq.snap");
        CliRun first = run("run", "--model", withTokenizer.toString(), "--memory", "window", "--prompt", "a b c", "--save", snap.toString(),
                "--no-progress");
        assertTrue(first.out().contains("input: 4 tokens"), first.all()); // <s> a b c
        CliRun second = run("run", "--model", withTokenizer.toString(), "--memory", "window", "--prompt", "d e", "--resume", snap.toString(),
                "--no-progress");
        assertTrue(second.out().contains("input: 2 tokens"), second.all());
        assertTrue(second.out().contains("position 6"), second.all());
        CliRun oneShot = run("run", "--model", withTokenizer.toString(), "--memory", "window", "--prompt", "a b c d e", "--no-progress");
        assertEquals(candidates(oneShot.out()), candidates(second.out()));
    }

    private static String candidates(String out) {
        return out.lines().filter(l -> l.startsWith("next token candidates")).findFirst().orElseThrow();
    }

    @Test
    void generateStreamsTheDecodedTextOfTheTokensItGenerates() {
        String[] base = {"generate", "--model", withTokenizer.toString(), "--memory", "window", "--prompt", "a b c", "--max-tokens", "8"};
        CliRun ids = run(concat(base, "--ids"));
        CliRun textOut = run(base);
        assertEquals(0, ids.exit(), ids.all());
        assertEquals(0, textOut.exit(), textOut.all());
        int[] generated = ids(ids.out());
        assertEquals(8, generated.length, ids.all());
        assertEquals(words().decode(generated) + "\n", textOut.out(), "streamed text = the decoded ids");
        assertTrue(textOut.err().contains("generated 8 tokens"), textOut.all());
        assertTrue(textOut.err().contains("stopped by max tokens"), textOut.all());
        assertTrue(textOut.err().contains("memory state"), textOut.all());
    }

    @Test
    void stopTextAndStopTokensEndGeneration() {
        String[] base = {"generate", "--model", withTokenizer.toString(), "--memory", "window", "--prompt", "a b c", "--max-tokens", "8"};
        int[] all = ids(run(concat(base, "--ids")).out());
        int at = 1;
        while (at < all.length && contains(Arrays.copyOf(all, at), all[at])) {
            at++;
        }
        assertTrue(at < all.length, "the test needs a token that first appears after the start: " + Arrays.toString(all));
        Tokenizer t = words();
        // --stop-token: generation ends before emitting it
        CliRun byToken = run(concat(base, "--ids", "--stop-token", Integer.toString(all[at])));
        assertEquals(Arrays.toString(Arrays.copyOf(all, at)), Arrays.toString(ids(byToken.out())), byToken.all());
        assertTrue(byToken.err().contains("stopped by stop token"), byToken.all());
        // --stop: the text before the stop string, which is not printed
        String stopWord = t.decode(new int[] {all[at]});
        String full = t.decode(all);
        int cut = full.indexOf(stopWord);
        CliRun byText = run(concat(base, "--stop", stopWord));
        assertEquals(0, byText.exit(), byText.all());
        assertEquals(full.substring(0, cut) + "\n", byText.out(), byText.all());
        assertTrue(byText.err().contains("stopped by stop text"), byText.all());
    }

    private static boolean contains(int[] a, int x) {
        return Arrays.stream(a).anyMatch(v -> v == x);
    }

    @Test
    void samplingOptions() {
        String[] base = {"generate", "--model", withTokenizer.toString(), "--memory", "window", "--prompt", "a b c", "--max-tokens", "12", "--ids"};
        String greedy = run(base).out();
        assertEquals(greedy, run(concat(base, "--temperature", "1.5", "--top-k", "1", "--seed", "5")).out(), "top-k 1 = greedy");
        assertEquals(greedy, run(concat(base, "--temperature", "1.5", "--top-p", "1e-9", "--seed", "5")).out(), "tiny top-p = greedy");
        String a = run(concat(base, "--temperature", "2", "--seed", "1")).out();
        assertEquals(a, run(concat(base, "--temperature", "2", "--seed", "1")).out(), "a seed reproduces");
        boolean differs = false;
        for (int seed = 2; seed < 8 && !differs; seed++) {
            differs = !run(concat(base, "--temperature", "2", "--seed", Integer.toString(seed))).out().equals(a);
        }
        assertTrue(differs, "other seeds sample other tokens");
        CliRun bad = run(concat(base, "--top-p", "0"));
        assertEquals(2, bad.exit(), bad.all());
        assertTrue(bad.err().contains("topP: is 0.0; valid: (0, 1]"), bad.all());
    }

    @Test
    void inspectShowsManifestGraphsPlanWeightsAndFootprint() {
        CliRun r = run("inspect", "--model", withTokenizer.toString(), "--memory", "full");
        assertEquals(0, r.exit(), r.all());
        String o = r.out();
        assertTrue(o.contains("model tiny (engram-model/1)"), o);
        assertTrue(o.contains("architecture: 2 layers, 2 heads (1 kv heads), keyDim 4, valueDim 4, modelDim 8, vocabulary 16"), o);
        assertTrue(o.contains("tokenizer: tokenizer.json: WordLevel"), o);
        assertTrue(o.contains("in   input_ids int64 [B, N]") || o.contains("in   input_ids int64 [?, ?]"), o);
        assertTrue(Pattern.compile("out  q float32 \\[\\S+, 2, \\S+, 4\\]").matcher(o).find(), o);
        assertTrue(Pattern.compile("out  logits float32 \\[\\S+, \\S+, 16\\]").matcher(o).find(), o);
        assertTrue(o.contains("layer  0  attention full"), o);
        assertTrue(o.contains("layer  1  attention full"), o);
        assertTrue(o.contains("decoding: row by row"), "full attention, no memory: every layer has PARTIAL_ROWS\n" + o);
        assertTrue(o.contains("a segment completes from its held rows (EXACT_ROWS, CPU)"), o);
        assertTrue(o.contains("attentions are given each new row only (HELD_ROWS)"), o);
        assertFalse(o.contains("gate-memory {"), "--memory replaced the package's layer-1 memory:\n" + o);
        assertTrue(o.contains("layers.1.gate-memory.gate [2]"), "weights are listed with shapes:\n" + o);
        // full attention keeps k, v and a long position of every token: kvHeads 1 x (keyDim 4 + valueDim 4) floats + 8
        // = 40 bytes per token (baselines CachedAttention.stateBytes)
        Matcher m = Pattern.compile("\\n  0\\s+full\\s+(\\d+)\\s+([0-9.]+)\\s+([0-9.]+) MiB  grows").matcher(o);
        assertTrue(m.find(), o);
        assertEquals(16 * 40, Long.parseLong(m.group(1)), "after 4 segments of 4");
        assertEquals(40.0, Double.parseDouble(m.group(2)));
        assertEquals(String.format("%.2f", 1_000_000 * 40.0 / 1048576), m.group(3));
        // a window of 3 holds 3 tokens' worth from the start: flat
        CliRun w = run("inspect", "--model", withTokenizer.toString(), "--memory", "window");
        assertEquals(0, w.exit(), w.all());
        assertTrue(Pattern.compile("\\n  0\\s+window\\s+120\\s+0\\.0\\s+0\\.00 MiB  flat \\(bounded\\)").matcher(w.out()).find(), w.out());
    }

    @Test
    void memoryReplacesTheWholeLayersTreeOnEveryCommand() throws IOException {
        // the package's layer-1 entry names a memory that is not on this class path: without --memory it cannot load
        CliRun plain = run("run", "--model", TINY.toString(), "--tokens", "1,2,3");
        assertEquals(2, plain.exit(), plain.all());
        assertTrue(plain.err().contains("gate-memory"), plain.all());
        for (String name : new String[] {"full", "window", "none"}) {
            CliRun r = run("run", "--model", TINY.toString(), "--memory", name, "--tokens", "1,2,3,4,5", "--no-progress");
            assertEquals(0, r.exit(), name + ": " + r.all());
            String attention = name.equals("full") ? "full" : "window";
            assertTrue(r.out().contains("layer  0  attention " + attention) && r.out().contains("layer  1  attention " + attention), r.all());
            assertFalse(r.out().contains("gate-memory"), r.all());
            CliRun g = run("generate", "--model", TINY.toString(), "--memory", name, "--tokens", "1,2,3", "--max-tokens", "3", "--ids");
            assertEquals(0, g.exit(), name + ": " + g.all());
        }
        // it also overrides a config file's layers (ranges included)
        Path config = dir.resolve("ranges.yaml");
        Files.writeString(config, "layers:\n  default: {attention: {provider: window, window: 2}}\n  \"1\": {memory: {provider: infini}}\n");
        CliRun overridden = run("run", "--model", TINY.toString(), "--config", config.toString(), "--memory", "full", "--tokens", "1,2", "--no-progress");
        assertEquals(0, overridden.exit(), overridden.all());
        assertFalse(overridden.out().contains("infini"), overridden.all());
        // a memory provider: window 0 + the memory; this package has no infini weights, which is a clear error
        CliRun infini = run("run", "--model", TINY.toString(), "--memory", "infini", "--tokens", "1,2");
        assertEquals(2, infini.exit(), infini.all());
        assertTrue(infini.err().contains("weight 'layers.0.infini.beta' is missing"), infini.all());
        CliRun bogus = run("inspect", "--model", TINY.toString(), "--memory", "bogus");
        assertEquals(2, bogus.exit(), bogus.all());
        assertTrue(bogus.err().contains("--memory: is 'bogus'; valid: none, an attention provider [") && bogus.err().contains("infini"), bogus.all());
    }

    @Test
    void exactlyOneInputIsRequired() {
        CliRun r = run("run", "--model", TINY.toString(), "--memory", "window", "--prompt", "x", "--tokens", "1");
        assertEquals(2, r.exit(), r.all());
        assertTrue(r.err().contains("give exactly one of --input, --prompt, --tokens, --token-file, --random"), r.all());
        CliRun empty = run("run", "--model", TINY.toString(), "--memory", "window", "--prompt", "");
        assertEquals(2, empty.exit(), empty.all());
        assertTrue(empty.err().contains("--prompt: gives no tokens; give some text"), empty.all());
    }

    static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
