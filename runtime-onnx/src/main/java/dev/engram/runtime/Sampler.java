package dev.engram.runtime;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits: greedy, or temperature with top-k and top-p, after OpenAI's logit bias and
 * frequency/presence penalties (counted over the tokens this sampler has chosen). Buffers are reused per call; the
 * caller's logits are never written.
 */
public final class Sampler {
    private final GenerationParams params;
    private final SplittableRandom random;
    private final double[] probs;
    private final long[] order;
    /** How often each token has been chosen so far; null when no penalty needs it. */
    private final int[] chosen;
    /** The distinct tokens chosen so far, in order (the only ones a penalty touches), and how many. */
    private final int[] distinct;
    private int distinctCount;
    /** The logit bias as parallel arrays, unpacked once (no map iteration per token). */
    private final int[] biasIds;
    private final float[] biasValues;
    /** The adjusted logits; null when nothing adjusts them. */
    private final float[] adjusted;

    public Sampler(GenerationParams params, int vocabSize) {
        for (int id : params.logitBias().keySet()) {
            if (id >= vocabSize) {
                throw dev.engram.api.InvalidInputException.outOfRange("logitBias", id,
                        "token ids in [0, " + (vocabSize - 1) + "] (the model's vocabulary)");
            }
        }
        this.params = params;
        this.random = new SplittableRandom(params.seed());
        this.probs = new double[vocabSize];
        this.order = new long[vocabSize];
        boolean penalised = params.frequencyPenalty() != 0 || params.presencePenalty() != 0;
        this.chosen = penalised ? new int[vocabSize] : null;
        this.distinct = penalised ? new int[vocabSize] : null;
        this.biasIds = params.logitBias().keySet().stream().mapToInt(Integer::intValue).toArray();
        this.biasValues = new float[biasIds.length];
        for (int i = 0; i < biasIds.length; i++) {
            biasValues[i] = params.logitBias().get(biasIds[i]).floatValue();
        }
        this.adjusted = params.adjustsLogits() ? new float[vocabSize] : null;
    }

    public int next(float[] logits) {
        int id = choose(adjust(logits));
        if (chosen != null && chosen[id]++ == 0) {
            distinct[distinctCount++] = id;
        }
        return id;
    }

    /** logit_j + bias_j - count_j * frequencyPenalty - (count_j > 0 ? presencePenalty : 0), as OpenAI defines them. */
    private float[] adjust(float[] logits) {
        if (adjusted == null) {
            return logits;
        }
        System.arraycopy(logits, 0, adjusted, 0, logits.length);
        for (int i = 0; i < biasIds.length; i++) {
            adjusted[biasIds[i]] += biasValues[i];
        }
        for (int i = 0; i < distinctCount; i++) {
            int id = distinct[i];
            adjusted[id] -= (float) (chosen[id] * params.frequencyPenalty() + params.presencePenalty());
        }
        return adjusted;
    }

    private int choose(float[] logits) {
        if (params.temperature() == 0) {
            return argmax(logits);
        }
        int v = logits.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double sum = 0;
        for (int i = 0; i < v; i++) {
            probs[i] = Math.exp((logits[i] - max) / params.temperature());
            sum += probs[i];
        }
        for (int i = 0; i < v; i++) {
            probs[i] /= sum;
            // Non-negative float bits order like the floats; MAX - bits sorts descending, ties by id.
            order[i] = ((long) (Integer.MAX_VALUE - Float.floatToIntBits((float) probs[i])) << 32) | i;
        }
        Arrays.sort(order, 0, v);
        int keep = params.topK() == 0 ? v : Math.min(v, params.topK());
        double mass = 0;
        int kept = 0;
        while (kept < keep) {
            mass += probs[(int) order[kept]];
            kept++;
            if (mass >= params.topP()) {
                break;
            }
        }
        double u = random.nextDouble() * mass;
        double acc = 0;
        for (int i = 0; i < kept; i++) {
            int id = (int) order[i];
            acc += probs[id];
            if (u < acc) {
                return id;
            }
        }
        return (int) order[kept - 1];
    }

    static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }
}
