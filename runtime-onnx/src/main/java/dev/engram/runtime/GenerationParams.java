package dev.engram.runtime;

import dev.engram.api.InvalidInputException;
import java.util.Map;
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
 * @param frequencyPenalty OpenAI's: each token's logit is lowered by this times the number of times the sampler has
 *                    already chosen it in this generation; in [-2, 2], 0 = off (applies to greedy decoding too)
 * @param presencePenalty  OpenAI's: each token already chosen in this generation has its logit lowered by this once;
 *                    in [-2, 2], 0 = off
 * @param logitBias   added to the named tokens' logits before every choice (OpenAI's logit_bias); values in
 *                    [-100, 100]; ids must be in the vocabulary ({@link Sampler} checks)
 */
public record GenerationParams(int maxTokens, double temperature, int topK, double topP, long seed, Set<Integer> stopTokens,
                               double frequencyPenalty, double presencePenalty, Map<Integer, Double> logitBias) {
    public static final double MAX_PENALTY = 2;
    public static final double MAX_LOGIT_BIAS = 100;

    public GenerationParams(int maxTokens, double temperature, int topK, double topP, long seed, Set<Integer> stopTokens) {
        this(maxTokens, temperature, topK, topP, seed, stopTokens, 0, 0, Map.of());
    }

    public GenerationParams {
        for (var penalty : Map.of("frequencyPenalty", frequencyPenalty, "presencePenalty", presencePenalty).entrySet()) {
            if (!(Math.abs(penalty.getValue()) <= MAX_PENALTY)) {
                throw InvalidInputException.outOfRange(penalty.getKey(), penalty.getValue(),
                        "[" + -MAX_PENALTY + ", " + MAX_PENALTY + "] (0 = off)");
            }
        }
        logitBias = Map.copyOf(logitBias);
        for (var bias : logitBias.entrySet()) {
            if (bias.getKey() < 0) {
                throw InvalidInputException.outOfRange("logitBias", bias.getKey(), "token ids >= 0");
            }
            if (!(Math.abs(bias.getValue()) <= MAX_LOGIT_BIAS)) {
                throw InvalidInputException.outOfRange("logitBias[" + bias.getKey() + "]", bias.getValue(),
                        "[" + -MAX_LOGIT_BIAS + ", " + MAX_LOGIT_BIAS + "]");
            }
        }
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
        return new GenerationParams(maxTokens, temperature, topK, topP, seed, stop, frequencyPenalty, presencePenalty,
                logitBias);
    }

    public GenerationParams withTopK(int k) {
        return new GenerationParams(maxTokens, temperature, k, topP, seed, stopTokens, frequencyPenalty, presencePenalty,
                logitBias);
    }

    public GenerationParams withPenalties(double frequency, double presence) {
        return new GenerationParams(maxTokens, temperature, topK, topP, seed, stopTokens, frequency, presence, logitBias);
    }

    public GenerationParams withLogitBias(Map<Integer, Double> bias) {
        return new GenerationParams(maxTokens, temperature, topK, topP, seed, stopTokens, frequencyPenalty,
                presencePenalty, bias);
    }

    /** Whether the sampler must adjust the logits before choosing (penalties or biases). */
    boolean adjustsLogits() {
        return frequencyPenalty != 0 || presencePenalty != 0 || !logitBias.isEmpty();
    }
}
