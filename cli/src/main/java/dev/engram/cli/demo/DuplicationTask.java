package dev.engram.cli.demo;

import java.util.SplittableRandom;

/**
 * The Reformer paper's duplication task (arXiv 2001.04451 section 5) that the dup-* models were trained on
 * (tools/engram_model/duplication.py is the definition; this is its Java twin for evaluation): a sequence of N tokens
 * is {@code 0 w 0 w}, w of N/2 - 1 random symbols 1..127 (vocabulary 128, 0 the separator). The second w is fully
 * determined by the first; the score is the accuracy per token of the second w, teacher-forced (the logits at t
 * predict token t + 1, for the targets N/2 + 1 .. N - 1), and the share of sequences with every such token right
 * (which is also the share a greedy free-running copy gets right).
 */
public final class DuplicationTask {
    public static final int VOCAB = 128;
    public static final int SEPARATOR = 0;

    private DuplicationTask() {
    }

    /** N / 2, the index of the second separator; N must be even and at least 4. */
    public static int half(int length) {
        if (length < 4 || length % 2 != 0) {
            throw new IllegalArgumentException("length " + length + ": must be even and at least 4 (0 w 0 w with |w| >= 1)");
        }
        return length / 2;
    }

    /** One sequence {@code 0 w 0 w} of {@code length} tokens: one {@code 1 + nextInt(127)} per symbol of w, in order. */
    public static int[] sample(SplittableRandom random, int length) {
        int m = half(length);
        int[] ids = new int[length];
        ids[0] = SEPARATOR;
        for (int i = 1; i < m; i++) {
            ids[i] = 1 + random.nextInt(VOCAB - 1);
        }
        ids[m] = SEPARATOR;
        System.arraycopy(ids, 1, ids, m + 1, m - 1);
        return ids;
    }

    /** How many tokens of the second w {@code logits} [N][vocab] predict right (argmax, first maximum on a tie). */
    public static int correct(float[][] logits, int[] ids) {
        int m = half(ids.length);
        if (logits.length != ids.length) {
            throw new IllegalArgumentException("logits for " + logits.length + " positions; the sequence has " + ids.length);
        }
        int right = 0;
        for (int t = m; t < ids.length - 1; t++) {
            right += argmax(logits[t]) == ids[t + 1] ? 1 : 0;
        }
        return right;
    }

    /** The number of scored tokens of a sequence of {@code length}: |w| = N/2 - 1. */
    public static int scored(int length) {
        return half(length) - 1;
    }

    static int argmax(float[] row) {
        int best = 0;
        for (int v = 1; v < row.length; v++) {
            if (row[v] > row[best]) {
                best = v;
            }
        }
        return best;
    }
}
