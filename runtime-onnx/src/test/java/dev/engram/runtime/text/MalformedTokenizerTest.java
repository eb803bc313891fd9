package dev.engram.runtime.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.api.ConfigException;
import dev.engram.api.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every unsupported or malformed part of a tokenizer.json is a problem naming the field; all are reported at once. */
class MalformedTokenizerTest {
    @TempDir
    Path dir;

    private static List<String> problems(String json) {
        List<String> problems = new ArrayList<>();
        assertNull(TokenizerJson.parse(json, "tokenizer.json", problems, new ArrayList<>()), "must not parse: " + json);
        return problems;
    }

    private static List<String> problems(Consumer<ObjectNode> edit) {
        ObjectNode root = BpeTokenizerTest.gpt2Style(false);
        edit.accept(root);
        return problems(root.toString());
    }

    private static void assertProblem(List<String> problems, String expected) {
        assertTrue(problems.contains(expected), "expected\n  " + expected + "\nin\n  " + String.join("\n  ", problems));
    }

    @Test
    void notJsonOrNotAnObject() {
        assertTrue(problems("{\"model\": ").get(0).startsWith("tokenizer.json: not valid JSON: "));
        assertEquals(List.of("tokenizer.json: the top level must be a JSON object"), problems("[1, 2]"));
    }

    @Test
    void unsupportedTypesNameTheirField() {
        assertProblem(problems(r -> ((ObjectNode) r.get("model")).put("type", "Unigram")),
                "tokenizer.json: 'model.type' is 'Unigram'; supported: WordLevel, BPE");
        assertProblem(problems(r -> r.putObject("pre_tokenizer").put("type", "Metaspace")),
                "tokenizer.json: 'pre_tokenizer.type' is 'Metaspace'; supported: ByteLevel, Whitespace, WhitespaceSplit, Split, Digits, Punctuation, Sequence");
        assertProblem(problems(r -> r.putObject("normalizer").put("type", "BertNormalizer")),
                "tokenizer.json: 'normalizer.type' is 'BertNormalizer'; supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Sequence");
        assertProblem(problems(r -> r.putObject("decoder").put("type", "WordPiece")),
                "tokenizer.json: 'decoder.type' is 'WordPiece'; supported: ByteLevel, ByteFallback, Fuse, Strip, Replace, BPEDecoder, Sequence");
        assertProblem(problems(r -> r.putObject("post_processor").put("type", "Foo")),
                "tokenizer.json: 'post_processor.type' is 'Foo'; supported: ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing, Sequence");
        // nested: the path names the list position
        assertProblem(problems(r -> {
            ObjectNode seq = r.putObject("pre_tokenizer").put("type", "Sequence");
            seq.putArray("pretokenizers").addObject().put("type", "ByteLevel").put("use_regex", false);
            ((ArrayNode) seq.get("pretokenizers")).addObject().put("type", "CharDelimiterSplit");
        }), "tokenizer.json: 'pre_tokenizer.pretokenizers[1].type' is 'CharDelimiterSplit'; supported: ByteLevel, Whitespace, WhitespaceSplit, Split, Digits, Punctuation, Sequence");
        assertProblem(problems(r -> ((ObjectNode) r.get("model")).put("dropout", 0.1)),
                "tokenizer.json: 'model.dropout' is 0.1; supported: null or 0 (BPE dropout is random, for training only)");
    }

    @Test
    void unknownKeysAreRefusedWithASuggestion() {
        List<String> p = problems(r -> r.set("modle", r.remove("model")));
        assertTrue(p.stream().anyMatch(s -> s.startsWith("tokenizer.json: unknown key 'modle'; did you mean 'model'?")), p.toString());
        assertTrue(p.contains("tokenizer.json: 'model' is missing; valid: an object with \"type\": \"WordLevel\" or \"BPE\""), p.toString());
        assertTrue(problems(r -> ((ObjectNode) r.get("pre_tokenizer")).put("add_prefix_spaces", true)).get(0)
                .startsWith("tokenizer.json: unknown key 'pre_tokenizer.add_prefix_spaces'; did you mean 'pre_tokenizer.add_prefix_space'?"));
    }

