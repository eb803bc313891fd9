package dev.engram.spi.kernel;

import java.util.SplittableRandom;

/**
 * Runs every kernel of {@link FloatKernels#get()} on small inputs until the JIT has compiled them. Until then the
 * Vector API runs interpreted, where each vector operation is an object: a server's first append after a restart
 * took 4-10x a warm one (server README, "Restart"). Small shapes reach the JIT's invocation and loop thresholds in
 * a fraction of the time real segments take; the shapes cover the full-vector blocks and the leftover columns and
 * rows. The results are thrown away; nothing is shared with callers, so it may run on any thread at any time.
 */
public final class KernelWarmUp {
    private KernelWarmUp() {
    }

    /** {@code run(rounds, () -> false)}. */
    public static double run(int rounds) {
        return run(rounds, () -> false);
    }

    /**
     * Runs the kernels for {@code rounds} rounds (each a few microseconds once compiled), or until {@code stop} says so
     * (checked every round: real work warms the same code, and should not share the cores with this); returns a
     * checksum, so that the work cannot be optimised away.
     */
    public static double run(int rounds, java.util.function.BooleanSupplier stop) {
        FloatKernels k = FloatKernels.get();
        SplittableRandom r = new SplittableRandom(1);
        // dim 64: addProduct's blocks of two and four column vectors at 16 lanes (a memory read of a head of 64)
        int[][] shapes = {{4, 16, 24}, {5, 16, 17}, {1, 16, 33}, {4, 32, 20}, {5, 64, 19}};
        double sink = 0;
        for (int round = 0; round < rounds && !stop.getAsBoolean(); round++) {
            int[] s = shapes[round % shapes.length];
            int rows = s[0];
            int dim = s[1];
            int cols = s[2];
            float[] q = fill(r, rows * dim);
            float[][] keys = new float[dim][];
            for (int d = 0; d < dim; d++) {
                keys[d] = fill(r, cols + rows);
            }
            int tiled = (cols + rows + k.keyTile() - 1) / k.keyTile() * k.keyTile(); // whole tiles
            float[][] scores = new float[rows][tiled];
            k.scores(q, 0, rows, dim, keys, cols, scores);
            k.tiledScores(q, 0, rows, dim, fill(r, tiled * dim), cols, scores);
            k.tiledScores(q, 0, rows, dim, halves(r, tiled * dim), cols, scores);
            for (int row = 0; row < rows; row++) {
                sink += k.expMinusMax(scores[row], cols);
            }
            float[] values = fill(r, (cols + rows) * dim);
            float[][] out = new float[rows][dim];
            k.causalWeightedSum(scores, rows, values, 0, cols, dim, out);
            k.causalWeightedSum(scores, rows, halves(r, (cols + rows) * dim), 0, cols, dim, out);
            float[] product = new float[rows * dim];
            k.addProduct(product, 0, q, 0, dim, 1, fill(r, dim * dim), 0, rows, dim, dim);
            k.addProduct(product, 0, q, 0, 1, rows, fill(r, rows * dim), 0, dim / 4, rows, rows);
            float[] elu = new float[rows * dim];
            k.elu1(q, 0, elu, 0, rows * dim);
            sink += out[rows - 1][dim - 1] + product[0] + elu[elu.length - 1];
        }
        return sink;
    }

    private static short[] halves(SplittableRandom r, int n) {
        short[] a = new short[n];
        for (int i = 0; i < n; i++) {
            a[i] = FloatKernels.toBfloat16((float) (r.nextDouble() * 2 - 1));
        }
        return a;
    }

    private static float[] fill(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return a;
    }
}
