package dev.engram.server;

import dev.engram.runtime.text.Tokenizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Log-probabilities in OpenAI's two answer shapes (legacy completions, chat). */
final class Logprobs {
    private Logprobs() {
    }

    /**
     * Legacy completions' shape: parallel lists of token strings, their log-probabilities (null for a prompt's first
     * token), the top alternatives as {token: logprob} (null there too), and each token's character offset in the text,
     * the first at {@code offset} (0 for a whole answer; a stream's chunk continues from the chunk before).
     */
    static Map<String, Object> completion(Tokenizer tok, List<Generation.Scored> prompt, List<Generation.Scored> generated,
                                          int offset) {
        List<Object> tokens = new ArrayList<>();
        List<Object> logprobs = new ArrayList<>();
        List<Object> tops = new ArrayList<>();
        List<Object> offsets = new ArrayList<>();
        List<Generation.Scored> all = new ArrayList<>(prompt);
        all.addAll(generated);
        for (Generation.Scored sc : all) {
            String text = tok.decode(new int[] {sc.token()});
            tokens.add(text);
            offsets.add(offset);
            offset += text.length();
            if (Double.isNaN(sc.logprob())) {
                logprobs.add(null);
                tops.add(null);
                continue;
            }
            logprobs.add(sc.logprob());
            Map<String, Object> top = new LinkedHashMap<>();
            for (int i = 0; i < sc.topIds().length; i++) {
                top.putIfAbsent(tok.decode(new int[] {sc.topIds()[i]}), sc.topLogprobs()[i]);
            }
            tops.add(top);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tokens", tokens);
        m.put("token_logprobs", logprobs);
        m.put("top_logprobs", tops);
        m.put("text_offset", offsets);
        return m;
    }

    /** The text offset after {@code scored}'s tokens, the first at {@code offset} (as {@link #completion} counts). */
    static int endOffset(Tokenizer tok, List<Generation.Scored> scored, int offset) {
        for (Generation.Scored sc : scored) {
            offset += tok.decode(new int[] {sc.token()}).length();
        }
        return offset;
    }

    /** Chat's shape: {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal: null}. */
    static Map<String, Object> chat(Tokenizer tok, List<Generation.Scored> generated) {
        List<Object> content = new ArrayList<>();
        for (Generation.Scored sc : generated) {
            Map<String, Object> entry = tokenEntry(tok, sc.token(), sc.logprob());
            List<Object> top = new ArrayList<>();
            for (int i = 0; i < sc.topIds().length; i++) {
                top.add(tokenEntry(tok, sc.topIds()[i], sc.topLogprobs()[i]));
            }
            entry.put("top_logprobs", top);
            content.add(entry);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("content", content);
        m.put("refusal", null);
        return m;
    }

    private static Map<String, Object> tokenEntry(Tokenizer tok, int id, double logprob) {
        String text = tok.decode(new int[] {id});
        byte[] utf8 = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        List<Integer> bytes = new ArrayList<>(utf8.length);
        for (byte b : utf8) {
            bytes.add(b & 0xff);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("token", text);
        m.put("logprob", logprob);
        m.put("bytes", bytes);
        return m;
    }
}
