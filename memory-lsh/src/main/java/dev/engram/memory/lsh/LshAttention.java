package dev.engram.memory.lsh;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.LayerContext;
import dev.engram.spi.SnapshotSupport;
import dev.engram.spi.kernel.FloatKernels;
import dev.engram.spi.kernel.ParallelHeads;
import java.util.HashMap;
import java.util.Map;

/**
 * One (sequence, layer) instance of {@link LshAttentionProvider}. It keeps no state between segments
 * (only reusable scratch buffers and the rotations generated per bucket count), so its snapshot payload
 * is empty.
 *
 * <p>Per (head, round, chunk) the window's keys are copied transposed and its values row by row into
 * contiguous scratch, and the chunk's queries are scored against the whole window at once on the shared
 * {@link FloatKernels} (SIMD registers where the JVM has the Vector API): {@code scores} for q . k, the masks
 * written over the scores, {@code expMinusMax} for the softmax numerators and {@code causalWeightedSum} (four
 * rows per call, zero-padded so that every row sees exactly the window; see {@link #attendChunk}) for the
 * weighted values. Only the rounds' logsumexp mix stays in double. Heads run on {@link ParallelHeads}: each head whole on one thread with that thread's
 * scratch, so the bits do not depend on the threads.
 */
final class LshAttention implements Attention {
    /** Logit a token gives itself: it wins only when nothing else is allowed (docs/schemes.md section 3). */
    static final float SELF_LOGIT = -1e5f;
    /** Logit of a later position under the causal mask (docs/schemes.md section 3): beside the self logit its weight is exactly 0. */
    static final float CAUSAL_LOGIT = -1e9f;
    /** Scores held per block of query rows: a window row's scores stay in cache while the block uses them. */
    private static final int SCORE_BUDGET = 1 << 16;
    private static final FloatKernels KERNELS = FloatKernels.get();
    /** Zero value rows after a window (and zero weights after a weight row): see {@link #attendChunk}. */
    private static final int TAIL = 3;
    /**
     * Windows are scored as a multiple of this many columns (the padding weighs exactly 0), so the kernels' loops
     * always end on whole vectors of up to 16 floats: their leftover paths, never taken on full segments, are not
     * met first in a decode step, where C2 would drop the compiled loop (an uncommon trap) and run it interpreted.
     */
    private static final int COLUMNS = 16;

    private final LayerContext context;
    private final LayerSpec spec;
    private final int rounds;
    private final int configuredBuckets;
    private final int chunk;
    private final boolean causal;
    private final long seed;
    private final Rotations givenRotations;
    private final Map<Integer, Rotations> generated = new HashMap<>();

    /** Per thread slot ({@link ParallelHeads}): the scratch of one head. */
    private final HeadScratch[] scratch;
    /** The segment being attended, for {@link #attendHead} on whichever thread runs a head. */
    private final Call call = new Call();
    private final ParallelHeads.HeadWork attendHead = this::attendHead;
    private float[] outData = new float[0];
    private Tensor out;

    LshAttention(LayerContext context) {
        this.context = context;
        this.spec = context.spec();
        this.rounds = context.config().get(LshAttentionProvider.ROUNDS);
        this.configuredBuckets = context.config().get(LshAttentionProvider.BUCKETS);
        this.chunk = context.config().get(LshAttentionProvider.CHUNK);
        this.causal = context.config().get(LshAttentionProvider.CAUSAL);
        this.seed = context.config().get(LshAttentionProvider.SEED);
        this.givenRotations = context.weights().find(LshAttentionProvider.ROTATIONS).map(Rotations::of).orElse(null);
        this.scratch = new HeadScratch[ParallelHeads.slots(spec.heads())];
        for (int i = 0; i < scratch.length; i++) {
            scratch[i] = new HeadScratch();
        }
    }

