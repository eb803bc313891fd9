package dev.engram.runtime.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The WordLevel tokenizer.json that tools/engram_model/passkey.py tokenizer_json() writes (the file under test
 * resources was generated from it with python).
 */
class PasskeyTokenizerTest {
    /** passkey.py VOCAB, in id order. */
    static final List<String> VOCAB = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "<bos>", "<passkey-is>",
            "<what-is-the-passkey>", "<unk>", ".", "the", "grass", "is", "green", "sky", "blue", "sun", "yellow", "here",
            "we", "go", "there", "and", "back", "again", "it", "day");

    static final Tokenizer PASSKEY = TokenizerJson.read(Path.of("src/test/resources/tokenizers/passkey-tokenizer.json"));

    @Test
    void encodesTheTaskTextToTheTaskIds() {
        String text = "<bos> the grass is green . <passkey-is> 4 2 . <what-is-the-passkey> 4 2";
        assertArrayEquals(new int[] {10, 15, 16, 17, 18, 14, 11, 4, 2, 14, 12, 4, 2}, PASSKEY.encode(text));
        assertEquals(text, PASSKEY.decode(PASSKEY.encode(text)));
        assertEquals(32, PASSKEY.vocabSize());
    }

    @Test
    void wordsOutsideTheVocabularyAreCountedAsUnknown() {
        // "cat" and "dog" are not in VOCAB: each becomes <unk> (id 13, its place in VOCAB); "<unk>" itself counts too.
        int[] ids = PASSKEY.encode("the cat is dog . <unk>", false);
        assertArrayEquals(new int[] {15, 13, 17, 13, 14, 13}, ids);
        assertEquals(java.util.OptionalInt.of(VOCAB.indexOf("<unk>")), PASSKEY.unknownTokenId());
        assertEquals(3, PASSKEY.unknownTokens(ids));
        assertEquals(0, PASSKEY.unknownTokens(PASSKEY.encode("the grass is green", false)));
        assertEquals(0, new ByteTokenizer(256).unknownTokens(new int[] {13, 13}), "no unk token: nothing is unknown");
    }

    @Test
    void everyRenderedSequenceRoundTrips() {
        SplittableRandom r = new SplittableRandom(3);
        for (int trial = 0; trial < 50; trial++) {
            int[] ids = new int[1 + r.nextInt(40)];
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < ids.length; i++) {
                ids[i] = r.nextInt(32);
                text.append(i == 0 ? "" : " ").append(VOCAB.get(ids[i])); // passkey.render
            }
            assertArrayEquals(ids, PASSKEY.encode(text.toString()), text.toString());
            assertEquals(text.toString(), PASSKEY.decode(ids));
        }
    }

    @Test
    void specialTokensSplitOutOfTheTextBeforeWhitespaceAndUnknownWordsAreUnk() {
        // the markers are added tokens: matched inside words; WhitespaceSplit drops every kind of whitespace
        assertArrayEquals(new int[] {10, 15, 11, 7, 14}, PASSKEY.encode("<bos>the<passkey-is>7\t.\n"));
        assertArrayEquals(new int[] {15, 13, 13}, PASSKEY.encode("the hello 12"), "12 is not one token: <unk>");
        assertEquals("the <unk>", PASSKEY.decode(new int[] {15, 13}));
        assertEquals("the", PASSKEY.decode(new int[] {15, 13}, true), "skipping special tokens drops <unk>");
        assertEquals(11, PASSKEY.tokenId("<passkey-is>").orElseThrow());
        assertEquals(18, PASSKEY.tokenId("green").orElseThrow());
        assertTrue(PASSKEY.tokenId("purple").isEmpty());
    }

    @Test
    void streamingDecodesWordByWordWithSpaces() {
        Tokenizer.StreamDecoder d = PASSKEY.streamDecoder();
        StringBuilder sb = new StringBuilder();
        for (int id : new int[] {12, 4, 2, 9}) {
            sb.append(d.push(id));
        }
        sb.append(d.finish());
        assertEquals("<what-is-the-passkey> 4 2 9", sb.toString());
    }
}
