package dev.engram.memory.lsh;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.LayerContext;
import dev.engram.spi.SnapshotSupport;
import java.util.HashMap;
import java.util.Map;

/**
 * One (sequence, layer) instance of {@link LshAttentionProvider}. It keeps no state between segments
 * (only reusable scratch buffers and the rotations generated per bucket count), so its snapshot payload
 * is empty.
 */
final class LshAttention implements Attention {
    /** Logit a token gives itself: it wins only when nothing else is allowed (SCHEMES.md 3). */
    static final double SELF_LOGIT = -1e5;

    private final LayerContext context;
    private final LayerSpec spec;
    private final int rounds;
    private final int configuredBuckets;
    private final int chunk;
    private final boolean causal;
    private final long seed;
    private final Rotations givenRotations;
    private final Map<Integer, Rotations> generated = new HashMap<>();

    // scratch, grown on demand and reused
    private float[] keys = new float[0];      // normalised keys of one head [N, dk]
    private int[] bucketOf = new int[0];      // [N]
    private int[] order = new int[0];         // sorted position per sorted index [Npad]
    private int[] counts = new int[0];        // [buckets + 2]
    private double[] logits = new double[0];  // [2 * chunk]
    private int[] keyPos = new int[0];        // [4 * chunk]: window positions, then the used window indices
    // the current chunk's window, copied contiguous once per chunk (the sorted order scatters it)
    private float[] windowKeys = new float[0];    // normalised keys of the window [2 * chunk, dk]
    private float[] windowValues = new float[0];  // values of the window [2 * chunk, dv]
    private float[] windowQueries = new float[0]; // raw queries of the chunk's own tokens [chunk, dk]
    private int windowOwn;                        // window index where the chunk's own tokens start
    private double[] acc = new double[0];     // round-combined numerator [N, dv]
    private double[] runMax = new double[0];  // [N]
    private double[] runSum = new double[0];  // [N]
    private double[] roundOut = new double[0]; // [dv]
    private double[] proj = new double[0];
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
    }

    /** The SCHEMES.md 3 default: largest power of two <= 2 * Npadded / chunk, at least 2. */
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
        Rotations rot = rotationsFor(buckets);
        ensureScratch(n, npad, buckets, dk, dv);
        if (out == null || out.dim(1) != n) {
            if (outData.length < heads * n * dv) {
                outData = new float[heads * n * dv];
            }
            out = Tensor.view(outData, 0, heads, n, dv);
        }
        float[] qa = q.array();
        float[] va = v.array();
        int chunks = npad / chunk;
        for (int h = 0; h < heads; h++) {
            int qOff = q.offset() + h * n * dk;
            int vOff = v.offset() + h * n * dv;
            normalise(qa, qOff, n, dk);
            java.util.Arrays.fill(acc, 0, n * dv, 0.0);
            java.util.Arrays.fill(runMax, 0, n, Double.NEGATIVE_INFINITY);
            java.util.Arrays.fill(runSum, 0, n, 0.0);
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < n; i++) {
                    bucketOf[i] = rot.bucket(qa, qOff + i * dk, h, r, proj);
                }
                sortByBucket(n, npad, buckets);
                for (int c = 0; c < chunks; c++) {
                    int keyCount = gatherWindow(c, chunks, n, qa, qOff, va, vOff, dk, dv);
                    // the chunk's real tokens in sorted order (padding is never a query nor a key)
                    for (int t = windowOwn; t < keyCount; t++) {
                        attendOne(keyPos[t], t - windowOwn, keyCount, dk, dv, h);
                    }
                }
            }
            int oOff = h * n * dv;
            for (int i = 0; i < n; i++) {
                double inv = 1.0 / runSum[i];
                for (int e = 0; e < dv; e++) {
                    outData[oOff + i * dv + e] = (float) (acc[i * dv + e] * inv);
                }
            }
        }
        return out;
    }

    /** keys[i] = q_i / ||q_i|| (a zero query gives a zero key). */
    private void normalise(float[] qa, int qOff, int n, int dk) {
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

    /** Stable counting sort by (bucket, position); padding positions n..npad-1 go last, as bucket {@code buckets}. */
    private void sortByBucket(int n, int npad, int buckets) {
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
     * {@code keyPos[0..count)}, previous chunk first, and their normalised keys and values, plus the raw
     * queries of chunk c's own tokens (from window index {@link #windowOwn} on), into contiguous scratch.
     * In sorted order the window's rows are scattered over the head's arrays; copied once here, every
     * query of the chunk then streams through them instead of jumping around memory for each key.
     */
    private int gatherWindow(int c, int chunks, int n, float[] qa, int qOff, float[] va, int vOff, int dk, int dv) {
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
        return count;
    }

    private void copyKeyAndValue(int j, int w, float[] va, int vOff, int dk, int dv) {
        keyPos[w] = j;
        System.arraycopy(keys, j * dk, windowKeys, w * dk, dk);
        System.arraycopy(va, vOff + j * dv, windowValues, w * dv, dv);
    }

    /**
     * Token i (window index {@code windowOwn + own}) attends to the window's keys allowed by the masks;
     * its round output and logsumexp are folded into {@link #acc}.
     */
    private void attendOne(int i, int own, int keyCount, int dk, int dv, int head) {
        int qi = own * dk;
        double max = Double.NEGATIVE_INFINITY;
        int used = 0;
        for (int t = 0; t < keyCount; t++) {
            int j = keyPos[t];
            if (causal && j > i) {
                continue; // logit -1e9: exp underflows to exactly 0 beside the self logit -1e5
            }
            double logit = j == i ? SELF_LOGIT : dot(windowQueries, qi, windowKeys, t * dk, dk);
            logits[used] = logit;
            keyPos[keyCount + used] = t;
            used++;
            if (logit > max) {
                max = logit;
            }
        }
        double sum = 0;
        java.util.Arrays.fill(roundOut, 0, dv, 0.0);
        for (int t = 0; t < used; t++) {
            double w = Math.exp(logits[t] - max);
            sum += w;
            int vo = keyPos[keyCount + t] * dv;
            for (int e = 0; e < dv; e++) {
                roundOut[e] += w * windowValues[vo + e];
            }
        }
        double lse = max + Math.log(sum);
        if (!Double.isFinite(lse)) {
            throw new NonFiniteStateException(context.describe() + " head " + head + " token " + i
                    + ": a logit overflowed float32 (query norm too large)");
        }
        // online logsumexp over rounds: acc holds sum_r exp(lse_r - runMax) * o_r, o_r = roundOut / sum
        double inv = 1.0 / sum;
        int ao = i * dv;
        if (lse > runMax[i]) {
            double shrink = runMax[i] == Double.NEGATIVE_INFINITY ? 0.0 : Math.exp(runMax[i] - lse);
            for (int e = 0; e < dv; e++) {
                acc[ao + e] = acc[ao + e] * shrink + roundOut[e] * inv;
            }
            runSum[i] = runSum[i] * shrink + 1.0;
            runMax[i] = lse;
        } else {
            double w = Math.exp(lse - runMax[i]);
            for (int e = 0; e < dv; e++) {
                acc[ao + e] += w * roundOut[e] * inv;
            }
            runSum[i] += w;
        }
    }

    private static float dot(float[] a, int ao, float[] b, int bo, int n) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int d = 0;
        for (; d + 3 < n; d += 4) {
            s0 += a[ao + d] * b[bo + d];
            s1 += a[ao + d + 1] * b[bo + d + 1];
            s2 += a[ao + d + 2] * b[bo + d + 2];
            s3 += a[ao + d + 3] * b[bo + d + 3];
        }
        for (; d < n; d++) {
            s0 += a[ao + d] * b[bo + d];
        }
        return (s0 + s1) + (s2 + s3);
    }

    private void ensureScratch(int n, int npad, int buckets, int dk, int dv) {
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
        if (logits.length < 2 * chunk) {
            logits = new double[2 * chunk];
        }
        if (keyPos.length < 4 * chunk) {
            keyPos = new int[4 * chunk];
        }
        // a window holds at most 2 * chunk real tokens, and never more than the segment has
        int windowRows = (int) Math.min(2L * chunk, n);
        if (windowKeys.length < windowRows * dk) {
            windowKeys = new float[windowRows * dk];
        }
        if (windowValues.length < windowRows * dv) {
            windowValues = new float[windowRows * dv];
        }
        if (windowQueries.length < Math.min(chunk, n) * dk) {
            windowQueries = new float[Math.min(chunk, n) * dk];
        }
        if (acc.length < n * dv) {
            acc = new double[n * dv];
        }
        if (roundOut.length < dv) {
            roundOut = new double[dv];
        }
        if (proj.length < buckets / 2) {
            proj = new double[buckets / 2];
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
