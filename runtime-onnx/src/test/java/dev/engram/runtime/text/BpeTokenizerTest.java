package dev.engram.runtime.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A hand-built GPT-2 style tokenizer.json: ByteLevel pre-tokenizer and decoder, a BPE vocabulary of the 256
 * byte symbols (id = byte value) plus six merges, and one added special token. Every expected encoding below
 * is derived by hand in the comments.
 */
class BpeTokenizerTest {
    static final ObjectMapper JSON = new ObjectMapper();

    /** GPT-2's bytes_to_unicode, written out here independently of the implementation. */
    static String symbol(int b) {
        List<Integer> bs = new ArrayList<>();
        for (int i = '!'; i <= '~'; i++) {
            bs.add(i);
        }
        for (int i = 0xA1; i <= 0xAC; i++) {
            bs.add(i);
        }
        for (int i = 0xAE; i <= 0xFF; i++) {
            bs.add(i);
        }
        if (bs.contains(b)) {
            return String.valueOf((char) b);
        }
        int n = 0;
        for (int i = 0; i < b; i++) {
            if (!bs.contains(i)) {
                n++;
            }
        }
        return String.valueOf((char) (256 + n));
    }

    /** Merges in rank order; "l o" (rank 2) outranks "l l" (rank 3) on purpose. */
    static final String[][] MERGES = {{"Ġ", "t"}, {"h", "e"}, {"l", "o"}, {"l", "l"}, {"Ġt", "he"}, {"he", "ll"}};
    static final int GT = 256;      // Ġt
    static final int HE = 257;      // he
    static final int LO = 258;      // lo
    static final int LL = 259;      // ll
    static final int GTHE = 260;    // Ġthe
    static final int HELL = 261;    // hell
    static final int EOT = 262;     // <|endoftext|>

