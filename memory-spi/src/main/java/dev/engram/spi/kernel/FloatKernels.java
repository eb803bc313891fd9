package dev.engram.spi.kernel;

/**
 * The float32 loops that attention and memory plugins spend their time in, behind one interface so they
 * can run on SIMD registers where the JVM offers them (the incubating Vector API, {@code jdk.incubator.vector})
 * and as plain loops where it does not.
 *
 * <p>{@link #get()} picks one per process: {@link PanamaFloatKernels} when the JVM was started with
 * {@code --add-modules jdk.incubator.vector} (the {@code engram} launcher, the test and benchmark JVMs do),
 * else {@link ScalarFloatKernels}, with one warning line. {@code -Dengram.kernels=scalar} forces the plain loops.
 *
 * <p>Exactness: {@link #rotateHalves} rounds each product and sum as the plain loop does; {@link #scores},
 * {@link #causalWeightedSum} and {@link #addProduct} add their terms in a fixed order, each step one fused
 * multiply-add, and exp is one fixed sequence of IEEE operations
 * ({@code FixedExp}), so every value both implementations compute is the same bits, interpreted or compiled;
 * only {@link #expMinusMax}'s returned sum is added in a different order (the SIMD one in lanes, then across
 * them), within float rounding. Within one implementation a result never depends on how a caller blocks its
 * rows or on the thread that runs it, so a row computed alone equals the same row computed in a block.
 */
public interface FloatKernels {

    /** The kernels this process uses (chosen once, at first use). */
    static FloatKernels get() {
        return KernelChoice.CHOSEN;
    }

    /** What runs the loops, for logs and benchmark headers: "panama 512-bit (16 floats)" or "scalar". */
    String description();

    /**
     * out[r][t] = sum over d &lt; dim, in order, of q[qOffset + r * dim + d] * keysByDim[d][t], for r &lt; rows and
     * t &lt; cols: the attention scores of {@code rows} consecutive query rows against keys stored transposed
     * (one array per key dimension, indexed by token).
     */
    void scores(float[] q, int qOffset, int rows, int dim, float[][] keysByDim, int cols, float[][] out);

    /**
     * Tokens per tile of {@link #tiledScores}' key layout (the SIMD width, or 16 for the plain loops): a power of two
     * from 4 to 16.
     */
    int keyTile();

    /**
     * Where dimension {@code d} of token {@code t}'s key lies in {@link #tiledScores}' layout: the keys of tokens
     * [i * tile, (i + 1) * tile) form tile i, {@code dim} runs of {@code tile} floats, one per key dimension. A
     * decoded query reads its keys front to back in one stream (the transposed layout of {@link #scores} reads
     * {@code dim} arrays at once, too many streams for the prefetcher at long context), and a tile's run is one
     * SIMD vector of scores.
     */
    static int tiledKeyIndex(int tile, int dim, int t, int d) {
        return (t / tile) * tile * dim + d * tile + (t % tile);
    }

    /**
     * out[r][t] = sum over d &lt; dim, in order, of q[qOffset + r * dim + d] * (dimension d of key t in
     * {@code keyTiles}, laid out by {@link #tiledKeyIndex} with {@link #keyTile()}), for r &lt; rows and t &lt; cols
     * rounded up to whole tiles: what {@link #scores} computes, term by term the same, from the tiled layout. Scores
     * past {@code cols} in the last tile are written too (from whatever those key slots hold); {@code out}'s rows and
     * {@code keyTiles} must reach the end of that tile.
     */
    void tiledScores(float[] q, int qOffset, int rows, int dim, float[] keyTiles, int cols, float[][] out);

    /**
     * {@link #tiledScores} over keys stored as bfloat16 ({@link #toBfloat16}): each key value is widened to the float
     * it stands for, exactly, and the scores are then what {@link #tiledScores} gives for those floats, bit for bit.
     */
    void tiledScores(float[] q, int qOffset, int rows, int dim, short[] keyTiles, int cols, float[][] out);

    /** {@link #causalWeightedSum} over value rows stored as bfloat16, widened exactly: the same sums, bit for bit. */
    void causalWeightedSum(float[][] weights, int rows, short[] values, int valueOffset, int count, int dim,
                           float[][] out);

    /**
     * The bfloat16 nearest to {@code x} (ties to even), as its 16 bits: float32's sign, exponent and top 7 stored
     * mantissa bits (8 significant bits), so it is within 2^-8 of x relative. Infinities stay infinite, a NaN stays a
     * NaN, and a finite x beyond bfloat16's largest value (about 3.39e38) becomes infinite, as in PyTorch.
     */
    static short toBfloat16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) {
            return (short) ((bits >>> 16) | 0x40); // a quiet NaN: rounding could carry a NaN's payload into infinity
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1); // half an ulp, rounding ties to the even neighbour
        return (short) ((bits + rounding) >>> 16);
    }

    /** The float a bfloat16 stands for (exact: the 16 bits are float32's upper half). */
    static float fromBfloat16(short b) {
        return Float.intBitsToFloat(b << 16);
    }

    /**
     * Replaces s[0..count) by exp(s[t] - max) and returns their sum (the softmax numerators and denominator;
     * max is the largest s[t]). count &gt;= 1.
     */
    float expMinusMax(float[] s, int count);

    /**
     * out[r][0..dim) = sum over t &lt; count + r, in order, of weights[r][t] * values[valueOffset + t * dim ..
     * + dim), for r &lt; rows: a causal block of attention outputs, row r seeing r more value rows than row 0. The
     * value rows lie one after another in one array, read front to back.
     */
    void causalWeightedSum(float[][] weights, int rows, float[] values, int valueOffset, int count, int dim,
                           float[][] out);

    /**
     * One row's rotary position turn in the "rotate half" convention: for i &lt; half, with x0 = src[s + i], x1 =
     * src[s + i + half], c = cos[c0 + i], n = sin[c0 + i], dst[d + i] = x0 c - x1 n and dst[d + i + half] = x1 c + x0 n,
     * each product rounded to float and then the sum (no fused multiply-add), so both implementations give the same
     * bits. {@code src} and {@code dst} may be the same row (each lane is read before it is written).
     */
    void rotateHalves(float[] src, int s, float[] dst, int d, float[] cos, float[] sin, int c0, int half);

    /**
     * out[outOffset + r * outRow + j] += sum over c &lt; reduce, in order, of a[aOffset + r * aRow + c * aCol] *
     * b[bOffset + c * bRow + j], for r &lt; rows and j &lt; width: a matrix product added into {@code out}, every
     * operand read through strides (as BLAS's leading dimensions; aRow = k, aCol = 1 for A as stored, aRow = 1,
     * aCol = k for its transpose), so a head's columns of a wider matrix can be used in place.
     */
    void addProduct(float[] out, int outOffset, int outRow, float[] a, int aOffset, int aRow, int aCol,
                    float[] b, int bOffset, int bRow, int rows, int reduce, int width);

    /** {@link #addProduct(float[], int, int, float[], int, int, int, float[], int, int, int, int, int)} with out's and b's rows {@code width} apart. */
    default void addProduct(float[] out, int outOffset, float[] a, int aOffset, int aRow, int aCol,
                            float[] b, int bOffset, int rows, int reduce, int width) {
        addProduct(out, outOffset, width, a, aOffset, aRow, aCol, b, bOffset, width, rows, reduce, width);
    }

    /** dst[dstOffset + i] = ELU(x) + 1 (x + 1 for x &gt; 0, else exp(x)) of x = src[srcOffset + i], for i &lt; count. */
    void elu1(float[] src, int srcOffset, float[] dst, int dstOffset, int count);
}
