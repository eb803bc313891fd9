package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ByteFallbackTokenizerTest {
    @Test
    void byteLevelRoundTripWithVocabularyOf256OrMore() {
        ByteFallbackTokenizer t = new ByteFallbackTokenizer(260);
        String text = "naïve 日本 🙂 end";
        int[] ids = t.encode(text);
        assertEquals(text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, ids.length);
        assertEquals(text, t.decode(ids));
        // incremental: a multi-byte character appears only with its last byte
        ByteFallbackTokenizer.Decoder d = new ByteFallbackTokenizer.Decoder();
        int[] smile = t.encode("🙂");
        assertEquals("", d.push(smile[0]));
        assertEquals("", d.push(smile[1]));
        assertEquals("", d.push(smile[2]));
        assertEquals("🙂", d.push(smile[3]));
        assertEquals("\uFFFD", t.decode(new int[] {257}));
    }

    @Test
    void smallVocabularyFoldsBytes() {
        ByteFallbackTokenizer t = new ByteFallbackTokenizer(16);
        assertArrayEquals(new int[] {'A' % 16, 'z' % 16, 0xC3 % 16, 0xA9 % 16}, t.encode("Azé"));
        assertEquals("\u0001\u0002", t.decode(new int[] {1, 2}));
    }
}
