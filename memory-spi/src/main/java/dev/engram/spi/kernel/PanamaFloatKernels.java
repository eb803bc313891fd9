package dev.engram.spi.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernels on SIMD registers, through the Vector API ({@code jdk.incubator.vector}). Only {@link KernelChoice}
 * loads this class, by name, and only when the module is present.
 *
 * <p>Where C2's auto-vectorised loops load and store their accumulators on every step, these keep a block of
 * accumulators in registers across the whole reduction (4 rows x one vector of columns), and exp runs on
 * whole vectors ({@link FixedExp}'s steps; C2 compiles {@code Math.exp} one float at a time). Each lane adds its terms in the order
 * {@link ScalarFloatKernels} does, one fused multiply-add per term, so scores, weighted sums and products are
 * bit-identical to it, whatever is left over after the last whole vector (see {@link #scores}). Index-range
 * masks, the usual way to finish a loop, are avoided: in the engine C2 left them to the API's Java fallback,
 * which allocates, and the window attention ran at a quarter of the speed.
 *
 * <p>The register blocks (four rows x one or two vectors, one row x four vectors) are written out one by one, for
 * scores and for weighted sums alike: their accumulators must be local variables, since vectors held in an array
 * or passed to a method C2 does not inline are boxed on the heap. A broadcast is written as
 * {@code FloatVector.broadcast(SPECIES, x)} at each use, not through a helper of our own: the JDK's methods are
 * always inlined, ours only where C2's profile says the call is hot, and a single-row loop that ingest never ran
 * called such a helper out of line for the rest of the run (infini's decode read, a third of a bench's samples in
 * the per-lane fallback; docs/performance.md).
 */
final class PanamaFloatKernels implements FloatKernels {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = SPECIES.length();
    /**
     * The key tile: one vector where that is 4, 8 or 16 floats (what {@link FloatKernels#keyTile} allows); on wider
     * machines 16, and the tiled and bfloat16 kernels run as plain loops there.
     */
    private static final int TILE = LANES >= 4 && LANES <= 16 ? LANES : 16;
    private static final boolean VECTOR_TILES = TILE == LANES;
    private static final FloatKernels SCALAR = new ScalarFloatKernels(TILE);
    /** LANES bfloat16 values, and the ints they widen through. */
    private static final VectorSpecies<Short> HALVES = VectorSpecies.of(short.class, VectorShape.forBitSize(LANES * Short.SIZE));
    private static final VectorSpecies<Integer> INTS = VectorSpecies.of(int.class, SPECIES.vectorShape());

    /**
     * LANES floats from {@code floats} at {@code i}, or, where {@code halves} is given, the LANES bfloat16 values
     * there widened exactly (into float32's upper half). One loop body serves both storages: the test is the same
     * for the whole loop, which C2 unswitches.
     */
    private static FloatVector load(float[] floats, short[] halves, int i) {
        return halves == null ? FloatVector.fromArray(SPECIES, floats, i) : widen(halves, i);
    }

    /**
     * LANES bfloat16 values from {@code halves} at {@code i}, widened. {@link #load} and this stay under C2's
     * size for inlining a call however cold (35 bytes of bytecode): a call left out of line boxes its vector.
     */
    private static FloatVector widen(short[] halves, int i) {
        return ((IntVector) ShortVector.fromArray(HALVES, halves, i).convertShape(VectorOperators.S2I, INTS, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    @Override
    public String description() {
        return "panama " + SPECIES.vectorBitSize() + "-bit (" + LANES + " floats)";
    }

    /** One vector: a tile's run of one key dimension is one load. */
    @Override
    public int keyTile() {
        return TILE;
    }

    /**
     * Four rows share each key vector loaded; a single row (a decoded token) runs two tiles side by side, two
     * independent chains, so the loads, not the multiply-add latency, bound it.
     */
    @Override
    public void tiledScores(float[] q, int qOffset, int rows, int dim, float[] keyTiles, int cols, float[][] out) {
        if (!VECTOR_TILES) { // the plain loops over the same layout
            SCALAR.tiledScores(q, qOffset, rows, dim, keyTiles, cols, out);
            return;
        }
        tiledScores(q, qOffset, rows, dim, keyTiles, null, cols, out);
    }

    @Override
    public void tiledScores(float[] q, int qOffset, int rows, int dim, short[] keyTiles, int cols, float[][] out) {
        if (!VECTOR_TILES) {
            SCALAR.tiledScores(q, qOffset, rows, dim, keyTiles, cols, out);
            return;
        }
        tiledScores(q, qOffset, rows, dim, null, keyTiles, cols, out);
    }

    /** Keys from {@code floats}, or from {@code halves} where given (see {@link #load}). */
    private static void tiledScores(float[] q, int qOffset, int rows, int dim, float[] floats, short[] halves,
                                    int cols, float[][] out) {
        int tiles = (cols + LANES - 1) / LANES;
        int tileSize = LANES * dim;
        int r = 0;
        for (; r + 3 < rows; r += 4) {
            int q0 = qOffset + r * dim;
            int q1 = q0 + dim;
            int q2 = q1 + dim;
            int q3 = q2 + dim;
            int i = 0;
            for (; i + 1 < tiles; i += 2) { // two tiles: each broadcast query value feeds two multiply-adds
                int base = i * tileSize;
                FloatVector a0 = FloatVector.zero(SPECIES);
                FloatVector a1 = a0;
                FloatVector a2 = a0;
                FloatVector a3 = a0;
                FloatVector b0 = a0;
                FloatVector b1 = a0;
                FloatVector b2 = a0;
                FloatVector b3 = a0;
                for (int d = 0; d < dim; d++) {
                    FloatVector k = load(floats, halves, base + d * LANES);
                    FloatVector l = load(floats, halves, base + tileSize + d * LANES);
                    FloatVector x = FloatVector.broadcast(SPECIES, q[q0 + d]);
                    a0 = k.fma(x, a0);
                    b0 = l.fma(x, b0);
                    x = FloatVector.broadcast(SPECIES, q[q1 + d]);
                    a1 = k.fma(x, a1);
                    b1 = l.fma(x, b1);
                    x = FloatVector.broadcast(SPECIES, q[q2 + d]);
                    a2 = k.fma(x, a2);
                    b2 = l.fma(x, b2);
                    x = FloatVector.broadcast(SPECIES, q[q3 + d]);
                    a3 = k.fma(x, a3);
                    b3 = l.fma(x, b3);
                }
                a0.intoArray(out[r], i * LANES);
                a1.intoArray(out[r + 1], i * LANES);
                a2.intoArray(out[r + 2], i * LANES);
                a3.intoArray(out[r + 3], i * LANES);
                b0.intoArray(out[r], (i + 1) * LANES);
                b1.intoArray(out[r + 1], (i + 1) * LANES);
                b2.intoArray(out[r + 2], (i + 1) * LANES);
                b3.intoArray(out[r + 3], (i + 1) * LANES);
            }
            if (i < tiles) {
                int base = i * tileSize;
                FloatVector a0 = FloatVector.zero(SPECIES);
                FloatVector a1 = a0;
                FloatVector a2 = a0;
                FloatVector a3 = a0;
                for (int d = 0; d < dim; d++) {
                    FloatVector k = load(floats, halves, base + d * LANES);
                    a0 = k.fma(FloatVector.broadcast(SPECIES, q[q0 + d]), a0);
                    a1 = k.fma(FloatVector.broadcast(SPECIES, q[q1 + d]), a1);
                    a2 = k.fma(FloatVector.broadcast(SPECIES, q[q2 + d]), a2);
                    a3 = k.fma(FloatVector.broadcast(SPECIES, q[q3 + d]), a3);
                }
                a0.intoArray(out[r], i * LANES);
                a1.intoArray(out[r + 1], i * LANES);
                a2.intoArray(out[r + 2], i * LANES);
                a3.intoArray(out[r + 3], i * LANES);
            }
        }
        for (; r < rows; r++) {
            int q0 = qOffset + r * dim;
            float[] o = out[r];
            int i = 0;
            for (; i + 1 < tiles; i += 2) {
                int base = i * tileSize;
                FloatVector a0 = FloatVector.zero(SPECIES);
                FloatVector a1 = a0;
                for (int d = 0; d < dim; d++) {
                    FloatVector x = FloatVector.broadcast(SPECIES, q[q0 + d]);
                    a0 = load(floats, halves, base + d * LANES).fma(x, a0);
                    a1 = load(floats, halves, base + tileSize + d * LANES).fma(x, a1);
                }
                a0.intoArray(o, i * LANES);
                a1.intoArray(o, (i + 1) * LANES);
            }
            if (i < tiles) {
                int base = i * tileSize;
                FloatVector a0 = FloatVector.zero(SPECIES);
                for (int d = 0; d < dim; d++) {
                    a0 = load(floats, halves, base + d * LANES).fma(FloatVector.broadcast(SPECIES, q[q0 + d]), a0);
                }
                a0.intoArray(o, i * LANES);
            }
        }
    }

    /**
     * Column blocks start at 0, LANES, ... and, where cols is not a multiple of LANES, one more at cols - LANES:
     * it overlaps the block before and writes the same bits there (each lane's arithmetic is its own), so no
     * column needs a mask or a scalar loop. Below one vector, the scalar kernels run.
     */
    @Override
    public void scores(float[] q, int qOffset, int rows, int dim, float[][] keysByDim, int cols, float[][] out) {
        if (cols < LANES) {
            SCALAR.scores(q, qOffset, rows, dim, keysByDim, cols, out);
            return;
        }
        int whole = SPECIES.loopBound(cols);
        int r = 0;
        for (; r + 3 < rows; r += 4) {
            int t = 0;
            for (; t + 2 * LANES <= whole; t += 2 * LANES) {
                scoreFourRowsTwoBlocks(q, qOffset + r * dim, dim, keysByDim, t, out, r);
            }
            for (; t < whole; t += LANES) {
                scoreFourRows(q, qOffset + r * dim, dim, keysByDim, t, out, r);
            }
            if (whole < cols) {
                scoreFourRows(q, qOffset + r * dim, dim, keysByDim, cols - LANES, out, r);
            }
        }
        for (; r < rows; r++) {
            int t = 0;
            for (; t + 4 * LANES <= whole; t += 4 * LANES) {
                scoreOneRowFourBlocks(q, qOffset + r * dim, dim, keysByDim, t, out[r]);
            }
            for (; t < whole; t += LANES) {
                scoreOneRow(q, qOffset + r * dim, dim, keysByDim, t, out[r]);
            }
            if (whole < cols) {
                scoreOneRow(q, qOffset + r * dim, dim, keysByDim, cols - LANES, out[r]);
            }
        }
    }

    /**
     * Columns [t, t + 2 LANES) of rows r .. r + 3: eight accumulators, so each broadcast query value feeds two
     * multiply-adds (the loads, not the arithmetic, bound these loops).
     */
    private static void scoreFourRowsTwoBlocks(float[] q, int q0, int dim, float[][] keysByDim, int t, float[][] out,
                                               int r) {
        int q1 = q0 + dim;
        int q2 = q1 + dim;
        int q3 = q2 + dim;
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        FloatVector b0 = a0;
        FloatVector b1 = a0;
        FloatVector b2 = a0;
        FloatVector b3 = a0;
        for (int d = 0; d < dim; d++) {
            float[] kd = keysByDim[d];
            FloatVector k = FloatVector.fromArray(SPECIES, kd, t);
            FloatVector l = FloatVector.fromArray(SPECIES, kd, t + LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, q[q0 + d]);
            a0 = k.fma(x, a0);
            b0 = l.fma(x, b0);
            x = FloatVector.broadcast(SPECIES, q[q1 + d]);
            a1 = k.fma(x, a1);
            b1 = l.fma(x, b1);
            x = FloatVector.broadcast(SPECIES, q[q2 + d]);
            a2 = k.fma(x, a2);
            b2 = l.fma(x, b2);
            x = FloatVector.broadcast(SPECIES, q[q3 + d]);
            a3 = k.fma(x, a3);
            b3 = l.fma(x, b3);
        }
        a0.intoArray(out[r], t);
        a1.intoArray(out[r + 1], t);
        a2.intoArray(out[r + 2], t);
        a3.intoArray(out[r + 3], t);
        b0.intoArray(out[r], t + LANES);
        b1.intoArray(out[r + 1], t + LANES);
        b2.intoArray(out[r + 2], t + LANES);
        b3.intoArray(out[r + 3], t + LANES);
    }

    /** Columns [t, t + LANES) of rows r .. r + 3, whose queries start at q[q0], dim apart. */
    private static void scoreFourRows(float[] q, int q0, int dim, float[][] keysByDim, int t, float[][] out, int r) {
        int q1 = q0 + dim;
        int q2 = q1 + dim;
        int q3 = q2 + dim;
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        for (int d = 0; d < dim; d++) {
            FloatVector k = FloatVector.fromArray(SPECIES, keysByDim[d], t);
            a0 = k.fma(FloatVector.broadcast(SPECIES, q[q0 + d]), a0);
            a1 = k.fma(FloatVector.broadcast(SPECIES, q[q1 + d]), a1);
            a2 = k.fma(FloatVector.broadcast(SPECIES, q[q2 + d]), a2);
            a3 = k.fma(FloatVector.broadcast(SPECIES, q[q3 + d]), a3);
        }
        a0.intoArray(out[r], t);
        a1.intoArray(out[r + 1], t);
        a2.intoArray(out[r + 2], t);
        a3.intoArray(out[r + 3], t);
    }

    /** Columns [t, t + 4 LANES) of one row: four independent chains of fused multiply-adds instead of one. */
    private static void scoreOneRowFourBlocks(float[] q, int q0, int dim, float[][] keysByDim, int t, float[] out) {
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        for (int d = 0; d < dim; d++) {
            FloatVector x = FloatVector.broadcast(SPECIES, q[q0 + d]);
            float[] k = keysByDim[d];
            a0 = FloatVector.fromArray(SPECIES, k, t).fma(x, a0);
            a1 = FloatVector.fromArray(SPECIES, k, t + LANES).fma(x, a1);
            a2 = FloatVector.fromArray(SPECIES, k, t + 2 * LANES).fma(x, a2);
            a3 = FloatVector.fromArray(SPECIES, k, t + 3 * LANES).fma(x, a3);
        }
        a0.intoArray(out, t);
        a1.intoArray(out, t + LANES);
        a2.intoArray(out, t + 2 * LANES);
        a3.intoArray(out, t + 3 * LANES);
    }

    private static void scoreOneRow(float[] q, int q0, int dim, float[][] keysByDim, int t, float[] out) {
        FloatVector a0 = FloatVector.zero(SPECIES);
        for (int d = 0; d < dim; d++) {
            a0 = FloatVector.fromArray(SPECIES, keysByDim[d], t).fma(FloatVector.broadcast(SPECIES, q[q0 + d]), a0);
        }
        a0.intoArray(out, t);
    }

    /**
     * The lanes' partial sums are added in lane order at the end, not by {@code reduceLanes(ADD)}, whose order
     * the API leaves open ("may even vary over time"): a row's softmax must not change bits with JIT state.
     */
    @Override
    public float expMinusMax(float[] s, int count) {
        int whole = SPECIES.loopBound(count);
        float max = maxOf(s, count);
        float sum = expVectors(s, 0, s, 0, whole, max, false);
        for (int t = whole; t < count; t++) {
            float e = FixedExp.exp(s[t] - max);
            s[t] = e;
            sum += e;
        }
        return sum;
    }

    /**
     * The largest of s[0, count) (negative infinity for none), the same value as {@link ScalarFloatKernels#maxOf}
     * for the scores a softmax sees (finite, or negative infinity where masked). An integer maximum: a float's bits
     * {@code x} mapped to {@code x ^ ((x >> 31) & 0x7FFFFFFF)} order as signed ints as the floats do (non-negative
     * floats' bits already do; negative ones' are reversed, and the map flips them back). Not {@code FloatVector.max}:
     * Java's float maximum has NaN and -0.0 rules that x86 has no single instruction for, and such a loop ran at 0.27
     * ns a score against 0.03 for this one (and 0.5 for the scalar loop; a micro-benchmark, docs/performance.md).
     * Its own small method, vectors never passed in or out, so C2 compiles the whole chain into it whether or not
     * a caller inlines it.
     */
    private static final int NEGATIVE_INFINITY_KEY = Float.floatToRawIntBits(Float.NEGATIVE_INFINITY) ^ 0x7FFFFFFF;

    static float maxOf(float[] s, int count) {
        int whole = SPECIES.loopBound(count);
        IntVector best = IntVector.broadcast(INTS, NEGATIVE_INFINITY_KEY);
        for (int t = 0; t < whole; t += LANES) {
            IntVector x = FloatVector.fromArray(SPECIES, s, t).reinterpretAsInts();
            best = best.max(x.lanewise(VectorOperators.XOR,
                    x.lanewise(VectorOperators.ASHR, 31).lanewise(VectorOperators.AND, 0x7FFFFFFF)));
        }
        int key = best.reduceLanes(VectorOperators.MAX);
        float max = Float.intBitsToFloat(key ^ ((key >> 31) & 0x7FFFFFFF));
        for (int t = whole; t < count; t++) {
            max = s[t] > max ? s[t] : max;
        }
        return max;
    }

    /**
     * dst[dstOffset + i] = exp(src[srcOffset + i] - shift), or with {@code elu} ELU + 1 of it (shift 0), for i
     * &lt; whole (a multiple of LANES), by {@link FixedExp}'s operations lane by lane; returns the sum of the
     * values written, each lane's partial sum added in lane order. The loop keeps its vectors in this method:
     * a vector passed to or returned from a call C2 does not inline is boxed on the heap, and a helper this
     * size is not inlined once its C1 code is large.
     */
    private static float expVectors(float[] src, int srcOffset, float[] dst, int dstOffset, int whole, float shift,
                                    boolean elu) {
        FloatVector sums = FloatVector.zero(SPECIES);
        for (int i = 0; i < whole; i += LANES) {
            FloatVector in = FloatVector.fromArray(SPECIES, src, srcOffset + i);
            FloatVector x = elu ? in.min(0f) : in.sub(shift);
            VectorMask<Float> underflow = x.compare(VectorOperators.LT, FixedExp.LOWEST);
            IntVector n = (IntVector) x.mul(FixedExp.LOG2E).sub(0.5f).convert(VectorOperators.F2I, 0);
            FloatVector fn = (FloatVector) n.convert(VectorOperators.I2F, 0);
            FloatVector r = fn.fma(FloatVector.broadcast(SPECIES, -FixedExp.LN2_HI), x);
            r = fn.fma(FloatVector.broadcast(SPECIES, -FixedExp.LN2_LO), r);
            FloatVector y = FloatVector.broadcast(SPECIES, FixedExp.P5).fma(r, FloatVector.broadcast(SPECIES, FixedExp.P4));
            y = y.fma(r, FloatVector.broadcast(SPECIES, FixedExp.P3));
            y = y.fma(r, FloatVector.broadcast(SPECIES, FixedExp.P2));
            y = y.fma(r, FloatVector.broadcast(SPECIES, FixedExp.P1));
            y = y.fma(r, FloatVector.broadcast(SPECIES, FixedExp.P0));
            y = y.fma(r.mul(r), r).add(1f);
            FloatVector scale = n.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            FloatVector e = y.mul(scale).blend(0f, underflow);
            if (elu) {
                e = e.blend(in.add(1f), in.compare(VectorOperators.GT, 0f));
            }
            e.intoArray(dst, dstOffset + i);
            sums = sums.add(e);
        }
        float sum = 0f;
        for (int lane = 0; lane < LANES; lane++) {
            sum += sums.lane(lane);
        }
        return sum;
    }

    /** Value columns in blocks of LANES, the last one overlapping where dim is not a multiple (as in {@link #scores}). */
    @Override
    public void causalWeightedSum(float[][] weights, int rows, float[] values, int valueOffset, int count, int dim,
                                  float[][] out) {
        if (dim < LANES) {
            SCALAR.causalWeightedSum(weights, rows, values, valueOffset, count, dim, out);
            return;
        }
        causalWeightedSum(weights, rows, values, null, valueOffset, count, dim, out);
    }

    @Override
    public void causalWeightedSum(float[][] weights, int rows, short[] values, int valueOffset, int count, int dim,
                                  float[][] out) {
        if (dim < LANES || !VECTOR_TILES) {
            SCALAR.causalWeightedSum(weights, rows, values, valueOffset, count, dim, out);
            return;
        }
        causalWeightedSum(weights, rows, null, values, valueOffset, count, dim, out);
    }

    /** Value rows from {@code floats}, or from {@code halves} where given (see {@link #load}). */
    private static void causalWeightedSum(float[][] weights, int rows, float[] floats, short[] halves, int valueOffset,
                                          int count, int dim, float[][] out) {
        int whole = SPECIES.loopBound(dim);
        int r = 0;
        for (; r + 3 < rows; r += 4) {
            int j = 0;
            for (; j + 2 * LANES <= whole; j += 2 * LANES) {
                weighFourRowsTwoBlocks(weights, r, floats, halves, valueOffset + j, dim, count + r, j, out);
            }
            for (; j < whole; j += LANES) {
                weighFourRows(weights, r, floats, halves, valueOffset + j, dim, count + r, j, out);
            }
            if (whole < dim) {
                weighFourRows(weights, r, floats, halves, valueOffset + dim - LANES, dim, count + r, dim - LANES, out);
            }
        }
        for (; r < rows; r++) {
            int j = 0;
            for (; j + 4 * LANES <= whole; j += 4 * LANES) {
                weighOneRowFourBlocks(weights[r], floats, halves, valueOffset + j, dim, count + r, j, out[r]);
            }
            for (; j < whole; j += LANES) {
                weighOneRow(weights[r], floats, halves, valueOffset + j, dim, count + r, j, out[r]);
            }
            if (whole < dim) {
                weighOneRow(weights[r], floats, halves, valueOffset + dim - LANES, dim, count + r, dim - LANES, out[r]);
            }
        }
    }

    /** Columns [j, j + 2 LANES) of rows r .. r + 3 (as {@link #weighFourRows}): each broadcast weight feeds two. */
    private static void weighFourRowsTwoBlocks(float[][] weights, int r, float[] floats, short[] halves, int base,
                                               int dim, int shared, int j, float[][] out) {
        float[] w0 = weights[r];
        float[] w1 = weights[r + 1];
        float[] w2 = weights[r + 2];
        float[] w3 = weights[r + 3];
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        FloatVector b0 = a0;
        FloatVector b1 = a0;
        FloatVector b2 = a0;
        FloatVector b3 = a0;
        for (int t = 0; t < shared; t++) {
            int vt = base + t * dim;
            FloatVector v = load(floats, halves, vt);
            FloatVector u = load(floats, halves, vt + LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, w0[t]);
            a0 = v.fma(x, a0);
            b0 = u.fma(x, b0);
            x = FloatVector.broadcast(SPECIES, w1[t]);
            a1 = v.fma(x, a1);
            b1 = u.fma(x, b1);
            x = FloatVector.broadcast(SPECIES, w2[t]);
            a2 = v.fma(x, a2);
            b2 = u.fma(x, b2);
            x = FloatVector.broadcast(SPECIES, w3[t]);
            a3 = v.fma(x, a3);
            b3 = u.fma(x, b3);
        }
        for (int extra = 1; extra <= 3; extra++) { // row r + i sees i more value rows
            int vt = base + (shared + extra - 1) * dim;
            FloatVector v = load(floats, halves, vt);
            FloatVector u = load(floats, halves, vt + LANES);
            if (extra <= 1) {
                FloatVector x = FloatVector.broadcast(SPECIES, w1[shared]);
                a1 = v.fma(x, a1);
                b1 = u.fma(x, b1);
            }
            if (extra <= 2) {
                FloatVector x = FloatVector.broadcast(SPECIES, w2[shared + extra - 1]);
                a2 = v.fma(x, a2);
                b2 = u.fma(x, b2);
            }
            FloatVector x = FloatVector.broadcast(SPECIES, w3[shared + extra - 1]);
            a3 = v.fma(x, a3);
            b3 = u.fma(x, b3);
        }
        a0.intoArray(out[r], j);
        a1.intoArray(out[r + 1], j);
        a2.intoArray(out[r + 2], j);
        a3.intoArray(out[r + 3], j);
        b0.intoArray(out[r], j + LANES);
        b1.intoArray(out[r + 1], j + LANES);
        b2.intoArray(out[r + 2], j + LANES);
        b3.intoArray(out[r + 3], j + LANES);
    }

    /** Columns [j, j + LANES) of rows r .. r + 3; row r sees {@code shared} value rows, each next row one more. */
    private static void weighFourRows(float[][] weights, int r, float[] floats, short[] halves, int base, int dim,
                                      int shared, int j,
                                      float[][] out) {
        float[] w0 = weights[r];
        float[] w1 = weights[r + 1];
        float[] w2 = weights[r + 2];
        float[] w3 = weights[r + 3];
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        for (int t = 0; t < shared; t++) {
            FloatVector v = load(floats, halves, base + t * dim);
            a0 = v.fma(FloatVector.broadcast(SPECIES, w0[t]), a0);
            a1 = v.fma(FloatVector.broadcast(SPECIES, w1[t]), a1);
            a2 = v.fma(FloatVector.broadcast(SPECIES, w2[t]), a2);
            a3 = v.fma(FloatVector.broadcast(SPECIES, w3[t]), a3);
        }
        FloatVector v = load(floats, halves, base + shared * dim);
        a1 = v.fma(FloatVector.broadcast(SPECIES, w1[shared]), a1);
        a2 = v.fma(FloatVector.broadcast(SPECIES, w2[shared]), a2);
        a3 = v.fma(FloatVector.broadcast(SPECIES, w3[shared]), a3);
        v = load(floats, halves, base + (shared + 1) * dim);
        a2 = v.fma(FloatVector.broadcast(SPECIES, w2[shared + 1]), a2);
        a3 = v.fma(FloatVector.broadcast(SPECIES, w3[shared + 1]), a3);
        a3 = load(floats, halves, base + (shared + 2) * dim).fma(FloatVector.broadcast(SPECIES, w3[shared + 2]), a3);
        a0.intoArray(out[r], j);
        a1.intoArray(out[r + 1], j);
        a2.intoArray(out[r + 2], j);
        a3.intoArray(out[r + 3], j);
    }

    /** Columns [j, j + 4 LANES) of one row: four independent chains instead of one. */
    private static void weighOneRowFourBlocks(float[] w, float[] floats, short[] halves, int base, int dim, int seen,
                                              int j,
                                              float[] out) {
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        for (int t = 0; t < seen; t++) {
            FloatVector x = FloatVector.broadcast(SPECIES, w[t]);
            int v = base + t * dim;
            a0 = load(floats, halves, v).fma(x, a0);
            a1 = load(floats, halves, v + LANES).fma(x, a1);
            a2 = load(floats, halves, v + 2 * LANES).fma(x, a2);
            a3 = load(floats, halves, v + 3 * LANES).fma(x, a3);
        }
        a0.intoArray(out, j);
        a1.intoArray(out, j + LANES);
        a2.intoArray(out, j + 2 * LANES);
        a3.intoArray(out, j + 3 * LANES);
    }

    private static void weighOneRow(float[] w, float[] floats, short[] halves, int base, int dim, int seen, int j,
                                    float[] out) {
        FloatVector a = FloatVector.zero(SPECIES);
        for (int t = 0; t < seen; t++) {
            a = load(floats, halves, base + t * dim).fma(FloatVector.broadcast(SPECIES, w[t]), a);
        }
        a.intoArray(out, j);
    }

    /**
     * Whole vectors in blocks of four rows by two vectors (eight running sums, as {@link #tiledScores} keeps: with
     * two, each multiply-add waited for the one before it in its chain, and the infini memory's reads and writes ran
     * at a third of the tiles' speed), then what is left of rows and vectors (a last row four vectors at a time: a
     * decoded token's read is one row), then the scalar steps for the columns left (an overlapping block would add
     * twice). Every sum runs over c in order from its old value, as the scalar
     * kernels' do: the blocking changes no bit.
     */
    @Override
    public void rotateHalves(float[] src, int s, float[] dst, int d, float[] cos, float[] sin, int c0, int half) {
        int i = 0;
        for (int whole = SPECIES.loopBound(half); i < whole; i += LANES) {
            FloatVector x0 = FloatVector.fromArray(SPECIES, src, s + i);
            FloatVector x1 = FloatVector.fromArray(SPECIES, src, s + i + half);
            FloatVector c = FloatVector.fromArray(SPECIES, cos, c0 + i);
            FloatVector n = FloatVector.fromArray(SPECIES, sin, c0 + i);
            x0.mul(c).sub(x1.mul(n)).intoArray(dst, d + i);
            x1.mul(c).add(x0.mul(n)).intoArray(dst, d + i + half);
        }
        ScalarFloatKernels.rotatePairs(src, s, dst, d, cos, sin, c0, half, i); // the lanes left
    }

    @Override
    public void addProduct(float[] out, int outOffset, int outRow, float[] a, int aOffset, int aRow, int aCol,
                           float[] b, int bOffset, int bRow, int rows, int reduce, int width) {
        int whole = SPECIES.loopBound(width);
        int pairs = whole - whole % (2 * LANES); // columns covered by two-vector blocks
        int r = 0;
        for (; r + 3 < rows; r += 4) {
            int o0 = outOffset + r * outRow;
            int o1 = o0 + outRow;
            int o2 = o1 + outRow;
            int o3 = o2 + outRow;
            int x0 = aOffset + r * aRow;
            int x1 = x0 + aRow;
            int x2 = x1 + aRow;
            int x3 = x2 + aRow;
            for (int j = 0; j < pairs; j += 2 * LANES) {
                int k = j + LANES;
                FloatVector s0 = FloatVector.fromArray(SPECIES, out, o0 + j);
                FloatVector s1 = FloatVector.fromArray(SPECIES, out, o1 + j);
                FloatVector s2 = FloatVector.fromArray(SPECIES, out, o2 + j);
                FloatVector s3 = FloatVector.fromArray(SPECIES, out, o3 + j);
                FloatVector t0 = FloatVector.fromArray(SPECIES, out, o0 + k);
                FloatVector t1 = FloatVector.fromArray(SPECIES, out, o1 + k);
                FloatVector t2 = FloatVector.fromArray(SPECIES, out, o2 + k);
                FloatVector t3 = FloatVector.fromArray(SPECIES, out, o3 + k);
                for (int c = 0; c < reduce; c++) {
                    int m = bOffset + c * bRow;
                    FloatVector u = FloatVector.fromArray(SPECIES, b, m + j);
                    FloatVector v = FloatVector.fromArray(SPECIES, b, m + k);
                    FloatVector x = FloatVector.broadcast(SPECIES, a[x0 + c * aCol]);
                    s0 = u.fma(x, s0);
                    t0 = v.fma(x, t0);
                    x = FloatVector.broadcast(SPECIES, a[x1 + c * aCol]);
                    s1 = u.fma(x, s1);
                    t1 = v.fma(x, t1);
                    x = FloatVector.broadcast(SPECIES, a[x2 + c * aCol]);
                    s2 = u.fma(x, s2);
                    t2 = v.fma(x, t2);
                    x = FloatVector.broadcast(SPECIES, a[x3 + c * aCol]);
                    s3 = u.fma(x, s3);
                    t3 = v.fma(x, t3);
                }
                s0.intoArray(out, o0 + j);
                s1.intoArray(out, o1 + j);
                s2.intoArray(out, o2 + j);
                s3.intoArray(out, o3 + j);
                t0.intoArray(out, o0 + k);
                t1.intoArray(out, o1 + k);
                t2.intoArray(out, o2 + k);
                t3.intoArray(out, o3 + k);
            }
            if (pairs < whole) { // one vector of columns left: four sums
                FloatVector s0 = FloatVector.fromArray(SPECIES, out, o0 + pairs);
                FloatVector s1 = FloatVector.fromArray(SPECIES, out, o1 + pairs);
                FloatVector s2 = FloatVector.fromArray(SPECIES, out, o2 + pairs);
                FloatVector s3 = FloatVector.fromArray(SPECIES, out, o3 + pairs);
                for (int c = 0; c < reduce; c++) {
                    FloatVector u = FloatVector.fromArray(SPECIES, b, bOffset + c * bRow + pairs);
                    s0 = u.fma(FloatVector.broadcast(SPECIES, a[x0 + c * aCol]), s0);
                    s1 = u.fma(FloatVector.broadcast(SPECIES, a[x1 + c * aCol]), s1);
                    s2 = u.fma(FloatVector.broadcast(SPECIES, a[x2 + c * aCol]), s2);
                    s3 = u.fma(FloatVector.broadcast(SPECIES, a[x3 + c * aCol]), s3);
                }
                s0.intoArray(out, o0 + pairs);
                s1.intoArray(out, o1 + pairs);
                s2.intoArray(out, o2 + pairs);
                s3.intoArray(out, o3 + pairs);
            }
        }
        int quads = whole - whole % (4 * LANES); // columns covered by four-vector blocks
        for (; r < rows; r++) { // the last rows (a decoded token's read: one): four vectors of columns at a time
            int o0 = outOffset + r * outRow;
            int x0 = aOffset + r * aRow;
            int j = 0;
            for (; j < quads; j += 4 * LANES) {
                FloatVector s0 = FloatVector.fromArray(SPECIES, out, o0 + j);
                FloatVector s1 = FloatVector.fromArray(SPECIES, out, o0 + j + LANES);
                FloatVector s2 = FloatVector.fromArray(SPECIES, out, o0 + j + 2 * LANES);
                FloatVector s3 = FloatVector.fromArray(SPECIES, out, o0 + j + 3 * LANES);
                for (int c = 0; c < reduce; c++) {
                    int m = bOffset + c * bRow + j;
                    FloatVector x = FloatVector.broadcast(SPECIES, a[x0 + c * aCol]);
                    s0 = FloatVector.fromArray(SPECIES, b, m).fma(x, s0);
                    s1 = FloatVector.fromArray(SPECIES, b, m + LANES).fma(x, s1);
                    s2 = FloatVector.fromArray(SPECIES, b, m + 2 * LANES).fma(x, s2);
                    s3 = FloatVector.fromArray(SPECIES, b, m + 3 * LANES).fma(x, s3);
                }
                s0.intoArray(out, o0 + j);
                s1.intoArray(out, o0 + j + LANES);
                s2.intoArray(out, o0 + j + 2 * LANES);
                s3.intoArray(out, o0 + j + 3 * LANES);
            }
            for (; j < whole; j += LANES) {
                FloatVector s0 = FloatVector.fromArray(SPECIES, out, o0 + j);
                for (int c = 0; c < reduce; c++) {
                    s0 = FloatVector.fromArray(SPECIES, b, bOffset + c * bRow + j).fma(FloatVector.broadcast(SPECIES, a[x0 + c * aCol]), s0);
                }
                s0.intoArray(out, o0 + j);
            }
        }
        if (whole < width) {
            for (r = 0; r < rows; r++) {
                int o = outOffset + r * outRow;
                int x = aOffset + r * aRow;
                for (int j = whole; j < width; j++) {
                    float sum = out[o + j];
                    for (int c = 0; c < reduce; c++) {
                        sum = Math.fma(a[x + c * aCol], b[bOffset + c * bRow + j], sum);
                    }
                    out[o + j] = sum;
                }
            }
        }
    }

    @Override
    public void elu1(float[] src, int srcOffset, float[] dst, int dstOffset, int count) {
        int whole = SPECIES.loopBound(count);
        expVectors(src, srcOffset, dst, dstOffset, whole, 0f, true);
        for (int i = whole; i < count; i++) {
            float x = src[srcOffset + i];
            dst[dstOffset + i] = x > 0f ? x + 1f : FixedExp.exp(x);
        }
    }
}
