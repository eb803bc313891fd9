package dev.engram.runtime.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** StripAccents drops every mark category, as Hugging Face's is_combining_mark does: Mn, Mc and Me. */
class StripAccentsTest {
    @Test
    void nonSpacingSpacingAndEnclosingMarksAreAllDropped() {
        String json = "{\"version\": \"1.0\", \"added_tokens\": [], "
                + "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFD\"}, {\"type\": \"StripAccents\"}]}, "
                + "\"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}, \"post_processor\": null, \"decoder\": null, "
                + "\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"e\": 0, \"a\": 1, \"<unk>\": 2}, \"unk_token\": \"<unk>\"}}";
        List<String> problems = new ArrayList<>();
        Tokenizer t = TokenizerJson.parse(json, "tokenizer.json", problems, new ArrayList<>());
        assertEquals(List.of(), problems);
        // é (NFD: e + U+0301, Mn); a + U+093E DEVANAGARI VOWEL SIGN AA (Mc); a + U+20DD COMBINING ENCLOSING CIRCLE (Me)
        assertArrayEquals(new int[] {0, 1, 1}, t.encode("\u00e9 a\u093e a\u20dd"));
    }
}
