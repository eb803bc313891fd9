package dev.engram.runtime.text;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.*;
import java.util.*;

public class Oracle {
    static int fails = 0, checks = 0;
    static final ObjectMapper J = new ObjectMapper();

    static void compare(String name, Path file, List<String> texts, boolean specials) throws Exception {
        List<String> problems = new ArrayList<>();
        Tokenizer mine = TokenizerJson.read(file, name, problems, new ArrayList<>());
        if (mine == null) { System.out.println(name + " PROBLEMS " + problems); fails++; return; }
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", String.valueOf(specials), "truncation", "false", "padding", "false", "modelMaxLength", "10000000"))) {
            for (String t : texts) {
                checks++;
                long[] h;
                try {
                    Encoding e = hf.encode(t, specials, false);
                    h = e.getIds();
                } catch (Exception ex) { System.out.println(name + " HF threw on " + J.writeValueAsString(t) + ": " + ex); continue; }
                int[] m;
                try { m = mine.encode(t, specials); } catch (Exception ex) { System.out.println(name + " MINE threw on " + J.writeValueAsString(t) + ": " + ex); fails++; continue; }
                int[] hi = Arrays.stream(h).mapToInt(x -> (int) x).toArray();
                if (!Arrays.equals(hi, m)) {
                    fails++;
                    int d = 0; while (d < Math.min(hi.length, m.length) && hi[d] == m[d]) d++;
                    String ctx = t.length() > 200 ? "(long text)" : J.writeValueAsString(t);
                    System.out.println(name + " ENCODE MISMATCH " + ctx + " at " + d + "\n  hf  " + Arrays.toString(Arrays.copyOfRange(hi, Math.max(0,d-3), Math.min(hi.length, d+8))) + " " + J.writeValueAsString(mine.decode(Arrays.copyOfRange(hi, Math.max(0,d-3), Math.min(hi.length, d+8)))) + "\n  me  " + Arrays.toString(Arrays.copyOfRange(m, Math.max(0,d-3), Math.min(m.length, d+8))) + " " + J.writeValueAsString(mine.decode(Arrays.copyOfRange(m, Math.max(0,d-3), Math.min(m.length, d+8)))));
                }
                for (boolean skip : new boolean[] {false, true}) {
                    String hd = hf.decode(h, skip);
                    String md = mine.decode(hi, skip);
                    if (!hd.equals(md)) {
                        fails++;
                        System.out.println(name + " DECODE MISMATCH skip=" + skip + " " + (t.length() > 200 ? "(long)" : J.writeValueAsString(t)) + "\n  hf  " + (hd.length() > 300 ? hd.length() : J.writeValueAsString(hd)) + "\n  me  " + (md.length() > 300 ? md.length() : J.writeValueAsString(md)));
                    }
                }
            }
        }
    }

    public static void main(String[] a) throws Exception {
        List<String> texts = new ArrayList<>(Corpus.SHORT_TEXTS);
        texts.addAll(List.of(
            "x\u00b2 \u00bd \u2460 x\u00b3y", "a\u200db a\u200cb \u200d", "\u216b roman \u3007 ideo", "\u0663 arabic", "a_b \u203fc \u2040",
            "\u01c5 \u0345x \u20dd x\u20ddy \u0488", "\u00aa\u00ba ordinals", "\u2070\u2074 super", "km\u00b2 10\u00b3", "\u0e51\u0e52 thai",
            "\u16ee runic", "\u2cfd coptic", "\ud835\udfce math", "\u00b7middle\u0387dot", "\u0f20 \u0f2a tibetan"));
        for (String line : Files.readAllLines(Path.of("/work/main/README.md"))) texts.add(line);
        texts.add(Files.readString(Path.of("/work/main/runtime-onnx/README.md")));
        compare("bpe", Path.of("bpe.json"), texts, true);
        compare("bpe-nospecial", Path.of("bpe.json"), texts, false);
        compare("passkey", Path.of("/work/main/runtime-onnx/src/test/resources/tokenizers/passkey-tokenizer.json"),
                List.of("<bos> the grass is green . <passkey-is> 4 2 . <what-is-the-passkey> 4 2", "<bos>the<passkey-is>7\t.\n", "the hello 12", "", "sky  blue\u00a0day"), true);
        // handmade GPT-2 style from the unit test
        Path hand = Path.of("hand.json");
        Files.writeString(hand, BpeTokenizerTest.gpt2Style(false).toString());
        compare("hand", hand, texts, true);
        ObjectNode pref = BpeTokenizerTest.gpt2Style(false);
        ((ObjectNode) pref.get("pre_tokenizer")).put("add_prefix_space", true);
        Files.writeString(Path.of("hand-prefix.json"), pref.toString());
        compare("hand-prefix", Path.of("hand-prefix.json"), texts, true);
        // pre-tokenizer / normalizer variants over a WordLevel whose vocab is what our pipeline produces
        String[] pres = {
            "{\"type\":\"Whitespace\"}", "{\"type\":\"WhitespaceSplit\"}", "{\"type\":\"Digits\",\"individual_digits\":true}",
            "{\"type\":\"Digits\",\"individual_digits\":false}", "{\"type\":\"Punctuation\"}", "{\"type\":\"Punctuation\",\"behavior\":\"MergedWithPrevious\"}",
            "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Removed\",\"invert\":false}",
            "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"MergedWithNext\",\"invert\":false}",
            "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}",
            "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Contiguous\",\"invert\":false}",
            "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[a-z]+\"},\"behavior\":\"Isolated\",\"invert\":true}",
            "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false}",
            "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":\"Punctuation\"},{\"type\":\"Digits\",\"individual_digits\":true}]}",
        };
        String[] norms = {"null", "{\"type\":\"Lowercase\"}", "{\"type\":\"NFKC\"}", "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"StripAccents\"},{\"type\":\"Lowercase\"}]}",
            "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}", "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"[0-9]\"},\"content\":\"#\"}",
            "{\"type\":\"Prepend\",\"prepend\":\"_\"}"};
        int k = 0;
        for (String pre : pres) for (String norm : norms) {
            String base = "{\"normalizer\":" + norm + ",\"pre_tokenizer\":" + pre + ",\"added_tokens\":[{\"id\":0,\"content\":\"<mask>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":true,\"normalized\":false,\"special\":true}],"
                + "\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"<unk>\",\"vocab\":";
            // vocabulary: what our pipeline makes of the texts (through a probe with a catch-all model)
            Set<String> words = new TreeSet<>();
            HfTokenizer.PreTokenizer p = null;
            List<String> probs = new ArrayList<>();
            Tokenizer probe = TokenizerJson.parse(base + "{\"<mask>\":0,\"<unk>\":1}}}", "probe", probs, new ArrayList<>());
            if (probe == null) { System.out.println("probe problems " + probs); fails++; continue; }
            Map<String, Integer> vocab = new LinkedHashMap<>();
            vocab.put("<mask>", 0); vocab.put("<unk>", 1);
            for (String t : texts) {
                for (String w : ((HfTokenizer) probe).words(t)) vocab.putIfAbsent(w, vocab.size());
            }
            String json = base + J.writeValueAsString(vocab) + "}}";
            Path f = Path.of("wl" + (k++) + ".json");
            Files.writeString(f, json);
            compare("wordlevel pre=" + pre + " norm=" + norm, f, texts, true);
        }
        List<String> sp = new ArrayList<>(texts); sp.addAll(List.of("ab ab", "é", "xx", "axxb", "ab  é xx ab", " ab", "ba ab"));
        compare("sentencepiece", Path.of("sp.json"), sp, true);
        compare("sentencepiece-nospecial", Path.of("sp.json"), sp, false);
        System.out.println(checks + " checks, " + fails + " failures");
    }
}