    /** The docs/schemes.md section 3 default: largest power of two <= 2 * Npadded / chunk, at least 2. */
    static int defaultBuckets(int paddedLength, int chunk) {
        long target = 2L * paddedLength / chunk;
        if (target < 2) {
            return 2;
        }
        return Integer.highestOneBit((int) Math.min(target, 1 << 30));
    }

    static int paddedLength(int n, int chunk) {
        return (int) (((long) n + chunk - 1) / chunk * chunk);
    }

    private Rotations rotationsFor(int buckets) {
        if (givenRotations != null) {
            return givenRotations;
        }
        return generated.computeIfAbsent(buckets,
                b -> Rotations.generate(seed, spec.heads(), spec.keyDim(), rounds, b));
    }

    @Override
    public LayerSpec spec() {
        return spec;
    }

    /** What the heads of one {@link #attend} share; set on the calling thread before the heads run. */
    private static final class Call {
        float[] q;
        int qOffset;
        float[] v;
        int vOffset;
        int n;
        int npad;
        int buckets;
        Rotations rotations;
    }

    @Override
    public Tensor attend(Segment segment) {
        Tensor q = segment.requireQ(spec);
        Tensor v = segment.requirePerHeadV(spec);
        int n = segment.length();
        if ((long) n + chunk > Integer.MAX_VALUE - 8) {
            throw dev.engram.api.InvalidInputException.outOfRange("segment length", n, "<= " + (Integer.MAX_VALUE - 8 - chunk));
        }
        int heads = spec.heads();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int npad = paddedLength(n, chunk);
        int buckets = configuredBuckets != 0 ? configuredBuckets : defaultBuckets(npad, chunk);
        if (out == null || out.dim(1) != n) {
            if (outData.length < heads * n * dv) {
                outData = new float[heads * n * dv];
            }
            out = Tensor.view(outData, 0, heads, n, dv);
        }
        call.q = q.array();
        call.qOffset = q.offset();
        call.v = v.array();
        call.vOffset = v.offset();
        call.n = n;
        call.npad = npad;
        call.buckets = buckets;
        call.rotations = rotationsFor(buckets);
        long window = Math.min(2L * chunk, n);
        try {
            ParallelHeads.run(heads, (long) heads * rounds * n * (window * (dk + dv) + (long) dk * buckets / 2),
                    attendHead);
        } finally {
            call.q = null;
            call.v = null;
        }
        return out;
    }

