package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.api.ConfigException;
import dev.engram.runtime.text.ByteTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Engine.tokenizer(): the package's tokenizer.json, checked on load against the model's vocabulary; else the byte fallback. */
class EngineTokenizerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    /** WordLevel over 16 words, ids 0..15 = the tiny model's vocabulary. */
    static final String SIXTEEN_WORDS = """
            {"version": "1.0", "truncation": null, "padding": null,
             "added_tokens": [{"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false,
                               "normalized": false, "special": true}],
             "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
             "model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5,
                       "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11, "l": 12, "m": 13, "n": 14, ".": 15}}}
            """;

    @TempDir
    Path dir;

    private Path tinyWith(String tokenizerJson) throws IOException {
        Path pkg = Files.createTempDirectory(dir, "tiny");
        try (Stream<Path> files = Files.list(EngineTest.TINY)) {
            for (Path f : files.toList()) {
                Files.copy(f, pkg.resolve(f.getFileName()));
            }
        }
        if (tokenizerJson != null) {
            ObjectNode manifest = (ObjectNode) JSON.readTree(pkg.resolve("engram.json").toFile());
            ((ObjectNode) manifest.get("files")).put("tokenizer", "tokenizer.json");
            Files.writeString(pkg.resolve("engram.json"), manifest.toPrettyString());
            Files.writeString(pkg.resolve("tokenizer.json"), tokenizerJson);
        }
        return pkg;
    }

    @Test
    void thePackagesTokenizerJsonIsLoadedAndFeedsTheEngine() throws IOException {
        try (Engine e = new EngineLoader().systemOverrides(false).load(tinyWith(SIXTEEN_WORDS))) {
            int[] ids = e.tokenizer().encode("A b. Zed");
            assertArrayEquals(new int[] {1, 2, 15, 0}, ids); // lowercased; "." split off; "zed" unknown
            assertEquals("a b . <unk>", e.tokenizer().decode(ids));
            assertTrue(e.tokenizer().description().startsWith("tokenizer.json: WordLevel (16 tokens"), e.tokenizer().description());
            assertEquals(16, e.tokenizer().vocabSize());
            e.ingest(e.newSequence(), ids); // every id is a valid model input
        }
    }

    @Test
    void withoutTokenizerJsonTheByteFallbackIsUsed() throws IOException {
        try (Engine e = new EngineLoader().systemOverrides(false).load(tinyWith(null))) {
            ByteTokenizer t = assertInstanceOf(ByteTokenizer.class, e.tokenizer());
            assertArrayEquals(new int[] {'A' % 16, 'z' % 16}, t.encode("Az"));
        }
    }

    @Test
    void aTokenizerWithIdsBeyondTheModelsVocabularyIsALoadErrorNamingBoth() throws IOException {
        Path passkey = Path.of("src/test/resources/tokenizers/passkey-tokenizer.json"); // 32 ids; tiny has 16
        Path pkg = tinyWith(Files.readString(passkey));
        ConfigException e = assertThrows(ConfigException.class, () -> new EngineLoader().systemOverrides(false).load(pkg));
        assertTrue(e.getMessage().contains("tokenizer.json: has token ids up to 31 ('day'); the model's vocabulary is 16"
                + " (engram.json architecture.vocabSize), so valid ids are 0 to 15"), e.getMessage());
    }

    /** A template's or Bert's special ids are what encode() emits too, so they are held to the vocabulary as well. */
    @Test
    void postProcessorIdsBeyondTheModelsVocabularyAreALoadErrorNamingTheField() throws IOException {
        String template = SIXTEEN_WORDS.replace("\"post_processor\": null", """
                "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                  {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                  "special_tokens": {"<s>": {"id": "<s>", "ids": [20], "tokens": ["<s>"]}}}""");
        assertTrue(template.contains("TemplateProcessing"));
        ConfigException e = assertThrows(ConfigException.class,
                () -> new EngineLoader().systemOverrides(false).load(tinyWith(template)));
        assertTrue(e.getMessage().contains("tokenizer.json: 'post_processor.special_tokens.<s>.ids[0]' is 20; the model's"
                + " vocabulary is 16 (engram.json architecture.vocabSize), so valid ids are 0 to 15"), e.getMessage());

        String bert = SIXTEEN_WORDS.replace("\"post_processor\": null",
                "\"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"a\", 1], \"sep\": [\"[SEP]\", 16]}");
        e = assertThrows(ConfigException.class, () -> new EngineLoader().systemOverrides(false).load(tinyWith(bert)));
        assertTrue(e.getMessage().contains("tokenizer.json: 'post_processor.sep' is 16;"), e.getMessage());
        String inRange = bert.replace("16]}", "15]}");
        try (Engine ok = new EngineLoader().systemOverrides(false).load(tinyWith(inRange))) {
            assertArrayEquals(new int[] {1, 2, 15}, ok.tokenizer().encode("b"));
        }
    }

    @Test
    void aMalformedTokenizerIsReportedWithTheOtherLoadProblems() throws IOException {
        Path pkg = tinyWith("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        Files.delete(pkg.resolve("head.onnx"));
        ConfigException e = assertThrows(ConfigException.class, () -> new EngineLoader().systemOverrides(false).load(pkg));
        assertTrue(e.getMessage().contains("tokenizer.json: 'model.type' is 'Unigram'; supported: WordLevel, BPE"), e.getMessage());
        assertTrue(e.getMessage().contains("head.onnx: is missing"), e.getMessage());
    }
}
