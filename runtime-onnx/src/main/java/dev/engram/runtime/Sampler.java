package dev.engram.runtime;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks the next token from logits: greedy, or temperature with top-k and top-p. Buffers are reused per call. */
public final class Sampler {
    private final GenerationParams params;
    private final SplittableRandom random;
    private final double[] probs;
    private final long[] order;

    public Sampler(GenerationParams params, int vocabSize) {
        this.params = params;
        this.random = new SplittableRandom(params.seed());
        this.probs = new double[vocabSize];
        this.order = new long[vocabSize];
    }

    public int next(float[] logits) {
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
