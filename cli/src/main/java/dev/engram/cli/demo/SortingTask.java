package dev.engram.cli.demo;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The ∞-former paper's sorting-by-frequency task (arXiv 2109.00301 section 4.1) the sorting models were
 * trained on; tools/engram_model/sorting.py is the definition, this is its Java twin for evaluation (the
 * fixture sorting-golden.json holds both to the same sequences for the same seed). Vocabulary of 22 ids:
 * 0-19 the symbols, 20 {@code <sep>}, 21 {@code <bos>}. A prompt is {@code <bos> x_1 .. x_L <sep>}; the answer
 * is the 20 symbols by decreasing count among x_1..x_L, equal counts smaller id first.
 */
public final class SortingTask {
    public static final int SYMBOLS = 20;
    public static final int SEP = 20;
    public static final int BOS = 21;
    static final int MAX_WEIGHT = 9;

    private SortingTask() {
    }

    /** A prompt ({@code <bos>}, the symbols, {@code <sep>}), its answer, and the two weight vectors drawn. */
    public record Sample(int[] prompt, int[] answer, int[] weightsInitial, int[] weightsFinal) {
        /** The input symbols x_1..x_L. */
        public int[] symbols() {
            return Arrays.copyOfRange(prompt, 1, prompt.length - 1);
        }
    }

    /**
     * Draws one sequence of {@code length} input symbols: integer weights 1..9 for p_initial then p_final (20
     * nextInt(9) each), then per symbol j = 0..L-1 the component (final when nextInt(L) < j + 1, so with
     * probability r = (j + 1) / L) and the symbol (nextInt(sum of that component's weights), the first symbol
     * whose cumulative weight exceeds it).
     */
    public static Sample sample(SplittableRandom random, int length) {
        if (length < 1) {
            throw new IllegalArgumentException("length " + length + ": must be >= 1");
        }
        int[] initial = weights(random);
        int[] fin = weights(random);
        int[] cumInitial = cumulative(initial);
        int[] cumFinal = cumulative(fin);
        int[] prompt = new int[length + 2];
        prompt[0] = BOS;
        for (int j = 0; j < length; j++) {
            int[] cum = random.nextInt(length) < j + 1 ? cumFinal : cumInitial;
            int u = random.nextInt(cum[SYMBOLS - 1]);
            int s = 0;
            while (cum[s] <= u) {
                s++;
            }
            prompt[1 + j] = s;
        }
        prompt[length + 1] = SEP;
        return new Sample(prompt, answer(Arrays.copyOfRange(prompt, 1, length + 1)), initial, fin);
    }

    /** The 20 symbols by decreasing count in {@code symbols}; equal counts: the smaller id first. */
    public static int[] answer(int[] symbols) {
        int[] counts = new int[SYMBOLS];
        for (int s : symbols) {
            if (s < 0 || s >= SYMBOLS) {
                throw new IllegalArgumentException("symbol " + s + ": must be in [0, " + (SYMBOLS - 1) + "]");
            }
            counts[s]++;
        }
        return java.util.stream.IntStream.range(0, SYMBOLS).boxed()
                .sorted((a, b) -> counts[a] != counts[b] ? Integer.compare(counts[b], counts[a]) : Integer.compare(a, b))
                .mapToInt(Integer::intValue).toArray();
    }

    private static int[] weights(SplittableRandom random) {
        int[] w = new int[SYMBOLS];
        for (int i = 0; i < SYMBOLS; i++) {
            w[i] = 1 + random.nextInt(MAX_WEIGHT);
        }
        return w;
    }

    private static int[] cumulative(int[] w) {
        int[] c = new int[w.length];
        int sum = 0;
        for (int i = 0; i < w.length; i++) {
            sum += w[i];
            c[i] = sum;
        }
        return c;
    }
}
