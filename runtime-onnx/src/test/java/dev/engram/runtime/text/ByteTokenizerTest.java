package dev.engram.runtime.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ByteTokenizerTest {
    @Test
    void withAtLeast256IdsEveryByteIsItsOwnIdAndTextRoundTrips() {
        ByteTokenizer t = new ByteTokenizer(300);
        assertTrue(t.lossless());
        String text = "héllo, wörld 😀\n";
        int[] ids = t.encode(text);
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        assertEquals(bytes.length, ids.length);
        for (int i = 0; i < bytes.length; i++) {
            assertEquals(bytes[i] & 0xff, ids[i]);
        }
        assertEquals(text, t.decode(ids));
        assertArrayEquals(new int[] {0x68, 0xC3, 0xA9}, t.encode("hé"));
    }

    @Test
    void belowOneByteTheIdIsTheByteModuloTheVocabulary() {
        ByteTokenizer t = new ByteTokenizer(16);
        assertFalse(t.lossless());
        // 'A' = 65 = 4*16 + 1; 'é' = C3 A9 = 195, 169 -> 3, 9
        assertArrayEquals(new int[] {1, 3, 9}, t.encode("Aé"));
        assertEquals(16, t.vocabSize());
        assertTrue(t.description().contains("mod 16 (lossy)"), t.description());
    }

    @Test
    void idsAbove255DecodeToReplacementCharactersAndBrokenUtf8Too() {
        ByteTokenizer t = new ByteTokenizer(1000);
        assertEquals("a\uFFFDb", t.decode(new int[] {'a', 700, 'b'}));
        assertEquals("\uFFFD", t.decode(new int[] {0xC3})); // a lead byte without its continuation
        assertEquals("x\uFFFD", t.decode(new int[] {'x', 0xC3}));
    }

    @Test
    void streamingShowsAMultiByteCharacterOnlyOnceItsLastByteArrives() {
        ByteTokenizer t = new ByteTokenizer(256);
        Tokenizer.StreamDecoder d = t.streamDecoder();
        int[] ids = t.encode("a😀b");
        StringBuilder seen = new StringBuilder();
        assertEquals("a", d.push(ids[0]));
        for (int i = 1; i < 4; i++) {
            assertEquals("", d.push(ids[i]), "byte " + i + " of the emoji");
        }
        assertEquals("😀", d.push(ids[4]));
        seen.append(d.push(ids[5])).append(d.finish());
        assertEquals("b", seen.toString());
    }

    @Test
    void tokenIdOfASingleByteCharacter() {
        ByteTokenizer t = new ByteTokenizer(128);
        assertEquals(10, t.tokenId("\n").orElseThrow());
        assertTrue(t.tokenId("é").isEmpty());
        assertTrue(t.tokenId("ab").isEmpty());
    }
}
