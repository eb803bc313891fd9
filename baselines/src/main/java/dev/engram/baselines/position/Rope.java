package dev.engram.baselines.position;

import dev.engram.api.InvalidInputException;
import dev.engram.spi.kernel.FloatKernels;

/**
 * Rotary position embedding (Su et al. 2021) in the "rotate half" convention of GPT-NeoX, LLaMA and
 * Hugging Face {@code rotate_half}: dimension {@code i} (0 <= i < d/2) pairs with {@code i + d/2};
 * the pair turns by angle {@code p * theta^(-2i/d)} where {@code p} is the token's absolute position
 * in its sequence (from 0, across segments):
 * <pre>
 *   x'[i]       = x[i] cos(a_i) - x[i + d/2] sin(a_i)
 *   x'[i + d/2] = x[i + d/2] cos(a_i) + x[i] sin(a_i)
 * </pre>
 * cos and sin are computed in double precision (a float32 product p * freq loses the angle's low bits at
 * large positions) and rounded to float32; the rotation itself is float32. A run of positions
 * {@code [s, s + n)} takes its values from the angle-addition identities, cos((s + t) f) = cos(s f) cos(t f) -
 * sin(s f) sin(t f) and sin((s + t) f) = sin(s f) cos(t f) + cos(s f) sin(t f), with cos(t f) and sin(t f) kept in
 * a table made once per offset t: every layer of every segment asks for a new run of the same length, and two
 * calls of {@code Math.cos}/{@code Math.sin} per pair and row were the larger part of the rotation's cost. The
 * identities in double carry an error of a few double units, far below float32's rounding (6e-8): a value can
 * differ from the direct (float) cos(p f) by one float32 unit where it lies near a rounding boundary, and near a zero
 * of cos or sin by a few double units of the angle, which the direct product p f is itself rounded to.
 *
 * <p>An instance keeps a reusable table of cos/sin for a run of consecutive positions; it allocates
 * only when a longer run than any before is asked for. One per attention: {@link #prepare} writes the table,
 * so only one thread may call it; after {@code prepare(start, n)}, {@code rotate(.., start, <= n)} only reads
 * it, and several threads may rotate at once (the attention's heads on {@code ParallelHeads}' helpers).
 */
public final class Rope {
    private static final FloatKernels KERNELS = FloatKernels.get();
    private final int dim;
    private final int half;
    private final double theta;
    private final RopeScaling scaling;
    private final double[] inverseFrequency;
    private float[] cos = new float[0];
    private float[] sin = new float[0];
    /** cos(t f_i) and sin(t f_i) for offsets t in [0, offsetLength), row t at t * half: see the class comment. */
    private double[] offsetCos = new double[0];
    private double[] offsetSin = new double[0];
    private int offsetLength;
    private final double[] startCos;
    private final double[] startSin;
    private long tableStart = -1;
    private int tableLength;

    /**
     * @param dim   the rotated width (the head's key dim); must be even
     * @param theta the base, > 0 (10000 in the original paper)
     */
    public Rope(int dim, double theta) {
        this(dim, theta, RopeScaling.NONE);
    }

    /**
     * @param dim     the rotated width (the head's key dim); must be even
     * @param theta   the base, > 0
     * @param scaling a transform of each pair's frequency ({@link RopeScaling#NONE} for none)
     */
    public Rope(int dim, double theta, RopeScaling scaling) {
        java.util.Objects.requireNonNull(scaling, "scaling is null");
        if (dim <= 0 || dim % 2 != 0) {
            throw InvalidInputException.outOfRange("keyDim", dim, "an even number >= 2 for rotary encoding");
        }
        if (!(theta > 0) || Double.isInfinite(theta)) {
            throw InvalidInputException.outOfRange("ropeTheta", theta, "a finite number > 0");
        }
        this.dim = dim;
        this.half = dim / 2;
        this.theta = theta;
        this.scaling = scaling;
        this.inverseFrequency = new double[half];
        this.startCos = new double[half];
        this.startSin = new double[half];
        for (int i = 0; i < half; i++) {
            inverseFrequency[i] = scaling.apply(Math.pow(theta, -2.0 * i / dim));
        }
    }

    public int dim() {
        return dim;
    }

    public double theta() {
        return theta;
    }

    public RopeScaling scaling() {
        return scaling;
    }

    /** theta^(-2i/d) for pair {@code i}, after the scaling. */
    public double frequency(int i) {
        return inverseFrequency[i];
    }

    /**
     * Prepares cos/sin for positions {@code [start, start + count)}. A run that starts where the table does and is
     * longer (a segment in progress growing by a token while decoding) computes only the positions it adds.
     */
    public void prepare(long start, int count) {
        if (start == tableStart && count <= tableLength) {
            return;
        }
        int from = start == tableStart ? tableLength : 0;
        if (cos.length < count * half) {
            int capacity = Math.max(count, 2 * cos.length / Math.max(half, 1)) * half;
            cos = java.util.Arrays.copyOf(cos, capacity);
            sin = java.util.Arrays.copyOf(sin, capacity);
        }
        ensureOffsets(count);
        if (from == 0) {
            double startPosition = (double) start;
            for (int i = 0; i < half; i++) {
                double angle = startPosition * inverseFrequency[i];
                startCos[i] = Math.cos(angle);
                startSin[i] = Math.sin(angle);
            }
        }
        for (int t = from; t < count; t++) {
            int base = t * half;
            for (int i = 0; i < half; i++) {
                double c = offsetCos[base + i];
                double s = offsetSin[base + i];
                cos[base + i] = (float) (startCos[i] * c - startSin[i] * s);
                sin[base + i] = (float) (startSin[i] * c + startCos[i] * s);
            }
        }
        tableStart = start;
        tableLength = count;
    }

    /** Extends the offsets' table to at least {@code count} offsets, computing only the ones it adds. */
    private void ensureOffsets(int count) {
        if (count <= offsetLength) {
            return;
        }
        int capacity = Math.max(count, 2 * offsetLength);
        offsetCos = java.util.Arrays.copyOf(offsetCos, capacity * half);
        offsetSin = java.util.Arrays.copyOf(offsetSin, capacity * half);
        for (int t = offsetLength; t < capacity; t++) {
            for (int i = 0; i < half; i++) {
                double angle = t * inverseFrequency[i];
                offsetCos[t * half + i] = Math.cos(angle);
                offsetSin[t * half + i] = Math.sin(angle);
            }
        }
        offsetLength = capacity;
    }

    /**
     * Rotates {@code count} rows of width {@link #dim} from {@code src[srcOffset..]} into
     * {@code dst[dstOffset..]} (rows contiguous), row t at position {@code start + t}. Call
     * {@link #prepare}(start, >= count) first. {@code src} and {@code dst} may be the same range.
     */
    public void rotate(float[] src, int srcOffset, float[] dst, int dstOffset, long start, int count) {
        rotate(src, srcOffset, dst, dstOffset, start, 0, count);
    }

    /**
     * As {@link #rotate(float[], int, float[], int, long, int)}, but only rows [from, count) (row t still at
     * {@code srcOffset + t * dim}, position {@code start + t}): a segment in progress rotates only its new rows.
     */
    public void rotate(float[] src, int srcOffset, float[] dst, int dstOffset, long start, int from, int count) {
        if (start != tableStart || count > tableLength) {
            prepare(start, count);
        }
        for (int t = from; t < count; t++) {
            KERNELS.rotateHalves(src, srcOffset + t * dim, dst, dstOffset + t * dim, cos, sin, t * half, half);
        }
    }
}
