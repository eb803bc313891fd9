package dev.engram.runtime.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code Whitespace} pre-tokenizer, {@code \w+|[^\w\s]+}, on the characters where regex engines' {@code \w}
 * differ (other numbers, joiners, letter numbers, connector punctuation, combining and enclosing marks). Every
 * expected split is what the Hugging Face Rust library gave (DJL 0.30.0, tools/tokenizer-oracle, 2026-12-01): its
 * {@code \w} leaves out No (², ½, ①) and keeps the joiners, as Java's {@code \w} with UNICODE_CHARACTER_CLASS does.
 */
class WhitespaceWordsTest {
    @TempDir
    Path dir;

    @Test
    void wordsSplitWhereTheRustLibrarySplitsThem() throws IOException {
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(f, """
                {"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
                 "post_processor": null, "decoder": null,
                 "model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {"<unk>": 0}}}
                """);
        HfTokenizer t = (HfTokenizer) TokenizerJson.read(f, "tokenizer.json", new ArrayList<>(), new ArrayList<>());
        assertEquals(List.of("x", "\u00b2", "\u00bd", "\u2460", "x", "\u00b3", "y"), t.words("x\u00b2 \u00bd \u2460 x\u00b3y"));
        assertEquals(List.of("a\u200db", "a\u200cb"), t.words("a\u200db a\u200cb"));
        assertEquals(List.of("\u216b", "roman", "\u3007"), t.words("\u216b roman \u3007"));
        assertEquals(List.of("\u0663", "a_b", "\u203fc"), t.words("\u0663 a_b \u203fc"));
        assertEquals(List.of("\u01c5", "\u0345x", "x\u20ddy"), t.words("\u01c5 \u0345x x\u20ddy"));
        assertEquals(List.of("\u00aa\u00ba", "km", "\u00b2"), t.words("\u00aa\u00ba km\u00b2"));
    }
}
