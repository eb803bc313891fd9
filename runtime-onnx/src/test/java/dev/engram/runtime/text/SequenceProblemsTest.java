package dev.engram.runtime.text;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A malformed Sequence (any of the four kinds) is reported by its path: the missing list, or the bad step in it. */
class SequenceProblemsTest {
    private static List<String> problems(String normalizer, String decoder) {
        String json = "{\"version\": \"1.0\", \"added_tokens\": [], \"normalizer\": " + normalizer + ", "
                + "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": 3}, \"post_processor\": null, \"decoder\": " + decoder + ", "
                + "\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0, \"<unk>\": 1}, \"unk_token\": \"<unk>\"}}";
        List<String> problems = new ArrayList<>();
        TokenizerJson.parse(json, "tokenizer.json", problems, new ArrayList<>());
        return problems;
    }

    @Test
    void theMissingListAndTheBadStepAreNamed() {
        String all = String.join("\n", problems("{\"type\": \"Sequence\"}",
                "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Fuse\"}, {\"type\": \"Nope\"}]}"));
        assertTrue(all.contains("'normalizer.normalizers' is") && all.contains("valid: a list of normalizers"), all);
        assertTrue(all.contains("'pre_tokenizer.pretokenizers' is") && all.contains("valid: a list of pre-tokenizers"), all);
        assertTrue(all.contains("decoder.decoders[1]") && all.contains("Nope"), all);
        assertTrue(!all.contains("decoders[0]"), "the good step is not reported: " + all);
    }
}