    static ObjectNode gpt2Style(boolean mergesAsPairs) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        added.addObject().put("id", EOT).put("content", "<|endoftext|>").put("single_word", false).put("lstrip", false)
                .put("rstrip", false).put("normalized", true).put("special", true);
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
                .put("use_regex", true);
        root.putObject("post_processor").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", false)
                .put("use_regex", true);
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true)
                .put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout").putNull("unk_token").put("continuing_subword_prefix", "")
                .put("end_of_word_suffix", "").put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int b = 0; b < 256; b++) {
            vocab.put(symbol(b), b);
        }
        String[] mergedTokens = {"Ġt", "he", "lo", "ll", "Ġthe", "hell"};
        for (int i = 0; i < mergedTokens.length; i++) {
            vocab.put(mergedTokens[i], 256 + i);
        }
        vocab.put("<|endoftext|>", EOT);
        ArrayNode merges = model.putArray("merges");
        for (String[] m : MERGES) {
            if (mergesAsPairs) {
                merges.addArray().add(m[0]).add(m[1]);
            } else {
                merges.add(m[0] + " " + m[1]);
            }
        }
        return root;
    }

    static Tokenizer parse(ObjectNode root) {
        List<String> problems = new ArrayList<>();
        Tokenizer t = TokenizerJson.parse(root.toString(), "tokenizer.json", problems, new ArrayList<>());
        assertTrue(problems.isEmpty(), problems.toString());
        assertNotNull(t);
        return t;
    }

    static final Tokenizer BPE = parse(gpt2Style(false));

    @Test
    void theAlphabetIsGpt2s() {
        assertEquals("Ġ", symbol(' '));      // U+0120: space is the 33rd non-printable byte (0..32)
        assertEquals("Ċ", symbol('\n'));     // U+010A
        assertEquals("!", symbol('!'));
        assertEquals("Ã", symbol(0xC3));
        assertEquals(String.valueOf((char) 0x143), symbol(0xAD)); // the last of the 68 remapped bytes
    }

    @Test
    void encodesByRankNotByPosition() {
        // "hello": h e l l o. Ranks: (h,e)=1, (l,l)=3, (l,o)=2. Merge h e -> [he l l o]; then (l,o)=2 beats (l,l)=3
        // -> [he l lo]; (he,l) and (l,lo) have no merge. "he ll" (rank 5) never gets its chance.
        assertArrayEquals(new int[] {HE, 'l', LO}, BPE.encode("hello"));
        // "llo": (l,l)=3 at 0, (l,o)=2 at 1 -> the right pair merges first: [l lo]
        assertArrayEquals(new int[] {'l', LO}, BPE.encode("llo"));
        // "lll": two (l,l) pairs of equal rank -> the leftmost merges: [ll l]
        assertArrayEquals(new int[] {LL, 'l'}, BPE.encode("lll"));
        // "hell": [he l l] -> (l,l)=3 -> [he ll] -> (he,ll)=5 -> [hell]
        assertArrayEquals(new int[] {HELL}, BPE.encode("hell"));
    }

    @Test
    void splitsWithTheGpt2RegexAndMapsBytes() {
        // "hello the world" -> words "hello", " the", " world" -> byte symbols "hello", "Ġthe", "Ġworld".
        // "Ġthe": (Ġ,t)=0 -> [Ġt h e] -> (h,e)=1 -> [Ġt he] -> (Ġt,he)=4 -> [Ġthe]. "Ġworld": no merges apply.
        int[] want = {HE, 'l', LO, GTHE, ' ', 'w', 'o', 'r', 'l', 'd'};
        assertArrayEquals(want, BPE.encode("hello the world"));
        assertEquals("hello the world", BPE.decode(want));
        // " 123" -> " ?\p{N}+" one word "Ġ123"; "it's" -> "it" + "'s"
        assertArrayEquals(new int[] {' ', '1', '2', '3'}, BPE.encode(" 123"));
        assertArrayEquals(new int[] {'i', 't', '\'', 's'}, BPE.encode("it's"));
        // "a  the": "a", then \s+(?!\S) takes only the first space, leaving " the" a word: [a] [Ġ] [Ġthe] (a plain
        // \s+ would take both spaces: [a] [Ġ Ġ] [t he]); "the" without a space has no "Ġt": [t he]
        assertArrayEquals(new int[] {'a', ' ', GTHE}, BPE.encode("a  the"));
        assertArrayEquals(new int[] {'t', HE}, BPE.encode("the"));
    }

    @Test
    void utf8BytesBecomeSymbolsAndDecodeBack() {
        // é = C3 A9, 😀 = F0 9F 98 80: one id per byte
        assertArrayEquals(new int[] {0xC3, 0xA9}, BPE.encode("é"));
        assertArrayEquals(new int[] {0xF0, 0x9F, 0x98, 0x80}, BPE.encode("😀"));
        String text = "naïve café ✓ 😀 tab\tnew\nline";
        assertEquals(text, BPE.decode(BPE.encode(text)));
        assertEquals("\uFFFD", BPE.decode(new int[] {0xC3}), "half a character decodes lossy, like from_utf8_lossy");
    }

    @Test
    void addedSpecialTokensAreMatchedBeforeSplittingAndCanBeSkippedOnDecode() {
        // "hi<|endoftext|>there" -> "hi" | <|endoftext|> | "there"; "there" = t h e r e -> [t he r e]
        int[] ids = BPE.encode("hi<|endoftext|>there");
        assertArrayEquals(new int[] {'h', 'i', EOT, 't', HE, 'r', 'e'}, ids);
        assertEquals("hi<|endoftext|>there", BPE.decode(ids));
        assertEquals("hithere", BPE.decode(ids, true));
        assertEquals(EOT, BPE.tokenId("<|endoftext|>").orElseThrow());
        assertEquals(263, BPE.vocabSize());
    }

    @Test
    void mergesMayBeGivenAsPairs() {
        Tokenizer pairs = parse(gpt2Style(true));
        assertArrayEquals(BPE.encode("hello the world"), pairs.encode("hello the world"));
    }

    @Test
    void addPrefixSpaceTurnsTheFirstWordIntoASpacedOne() {
        ObjectNode root = gpt2Style(false);
        ((ObjectNode) root.get("pre_tokenizer")).put("add_prefix_space", true);
        // "the" -> " the" -> [Ġthe]
        assertArrayEquals(new int[] {GTHE}, parse(root).encode("the"));
    }

    @Test
    void streamingHoldsBackAnIncompleteCharacter() {
        Tokenizer.StreamDecoder d = BPE.streamDecoder();
        StringBuilder sb = new StringBuilder();
        assertEquals("he", d.push(HE));
        assertEquals("", d.push(0xC3), "the first byte of é is held back");
        assertEquals("é", d.push(0xA9));
        sb.append(d.push(GTHE)).append(d.push(0xF0)).append(d.finish());
        assertEquals(" the\uFFFD", sb.toString(), "finish flushes what was held");
    }

    @Test
    void sentencePieceStyleBpeWithByteFallbackAndUnk() {
        // normalizer: Prepend "▁" + Replace " " -> "▁"; no pre-tokenizer; decoder: Replace "▁" -> " ", ByteFallback,
        // Fuse, Strip one leading space (the Llama 2 layout). Vocab: <unk> 0, <0x41> 1 ... and a few pieces.
        String json = """
                {"version": "1.0", "added_tokens": [],
                 "normalizer": {"type": "Sequence", "normalizers": [
                    {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
                 "pre_tokenizer": null,
                 "post_processor": {"type": "TemplateProcessing",
                    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [9], "tokens": ["<s>"]}}},
                 "decoder": {"type": "Sequence", "decoders": [
                    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
                    {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
                 "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                    "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true,
                    "vocab": {"<unk>": 0, "<0xC3>": 1, "<0xA9>": 2, "▁": 3, "a": 4, "b": 5, "▁a": 6, "ab": 7, "▁ab": 8, "<s>": 9},
                    "merges": ["▁ a", "a b", "▁a b"]}}
                """;
        List<String> problems = new ArrayList<>();
        Tokenizer t = TokenizerJson.parse(json, "tokenizer.json", problems, new ArrayList<>());
        assertTrue(problems.isEmpty(), problems.toString());
        // "ab ab" -> "▁ab▁ab" (one word): ▁ a b ▁ a b; (▁,a)=0 twice, leftmost first -> [▁a b ▁a b] ->
        // (▁a,b)=2 twice -> [▁ab ▁ab]; (a,b)=1 never applies once a is merged. Template: <s> first.
        assertArrayEquals(new int[] {9, 8, 8}, t.encode("ab ab"));
        assertArrayEquals(new int[] {8, 8}, t.encode("ab ab", false));
        // "é" -> "▁é": é is not a piece -> byte fallback <0xC3> <0xA9>; "x" -> no piece, no bytes (no <0x78>) -> <unk>;
        // "xx" -> two unks fused into one
        assertArrayEquals(new int[] {3, 1, 2}, t.encode("é", false));
        assertArrayEquals(new int[] {3, 0}, t.encode("xx", false));
        assertArrayEquals(new int[] {6, 0, 5}, t.encode("axxb", false));
        // decode: "▁ab▁ab" -> " ab ab" -> strip one leading space
        assertEquals("ab ab", t.decode(new int[] {8, 8}));
        assertEquals("é", t.decode(new int[] {3, 1, 2}));
        assertEquals("\uFFFDa", t.decode(new int[] {1, 4}), "a lone lead byte is U+FFFD per byte");
    }
}
