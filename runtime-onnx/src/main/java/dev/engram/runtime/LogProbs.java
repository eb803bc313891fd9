package dev.engram.runtime;

/**
 * Log-probabilities from logits, in double: the one place `engram eval` and the server's {@code logprobs} compute them,
 * so that what the API reports for a token is exactly what eval sums.
 */
public final class LogProbs {
    private LogProbs() {
    }

    /** log sum exp(logits), with the maximum subtracted first: log p(i) = logits[i] - this. */
    public static double logNormalizer(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double sum = 0;
        for (float x : logits) {
            sum += Math.exp(x - max);
        }
        return max + Math.log(sum);
    }

    /** log softmax(logits)[token]. */
    public static double of(float[] logits, int token) {
        return logits[token] - logNormalizer(logits);
    }
}
