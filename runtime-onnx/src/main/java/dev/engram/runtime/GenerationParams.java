package dev.engram.runtime;

import dev.engram.api.InvalidInputException;
import java.util.Set;

/**
 * How {@link Engine#generate} picks tokens.
 *
 * @param maxTokens   tokens to generate at most (>= 0)
 * @param temperature 0 = greedy (argmax, lowest id on ties); otherwise logits are divided by it
 * @param topK        keep the k most likely tokens; 0 = all
 * @param topP        nucleus: keep the most likely tokens whose probabilities sum to at least p; 1 = all
 * @param seed        seeds the sampler; the same seed, prompt and state give the same tokens
 * @param stopTokens  generation ends before emitting any of these
 */
public record GenerationParams(int maxTokens, double temperature, int topK, double topP, long seed, Set<Integer> stopTokens) {
    public GenerationParams {
        if (maxTokens < 0) {
            throw InvalidInputException.outOfRange("maxTokens", maxTokens, ">= 0");
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw InvalidInputException.outOfRange("temperature", temperature, "a finite number >= 0 (0 = greedy)");
        }
        if (topK < 0) {
            throw InvalidInputException.outOfRange("topK", topK, ">= 0 (0 = no limit)");
        }
        if (!(topP > 0 && topP <= 1)) {
            throw InvalidInputException.outOfRange("topP", topP, "(0, 1]");
        }
        stopTokens = Set.copyOf(stopTokens);
    }

    public static GenerationParams greedy(int maxTokens) {
        return new GenerationParams(maxTokens, 0, 0, 1, 0, Set.of());
    }

    public static GenerationParams sampled(int maxTokens, double temperature, double topP, long seed) {
        return new GenerationParams(maxTokens, temperature, 0, topP, seed, Set.of());
    }

    public GenerationParams withStopTokens(Set<Integer> stop) {
        return new GenerationParams(maxTokens, temperature, topK, topP, seed, stop);
    }

    public GenerationParams withTopK(int k) {
        return new GenerationParams(maxTokens, temperature, k, topP, seed, stopTokens);
    }
}