    /** One head, all rounds, on the thread of {@code slot}: writes the head's rows of the output. */
    private void attendHead(int h, int slot) {
        HeadScratch s = scratch[slot];
        int n = call.n;
        int npad = call.npad;
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        s.ensure(n, npad, call.buckets, dk, dv, chunk);
        float[] qa = call.q;
        int qOff = call.qOffset + h * n * dk;
        int vOff = call.vOffset + h * n * dv;
        normalise(qa, qOff, n, dk, s.keys);
        java.util.Arrays.fill(s.acc, 0, n * dv, 0.0);
        java.util.Arrays.fill(s.runMax, 0, n, Double.NEGATIVE_INFINITY);
        java.util.Arrays.fill(s.runSum, 0, n, 0.0);
        int chunks = npad / chunk;
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < n; i++) {
                s.bucketOf[i] = call.rotations.bucket(qa, qOff + i * dk, h, r, s.proj);
            }
            s.sortByBucket(n, npad, call.buckets);
            for (int c = 0; c < chunks; c++) {
                int keyCount = s.gatherWindow(c, chunks, chunk, n, qa, qOff, call.v, vOff, dk, dv);
                attendChunk(s, keyCount, dk, dv, h);
            }
        }
        int oOff = h * n * dv;
        for (int i = 0; i < n; i++) {
            double inv = 1.0 / s.runSum[i];
            for (int e = 0; e < dv; e++) {
                outData[oOff + i * dv + e] = (float) (s.acc[i * dv + e] * inv);
            }
        }
    }

    /** keys[i] = q_i / ||q_i|| (a zero query gives a zero key); the norm in double. */
    private static void normalise(float[] qa, int qOff, int n, int dk, float[] keys) {
        for (int i = 0; i < n; i++) {
            int o = qOff + i * dk;
            double ss = 0;
            for (int d = 0; d < dk; d++) {
                double x = qa[o + d];
                ss += x * x;
            }
            double inv = ss > 0 ? 1.0 / Math.sqrt(ss) : 0.0;
            for (int d = 0; d < dk; d++) {
                keys[i * dk + d] = (float) (qa[o + d] * inv);
            }
        }
    }

    /**
     * The chunk's own tokens (window indices [windowOwn, keyCount)) attend to the window, a block of query rows
     * at a time: scores for the whole window, then the masks (a later position -1e9 when causal, the token
     * itself -1e5), the softmax numerators and the weighted values; each row's round output and logsumexp are
     * folded into the head's running sums.
     *
     * <p>The weighted values run four rows per call of {@code causalWeightedSum}, whose row r sees r more value
     * rows than row 0: the window's values are followed by {@link #TAIL} zero rows and each weight row by as
     * many zero weights, so every row sums exactly the window (the extra terms add 0 * 0), and each value row
     * read serves four query rows. The window is scored over {@link #columns} columns, the padding's logits set
     * to -1e9 (weight exactly 0 beside the self logit) and its value rows zero.
     */
    private void attendChunk(HeadScratch s, int keyCount, int dk, int dv, int head) {
        int own = keyCount - s.windowOwn;
        int block = s.block;
        for (int b = 0; b < own; b += block) {
            int rows = Math.min(block, own - b);
            // whole groups of four rows, so the kernels' one-row paths (cold after a long ingest) never run: the
            // rows past the chunk's own compute throwaway values from stale queries
            int groups = (rows + 3) / 4;
            int cols = columns(keyCount);
            KERNELS.scores(s.windowQueries, b * dk, 4 * groups, dk, s.keysByDim, cols, s.scores);
            for (int r = 0; r < rows; r++) {
                float[] row = s.scores[r];
                int i = s.keyPos[s.windowOwn + b + r];
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t < keyCount; t++) {
                    int j = s.keyPos[t];
                    float logit = j == i ? SELF_LOGIT : causal && j > i ? CAUSAL_LOGIT : row[t];
                    row[t] = logit;
                    max = Math.max(max, logit);
                }
                java.util.Arrays.fill(row, keyCount, cols, CAUSAL_LOGIT); // padding columns: weight exactly 0
                float sum = KERNELS.expMinusMax(row, cols);
                double lse = max + Math.log(sum);
                if (!Double.isFinite(lse)) {
                    throw new NonFiniteStateException(context.describe() + " head " + head + " token " + i
                            + ": a logit overflowed float32 (query norm too large)");
                }
                java.util.Arrays.fill(row, cols, cols + TAIL, 0f);
                s.lse[r] = lse;
                s.inverseSum[r] = 1.0 / sum;
            }
            for (int g = 0; g < 4 * groups; g += 4) {
                for (int k = 0; k < 4; k++) {
                    s.groupWeights[k] = s.scores[g + k];
                    s.groupOut[k] = s.roundOut[g + k];
                }
                KERNELS.causalWeightedSum(s.groupWeights, 4, s.windowValues, 0, cols, dv, s.groupOut);
            }
            for (int r = 0; r < rows; r++) {
                fold(s, s.keyPos[s.windowOwn + b + r], s.roundOut[r], s.lse[r], s.inverseSum[r], dv);
            }
        }
    }

    /**
     * Query rows per block: the scores of a block stay in cache while it is used; a multiple of the 4 rows a kernel
     * pass takes.
     */
    /** A window of {@code keys} keys is scored over this many columns: a multiple of {@link #COLUMNS}. */
    static int columns(int keys) {
        return (keys + COLUMNS - 1) / COLUMNS * COLUMNS;
    }

    private static int blockRows(int ownRows, int windowRows) {
        int rows = (int) Math.max(4, Math.min(ownRows, SCORE_BUDGET / Math.max(1, windowRows)));
        return (rows + 3) / 4 * 4;
    }

    /**
     * Online logsumexp over rounds: acc holds sum_r exp(lse_r - runMax) * o_r with o_r = roundOut / sum, so an
     * lse near -1e5 (a token that saw only itself) loses nothing.
     */
    private static void fold(HeadScratch s, int i, float[] o, double lse, double inv, int dv) {
        double[] acc = s.acc;
        int ao = i * dv;
        if (lse > s.runMax[i]) {
            double shrink = s.runMax[i] == Double.NEGATIVE_INFINITY ? 0.0 : Math.exp(s.runMax[i] - lse);
            for (int e = 0; e < dv; e++) {
                acc[ao + e] = acc[ao + e] * shrink + o[e] * inv;
            }
            s.runSum[i] = s.runSum[i] * shrink + 1.0;
            s.runMax[i] = lse;
        } else {
            double w = Math.exp(lse - s.runMax[i]);
            for (int e = 0; e < dv; e++) {
                acc[ao + e] += w * (o[e] * inv);
            }
            s.runSum[i] += w;
        }
    }

    /** One thread's scratch, grown on demand and reused. */
    private static final class HeadScratch {
        float[] keys = new float[0];      // normalised keys of one head [N, dk]
        int[] bucketOf = new int[0];      // [N]
        int[] order = new int[0];         // sorted position per sorted index [Npad]
        int[] counts = new int[0];        // [buckets + 2]
        double[] proj = new double[0];    // [buckets / 2]
        int[] keyPos = new int[0];        // [2 * chunk] window positions, previous chunk first
        // the current chunk's window, copied contiguous once per chunk (the sorted order scatters it)
        float[][] keysByDim = new float[0][];   // the window's normalised keys, transposed [dk][columns(2 * chunk)]
        float[] windowValues = new float[0]; // the window's value rows, then zero rows [columns(2 * chunk) + TAIL][dv]
        float[] windowQueries = new float[0];   // raw queries of the chunk's own tokens [chunk rounded up to 4, dk]
        int windowOwn;                          // window index where the chunk's own tokens start
        float[][] scores = new float[0][];      // a block of rows' logits, then weights [block][columns + TAIL]
        float[][] roundOut = new float[0][];    // the block's weighted values [block][dv]
        double[] lse = new double[0];           // the block's row logsumexps [block]
        double[] inverseSum = new double[0];    // the block's 1 / sum of softmax numerators [block]
        int block;                              // query rows per block, for the segment being attended
        final float[][] groupWeights = new float[4][]; // four rows of scores, for one causalWeightedSum call
        final float[][] groupOut = new float[4][];     // their four rows of roundOut
        double[] acc = new double[0];     // round-combined numerator [N, dv]
        double[] runMax = new double[0];  // [N]
        double[] runSum = new double[0];  // [N]

        void ensure(int n, int npad, int buckets, int dk, int dv, int chunk) {
            if (keys.length < n * dk) {
                keys = new float[n * dk];
            }
            if (bucketOf.length < n) {
                bucketOf = new int[n];
                runMax = new double[n];
                runSum = new double[n];
            }
            if (order.length < npad) {
                order = new int[npad];
            }
            if (counts.length < buckets + 2) {
                counts = new int[buckets + 2];
            }
            if (proj.length < buckets / 2) {
                proj = new double[buckets / 2];
            }
            // a window holds at most 2 * chunk real tokens, and never more than the segment has
            int windowRows = (int) Math.min(2L * chunk, n);
            int ownRows = Math.min(chunk, n);
            if (keyPos.length < windowRows) {
                keyPos = new int[windowRows];
            }
            int cols = columns(windowRows);
            if (keysByDim.length != dk || keysByDim[0].length < cols) {
                keysByDim = new float[dk][cols];
            }
            if (windowValues.length < (cols + TAIL) * dv) {
                windowValues = new float[(cols + TAIL) * dv];
            }
            block = blockRows(ownRows, windowRows);
            if (windowQueries.length < (ownRows + 3) / 4 * 4 * dk) { // whole groups of four rows are scored
                windowQueries = new float[(ownRows + 3) / 4 * 4 * dk];
            }
            if (scores.length < block || scores[0].length < cols + TAIL) {
                scores = new float[block][cols + TAIL];
                lse = new double[block];
                inverseSum = new double[block];
            }
            if (roundOut.length < block || roundOut[0].length != dv) {
                roundOut = new float[block][dv];
            }
            if (acc.length < n * dv) {
                acc = new double[n * dv];
            }
        }

        /** Stable counting sort by (bucket, position); padding positions n..npad-1 go last, as bucket {@code buckets}. */
        void sortByBucket(int n, int npad, int buckets) {
            java.util.Arrays.fill(counts, 0, buckets + 2, 0);
            for (int i = 0; i < n; i++) {
                counts[bucketOf[i] + 1]++;
            }
            for (int b = 1; b <= buckets; b++) {
                counts[b] += counts[b - 1];
            }
            for (int i = 0; i < n; i++) {
                order[counts[bucketOf[i]]++] = i;
            }
            for (int i = n; i < npad; i++) {
                order[i] = i;
            }
        }

        /**
         * Gathers the real tokens of chunk c and of the chunk before it in this round's order (wrapping
         * within the round; a single chunk is its own window, used once): their positions into
         * {@code keyPos[0..count)}, previous chunk first, their normalised keys (transposed) and values, plus
         * the raw queries of chunk c's own tokens (from window index {@link #windowOwn} on), into contiguous
         * scratch. In sorted order the window's rows are scattered over the head's arrays; copied once here,
         * the kernels then stream through them.
         */
        int gatherWindow(int c, int chunks, int chunk, int n, float[] qa, int qOff, float[] va, int vOff,
                         int dk, int dv) {
            int count = 0;
            if (chunks > 1) {
                int p = (c - 1 + chunks) % chunks;
                for (int t = p * chunk; t < (p + 1) * chunk; t++) {
                    int j = order[t];
                    if (j < n) {
                        copyKeyAndValue(j, count++, va, vOff, dk, dv);
                    }
                }
            }
            windowOwn = count;
            for (int t = c * chunk; t < (c + 1) * chunk; t++) {
                int j = order[t];
                if (j < n) {
                    System.arraycopy(qa, qOff + j * dk, windowQueries, (count - windowOwn) * dk, dk);
                    copyKeyAndValue(j, count++, va, vOff, dk, dv);
                }
            }
            // padding and tail: weight 0 times 0
            java.util.Arrays.fill(windowValues, count * dv, (columns(count) + TAIL) * dv, 0f);
            return count;
        }

        private void copyKeyAndValue(int j, int w, float[] va, int vOff, int dk, int dv) {
            keyPos[w] = j;
            int k = j * dk;
            for (int d = 0; d < dk; d++) {
                keysByDim[d][w] = keys[k + d];
            }
            System.arraycopy(va, vOff + j * dv, windowValues, w * dv, dv);
        }
    }

    @Override
    public void reset() {
        // nothing carries over between segments
    }

    /** Nothing carries over between segments, so a copy is a new instance (its rotations regenerate from the seed). */
    @Override
    public LshAttention copy() {
        return new LshAttention(context);
    }

    @Override
    public Snapshot snapshot() {
        return SnapshotSupport.save(context, 1, w -> { });
    }

    @Override
    public void restore(Snapshot snapshot) {
        SnapshotSupport.load(context, 1, snapshot, r -> () -> { });
    }

    @Override
    public long stateBytes() {
        return 0;
    }
}
