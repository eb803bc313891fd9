package dev.engram.runtime.text;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.*;
import java.nio.file.*;
import java.util.*;

public class Emit {
    public static void main(String[] a) throws Exception {
        ObjectMapper J = new ObjectMapper();
        List<String> texts = new ArrayList<>(Corpus.SHORT_TEXTS);
        texts.addAll(List.of(
            "Engram runs transformer models over contexts far longer than their attention window, on the JVM.",
            "| `full` | attention | exact causal attention over every past token (growing KV cache) | `baselines` |",
            "ab ab", "é", "xx", "axxb", "ab  é xx ab", " ab", "ba ab"));
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
