package dev.engram.runtime.text;

import java.util.HashMap;
import java.util.Map;

/** A model's vocabulary both ways: token -> id and id -> token (ids may have gaps). */
final class Vocab {
    private final Map<String, Integer> ids;
    private final String[] tokens;

    Vocab(Map<String, Integer> vocab) {
        this.ids = new HashMap<>(vocab);
        this.tokens = new String[vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1];
        vocab.forEach((t, id) -> tokens[id] = t);
    }

    /** The id of {@code token}, or null. */
    Integer get(String token) {
        return ids.get(token);
    }

    /** The id of {@code token}, or -1. */
    int id(String token) {
        Integer id = ids.get(token);
        return id == null ? -1 : id;
    }

    /** The token of {@code id}, or null. */
    String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    /** One more than the largest id. */
    int size() {
        return tokens.length;
    }

    /** How many tokens it holds. */
    int entries() {
        return ids.size();
    }
}
