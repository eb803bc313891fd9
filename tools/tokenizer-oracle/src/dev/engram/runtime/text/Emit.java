package dev.engram.runtime.text;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.*;
import java.nio.file.*;
import java.util.*;

public class Emit {
    public static void main(String[] a) throws Exception {
        ObjectMapper J = new ObjectMapper();
        List<String> texts = List.of(
            "hello the world", "Hello, World! It's 2026; we've 12345 tokens... don't they'll WE'RE",
            "a  b", "a   b  ", "  leading", "tabs\t\tand\nnew\n\nlines\r\n", "trailing   ",
            "naïve café ✓ 😀 👨‍👩‍👧", "Привет мир", "日本語のテキスト", "e\u0301 combining", "\u00a0nbsp\u2003em", "zero\u200bwidth",
            "<|endoftext|>", "x<|endoftext|>y", "a <mask> b", "a    <mask>b", "<mask>", "x<mask>", "[WORD] here", "in[WORD]side",
            "[WORD]   next", "a [WORD]", "[WORD][WORD]", "_[WORD]", "[WORD]é", "", " ", "\n", "''s 's'", "I'M", "3.14159 1,000,000",
            "def f(x):\n    return x**2  # comment\n", "<<mask>>", "<|endoftext|><|endoftext|>",
            "Engram runs transformer models over contexts far longer than their attention window, on the JVM.",
            "| `full` | attention | exact causal attention over every past token (growing KV cache) | `baselines` |",
            "ab ab", "é", "xx", "axxb", "ab  é xx ab", " ab", "ba ab");
        ObjectNode root = J.createObjectNode();
        root.put("format", "engram-tokenizer-reference/1");
        root.put("source", "Hugging Face tokenizers (Rust) through ai.djl.huggingface:tokenizers 0.30.0, truncation off; written once at development time");
        ArrayNode cases = root.putArray("cases");
        for (String file : List.of("bpe-readme-500.json", "sentencepiece-style.json")) {
            Path p = Path.of(a[0], file);
            for (boolean specials : new boolean[] {true, false}) {
                try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(p, Map.of("addSpecialTokens", "" + specials, "truncation", "false", "padding", "false", "modelMaxLength", "10000000"))) {
                    for (String t : texts) {
                        long[] ids = hf.encode(t, specials, false).getIds();
                        ObjectNode c = cases.addObject();
                        c.put("tokenizer", file).put("addSpecialTokens", specials).put("text", t);
                        ArrayNode arr = c.putArray("ids");
                        for (long id : ids) arr.add(id);
                        c.put("decoded", hf.decode(ids, false));
                        c.put("decodedSkippingSpecial", hf.decode(ids, true));
                    }
                }
            }
        }
        Files.writeString(Path.of(a[0], "hf-reference.json"), J.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    }
}