    @Test
    void badMergesAndVocabularies() {
        assertProblem(problems(r -> ((ArrayNode) r.get("model").get("merges")).add("q z")),
                "tokenizer.json: 'model.merges[6]' is \"q z\": the merged token 'qz' is not in model.vocab");
        assertProblem(problems(r -> ((ArrayNode) r.get("model").get("merges")).add("h ?x")),
                "tokenizer.json: 'model.merges[6]' is \"h ?x\": '?x' is not in model.vocab");
        assertProblem(problems(r -> ((ArrayNode) r.get("model").get("merges")).add("a b c")),
                "tokenizer.json: 'model.merges[6]' is \"a b c\"; valid: two tokens separated by one space");
        assertProblem(problems(r -> ((ObjectNode) r.get("model").get("vocab")).put("dup", 5)),
                "tokenizer.json: 'model.vocab' gives id 5 to both '" + BpeTokenizerTest.symbol(5) + "' and 'dup'; valid: one token per id");
        assertProblem(problems(r -> ((ObjectNode) r.get("model").get("vocab")).put("neg", -1)),
                "tokenizer.json: 'model.vocab' entry 'neg' is -1; valid: an integer id >= 0");
        assertProblem(problems(r -> ((ObjectNode) r.get("model")).put("unk_token", "<nope>")),
                "tokenizer.json: 'model.unk_token' is '<nope>', which is not in model.vocab");
        assertProblem(problems(r -> ((ObjectNode) r.get("added_tokens").get(0)).put("id", 7)),
                "tokenizer.json: 'added_tokens[0]' is '<|endoftext|>' with id 7 but model.vocab gives it id 262; valid: the same id");
        assertProblem(problems(r -> ((ObjectNode) r.get("added_tokens").get(0)).remove("content")),
                "tokenizer.json: 'added_tokens[0].content' is missing; valid: a non-empty string");
        assertProblem(problems(r -> r.putObject("pre_tokenizer").put("type", "Split").put("behavior", "Isolated")
                        .putObject("pattern").put("Regex", "(unclosed")),
                "tokenizer.json: 'pre_tokenizer.pattern.Regex' is not a regex Java can compile: Unclosed group near index 9");
    }

    @Test
    void everyProblemIsReportedAtOnce() {
        List<String> p = problems(r -> {
            ((ObjectNode) r.get("model")).put("fuse_unk", "yes");
            r.putObject("decoder").put("type", "CTC");
            r.putObject("normalizer").put("type", "Precompiled");
        });
        assertEquals(3, p.size(), p.toString());
        assertProblem(p, "tokenizer.json: 'model.fuse_unk' is \"yes\"; valid: true or false");
    }

    @Test
    void readingAFileThrowsOneConfigExceptionWithTheFileName() throws IOException {
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(f, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
        ConfigException e = assertThrows(ConfigException.class, () -> TokenizerJson.read(f));
        assertTrue(e.getMessage().contains("tokenizer.json: 'model.type' is 'WordPiece'; supported: WordLevel, BPE"), e.getMessage());
        assertThrows(ConfigException.class, () -> TokenizerJson.read(dir.resolve("missing.json")));
    }

    @Test
    void truncationAndPaddingAreIgnoredWithAWarning() {
        ObjectNode root = BpeTokenizerTest.gpt2Style(false);
        root.putObject("truncation").put("max_length", 512);
        List<String> warnings = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        Tokenizer t = TokenizerJson.parse(root.toString(), "tokenizer.json", problems, warnings);
        assertTrue(problems.isEmpty(), problems.toString());
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("'truncation' is set and ignored"), warnings.toString());
        assertEquals(600, t.encode("ab".repeat(300)).length, "nothing is cut at 512");
    }

    @Test
    void aWordLevelWordWithoutUnkIsAClearErrorAtEncode() {
        String json = """
                {"model": {"type": "WordLevel", "vocab": {"a": 0, "b": 1}, "unk_token": "<unk>"},
                 "pre_tokenizer": {"type": "WhitespaceSplit"}}
                """;
        List<String> problems = new ArrayList<>();
        Tokenizer t = TokenizerJson.parse(json, "tokenizer.json", problems, new ArrayList<>());
        assertTrue(problems.isEmpty(), problems.toString());
        assertEquals(3, t.encode("a b a").length);
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> t.encode("a c"));
        assertTrue(e.getMessage().contains("the word 'c' is not in the tokenizer's vocabulary and its unk_token '<unk>' is not in the vocabulary either"),
                e.getMessage());
    }
}
