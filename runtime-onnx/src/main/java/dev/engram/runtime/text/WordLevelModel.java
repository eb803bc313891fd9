package dev.engram.runtime.text;

import dev.engram.api.InvalidInputException;
import java.util.HashMap;
import java.util.Map;

/** The WordLevel model: each word is one vocabulary entry, or {@code unk_token}. */
final class WordLevelModel implements HfTokenizer.Model {
    private final Map<String, Integer> vocab;
    private final String[] byId;
    private final String unkToken;

    WordLevelModel(Map<String, Integer> vocab, String unkToken) {
        this.vocab = new HashMap<>(vocab);
        int size = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        this.byId = new String[size];
        vocab.forEach((t, id) -> byId[id] = t);
        this.unkToken = unkToken;
    }

    @Override
    public void tokenize(String word, Ids out) {
        Integer id = vocab.get(word);
        if (id == null) {
            id = unkToken == null ? null : vocab.get(unkToken);
            if (id == null) {
                throw new InvalidInputException("text", "the word '" + word + "' is not in the tokenizer's vocabulary and its unk_token "
                        + (unkToken == null ? "is not set" : "'" + unkToken + "' is not in the vocabulary either")
                        + " (tokenizer.json model.unk_token)");
            }
        }
        out.add(id);
    }

    @Override
    public int id(String token) {
        Integer id = vocab.get(token);
        return id == null ? -1 : id;
    }

    @Override
    public String token(int id) {
        return id >= 0 && id < byId.length ? byId[id] : null;
    }

    @Override
    public int size() {
        return byId.length;
    }

    @Override
    public String describe() {
        return "WordLevel (" + vocab.size() + " tokens" + (unkToken == null ? "" : ", unk '" + unkToken + "'") + ")";
    }
}
