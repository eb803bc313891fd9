package dev.engram.runtime.text;

import dev.engram.api.InvalidInputException;
import java.util.Map;

/** The WordLevel model: each word is one vocabulary entry, or {@code unk_token}. */
final class WordLevelModel implements HfTokenizer.Model {
    private final Vocab vocab;
    private final String unkToken;

    WordLevelModel(Map<String, Integer> vocab, String unkToken) {
        this.vocab = new Vocab(vocab);
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
    public int unknownId() {
        return unkToken == null ? -1 : vocab.id(unkToken);
    }

    @Override
    public int id(String token) {
        return vocab.id(token);
    }

    @Override
    public String token(int id) {
        return vocab.token(id);
    }

    @Override
    public int size() {
        return vocab.size();
    }

    @Override
    public String describe() {
        return "WordLevel (" + vocab.entries() + " tokens" + (unkToken == null ? "" : ", unk '" + unkToken + "'") + ")";
    }
}
