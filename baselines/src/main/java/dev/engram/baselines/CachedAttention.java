package dev.engram.baselines;

import dev.engram.api.Attention;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateReader;
import dev.engram.api.StateWriter;
import dev.engram.api.Tensor;
import dev.engram.baselines.position.Alibi;
import dev.engram.baselines.position.PositionalEncoding;
import dev.engram.baselines.position.Rope;
import dev.engram.spi.LayerContext;
import dev.engram.spi.SnapshotSupport;

/**
 * Exact causal softmax attention over a KV cache, shared by {@code full} (the cache keeps every
 * token) and {@code window} (the cache keeps the last {@code window} tokens before the segment).
 *
 * <p>Per kv head the cache is one contiguous run of tokens, oldest first, ending just before the
 * current segment; keys are stored AFTER rotary encoding (each at its absolute position), so a
 * cached key is rotated once, when it is written. A segment is appended behind the cache, every
 * query i attends to cache[0 .. length + i] (causal), then {@code window} evicts all but the last
 * {@code window} tokens by moving them to the front. Buffers grow geometrically and are reused:
 * after warm-up an {@link #attend} allocates nothing.
 *
 * <p>Layout, for the JIT's auto-vectoriser (C2 vectorises {@code a[t] += x * b[t]} over arrays indexed
 * from 0, but not loops whose arrays start at different offsets, nor float dot-product reductions):
 * keys are stored transposed, one array per (kv head, key dimension) indexed by token, and values one
 * array per (kv head, token). Scores are computed for blocks of four queries at once as
 * {@code s_r[t] += q_r[d] * k_d[t]} (each key row read once per block), the output as
 * {@code o_r[:] += w_r[t] * v_t[:]}. Each query's arithmetic (sums over d, then over t, in order)
 * does not depend on the blocking, so a query's output is the same whatever segment length it came in.
 */
final class CachedAttention implements Attention {
    /** Tokens preallocated for a full cache, and slack beyond the window for a window cache. */
    private static final int INITIAL_TOKENS = 64;
    /** Queries per block of the score and output loops. */
    private static final int BLOCK = 4;
    /** The largest cache length whose per-head arrays still fit in a Java array. */
    private final int maxTokens;

    private final LayerContext context;
    private final LayerSpec spec;
    private final int stateVersion;
    private final int heads;
    private final int kvHeads;
    private final int group;
    private final int keyDim;
    private final int valueDim;
    private final float scale;
    private final PositionalEncoding positional;
    private final double ropeTheta;
    private final Rope rope;
    private final float[] slopes;
    /** -1 for an unbounded (full) cache, else the number of tokens kept before a segment. */
    private final int window;

    /** keys[g][d][t]: dimension d of cached token t's (rotated) key, kv head g. */
    private float[][][] keys;
    /** values[g][t]: cached token t's value, kv head g (each slot its own array; eviction moves references). */
    private float[][][] values;
    /** Spare references for moving value rows on eviction. */
    private float[][] valueSpare;
    /** Absolute position of each cached token (shared by the kv heads). */
    private long[] positions;
    private int capacity;
    private int length;

    private float[] rotatedQueries = new float[0];
    private float[] rotatedKeys = new float[0];
    /** Scores, then softmax weights, of the (up to) four queries of a block, indexed by cached token. */
    private final float[][] scores = new float[BLOCK][0];
    /** Output accumulators of a block's queries, [BLOCK][valueDim]. */
    private final float[][] acc;
    private final float[] inv = new float[BLOCK];
    /** Row-major keys or values of one kv head, for snapshots (the payload layout predates the transposed one). */
    private float[] flat = new float[0];
    private float[] output = new float[0];
    private Tensor outputView;

    CachedAttention(LayerContext context, int stateVersion, PositionalEncoding positional, double ropeTheta, int window) {
        this.context = context;
        this.spec = context.spec();
        this.stateVersion = stateVersion;
        this.heads = spec.heads();
        this.kvHeads = spec.kvHeads();
        this.group = spec.groupSize();
        this.keyDim = spec.keyDim();
        this.valueDim = spec.valueDim();
        this.scale = (float) (1.0 / Math.sqrt(keyDim));
        this.positional = positional;
        this.ropeTheta = ropeTheta;
        this.rope = positional == PositionalEncoding.ROPE ? new Rope(keyDim, ropeTheta) : null;
        this.slopes = positional == PositionalEncoding.ALIBI ? Alibi.slopes(heads) : null;
        this.window = window;
        this.maxTokens = (Integer.MAX_VALUE - 16) / Math.max(keyDim, valueDim);
        if (window > maxTokens - INITIAL_TOKENS) {
            throw InvalidInputException.outOfRange("window", window, "<= " + (maxTokens - INITIAL_TOKENS)
                    + " for keyDim " + keyDim + " and valueDim " + valueDim + " (one Java array per kv head)");
        }
        this.acc = new float[BLOCK][valueDim];
        allocate(initialCapacity());
    }

    private int initialCapacity() {
        return window < 0 ? INITIAL_TOKENS : window + INITIAL_TOKENS;
    }

    private void allocate(int tokens) {
        keys = new float[kvHeads][keyDim][tokens];
        values = new float[kvHeads][tokens][valueDim];
        valueSpare = new float[tokens][];
        positions = new long[tokens];
        capacity = tokens;
    }

    private void ensureCapacity(int tokens) {
        if (tokens <= capacity) {
            return;
        }
        if (tokens > maxTokens) {
            throw InvalidInputException.outOfRange("cached tokens", tokens, "<= " + maxTokens
                    + " per kv head for keyDim " + keyDim + " and valueDim " + valueDim + " (use 'window' to bound the cache)");
        }
        int grown = (int) Math.min(maxTokens, Math.max(tokens, 2L * capacity));
        for (int g = 0; g < kvHeads; g++) {
            for (int d = 0; d < keyDim; d++) {
                keys[g][d] = java.util.Arrays.copyOf(keys[g][d], grown);
            }
            values[g] = java.util.Arrays.copyOf(values[g], grown);
            for (int t = capacity; t < grown; t++) {
                values[g][t] = new float[valueDim];
            }
        }
        valueSpare = new float[grown][];
        positions = java.util.Arrays.copyOf(positions, grown);
        capacity = grown;
    }

    @Override
    public LayerSpec spec() {
        return spec;
    }

    @Override
    public Tensor attend(Segment segment) {
        // Validate everything before touching any state: a bad segment leaves the cache as it was.
        int n = stage(segment, 0);
        length += n;
        if (window >= 0 && length > window) {
            int drop = length - window;
            for (int g = 0; g < kvHeads; g++) {
                for (int d = 0; d < keyDim; d++) {
                    System.arraycopy(keys[g][d], drop, keys[g][d], 0, window);
                }
                float[][] vg = values[g];
                System.arraycopy(vg, 0, valueSpare, 0, drop);
                System.arraycopy(vg, drop, vg, 0, window);
                System.arraycopy(valueSpare, 0, vg, window, drop);
            }
            System.arraycopy(positions, drop, positions, 0, window);
            length = window;
        }
        return outputView;
    }

    /**
     * The segment's keys and values go into the slots just past the cache, as {@link #attend} puts them, but
     * {@code length} stays: those slots are scratch until a call appends, so the cache is unchanged.
     */
    @Override
    public Tensor attendRows(Segment segment, int from) {
        segment.requireRowsFrom(from);
        stage(segment, from);
        return outputView;
    }

    /**
     * Writes the segment's (rotated) keys and values into cache slots [length, length + N) and computes the
     * outputs of query rows [from, N) into {@link #output} as [H, N - from, dv]; returns N. The cache's
     * {@code length} is not changed here: a caller that appends moves it.
     */
    private int stage(Segment segment, int from) {
        Tensor q = segment.requireQ(spec);
        Tensor k = segment.requireK(spec);
        Tensor v = segment.requireV(spec);
        int n = segment.length();
        int rows = n - from;
        long start = segment.startPosition();
        ensureCapacity(length + n);
        ensureScratch(n, rows);

        float[] qa;
        int qOffset;
        if (rope != null) {
            rope.prepare(start, n);
            for (int h = 0; h < heads; h++) {
                rope.rotate(q.array(), q.offset() + h * n * keyDim, rotatedQueries, h * n * keyDim, start, n);
            }
            qa = rotatedQueries;
            qOffset = 0;
        } else {
            qa = q.array();
            qOffset = q.offset();
        }
        for (int g = 0; g < kvHeads; g++) {
            int kSrc = k.offset() + g * n * keyDim;
            float[] ka = k.array();
            if (rope != null) {
                rope.rotate(ka, kSrc, rotatedKeys, 0, start, n);
                ka = rotatedKeys;
                kSrc = 0;
            }
            float[][] kg = keys[g];
            for (int i = 0; i < n; i++) {
                int row = kSrc + i * keyDim;
                for (int d = 0; d < keyDim; d++) {
                    kg[d][length + i] = ka[row + d];
                }
            }
            int vSrc = v.offset() + g * n * valueDim;
            for (int i = 0; i < n; i++) {
                System.arraycopy(v.array(), vSrc + i * valueDim, values[g][length + i], 0, valueDim);
            }
        }
        for (int i = 0; i < n; i++) {
            positions[length + i] = start + i;
        }

        for (int h = 0; h < heads; h++) {
            int g = h / group;
            float slope = slopes == null ? 0f : slopes[h];
            for (int i0 = from; i0 < n; i0 += BLOCK) {
                int block = Math.min(BLOCK, n - i0);
                int first = length + i0; // the last cached token the block's first query sees
                scoreBlock(qa, qOffset + (h * n + i0) * keyDim, block, keys[g], first + block);
                for (int r = 0; r < block; r++) {
                    inv[r] = softmax(scores[r], first + r, slope, start + i0 + r);
                }
                outputBlock(values[g], block, first);
                for (int r = 0; r < block; r++) {
                    float[] a = acc[r];
                    float w = inv[r];
                    int o = (h * rows + i0 - from + r) * valueDim;
                    for (int d = 0; d < valueDim; d++) {
                        output[o + d] = a[d] * w;
                    }
                }
            }
        }
        return n;
    }

    /**
     * scores[r][t] = sum over d, in order, of q_r[d] * keys[d][t] for t < cols, for the {@code rows} queries
     * whose rows start at {@code qRow} (consecutive, keyDim apart). Four rows share each key row read.
     */
    private void scoreBlock(float[] qa, int qRow, int rows, float[][] kg, int cols) {
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(scores[r], 0, cols, 0f);
        }
        if (rows == BLOCK) {
            float[] s0 = scores[0];
            float[] s1 = scores[1];
            float[] s2 = scores[2];
            float[] s3 = scores[3];
            for (int d = 0; d < keyDim; d++) {
                float a0 = qa[qRow + d];
                float a1 = qa[qRow + keyDim + d];
                float a2 = qa[qRow + 2 * keyDim + d];
                float a3 = qa[qRow + 3 * keyDim + d];
                float[] kd = kg[d];
                for (int t = 0; t < cols; t++) {
                    float kv = kd[t];
                    s0[t] += a0 * kv;
                    s1[t] += a1 * kv;
                    s2[t] += a2 * kv;
                    s3[t] += a3 * kv;
                }
            }
            return;
        }
        for (int r = 0; r < rows; r++) {
            float[] sr = scores[r];
            for (int d = 0; d < keyDim; d++) {
                float a = qa[qRow + r * keyDim + d];
                float[] kd = kg[d];
                for (int t = 0; t < cols; t++) {
                    sr[t] += a * kd[t];
                }
            }
        }
    }

    /** Scales (and ALiBi-biases) s[0..last], replaces it by exp(s - max); returns 1 / the sum. */
    private float softmax(float[] s, int last, float slope, long queryPosition) {
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t <= last; t++) {
            float x = s[t] * scale;
            if (slopes != null) {
                x -= slope * (float) (queryPosition - positions[t]);
            }
            s[t] = x;
            if (x > max) {
                max = x;
            }
        }
        double sum = 0;
        for (int t = 0; t <= last; t++) {
            float e = (float) Math.exp(s[t] - max);
            s[t] = e;
            sum += e;
        }
        return (float) (1.0 / sum);
    }

    /**
     * acc[r] = sum over t in order of scores[r][t] * values[t], for t <= first + r (query r's causal limit):
     * the tokens every row sees together, four rows per value row read, then each row's own tail.
     */
    private void outputBlock(float[][] vg, int rows, int first) {
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(acc[r], 0f);
        }
        if (rows == BLOCK) {
            float[] w0 = scores[0];
            float[] w1 = scores[1];
            float[] w2 = scores[2];
            float[] w3 = scores[3];
            float[] o0 = acc[0];
            float[] o1 = acc[1];
            float[] o2 = acc[2];
            float[] o3 = acc[3];
            for (int t = 0; t <= first; t++) {
                float[] vt = vg[t];
                float a0 = w0[t];
                float a1 = w1[t];
                float a2 = w2[t];
                float a3 = w3[t];
                for (int d = 0; d < valueDim; d++) {
                    float x = vt[d];
                    o0[d] += a0 * x;
                    o1[d] += a1 * x;
                    o2[d] += a2 * x;
                    o3[d] += a3 * x;
                }
            }
        } else {
            for (int r = 0; r < rows; r++) {
                accumulate(acc[r], scores[r], vg, 0, first);
            }
        }
        for (int r = 1; r < rows; r++) {
            accumulate(acc[r], scores[r], vg, first + 1, first + r);
        }
    }

    private void accumulate(float[] o, float[] w, float[][] vg, int from, int to) {
        for (int t = from; t <= to; t++) {
            float[] vt = vg[t];
            float a = w[t];
            for (int d = 0; d < valueDim; d++) {
                o[d] += a * vt[d];
            }
        }
    }

    /** Scratch for a segment of {@code n} tokens whose last {@code rows} rows are computed. */
    private void ensureScratch(int n, int rows) {
        if (rope != null && rotatedQueries.length < heads * n * keyDim) {
            rotatedQueries = new float[heads * n * keyDim];
            rotatedKeys = new float[n * keyDim];
        }
        if (scores[0].length < length + n) {
            int grown = Math.max(length + n, 2 * scores[0].length);
            for (int r = 0; r < BLOCK; r++) {
                scores[r] = new float[grown];
            }
        }
        if (output.length < heads * rows * valueDim) {
            output = new float[Math.max(heads * rows * valueDim, 2 * output.length)];
            outputView = null;
        }
        if (outputView == null || outputView.dim(1) != rows) {
            outputView = Tensor.view(output, 0, heads, rows, valueDim);
        }
    }

    @Override
    public void reset() {
        if (capacity > initialCapacity()) {
            allocate(initialCapacity());
        }
        length = 0;
    }

    /**
     * Payload (state version 1): positional ordinal, ropeTheta, window (-1 = full), the cached
     * tokens' positions, then per kv head their keys (rotated) and values.
     */
    @Override
    public Snapshot snapshot() {
        return SnapshotSupport.save(context, stateVersion, w -> {
            w.writeInt(positional.ordinal());
            w.writeDouble(ropeTheta);
            w.writeInt(window);
            w.writeLongs(java.util.Arrays.copyOf(positions, length));
            if (flat.length < length * Math.max(keyDim, valueDim)) {
                flat = new float[length * Math.max(keyDim, valueDim)];
            }
            for (int g = 0; g < kvHeads; g++) {
                for (int d = 0; d < keyDim; d++) {
                    float[] kd = keys[g][d];
                    for (int t = 0; t < length; t++) {
                        flat[t * keyDim + d] = kd[t];
                    }
                }
                w.writeFloats(flat, 0, length * keyDim);
                for (int t = 0; t < length; t++) {
                    System.arraycopy(values[g][t], 0, flat, t * valueDim, valueDim);
                }
                w.writeFloats(flat, 0, length * valueDim);
            }
        });
    }

    @Override
    public void restore(Snapshot snapshot) {
        SnapshotSupport.load(context, stateVersion, snapshot, this::readState);
    }

    private Runnable readState(StateReader r) {
        int positionalOrdinal = r.readInt();
        double theta = r.readDouble();
        int savedWindow = r.readInt();
        if (positionalOrdinal != positional.ordinal()) {
            String saved = positionalOrdinal >= 0 && positionalOrdinal < PositionalEncoding.values().length
                    ? PositionalEncoding.values()[positionalOrdinal].name().toLowerCase(java.util.Locale.ROOT)
                    : String.valueOf(positionalOrdinal);
            throw new SnapshotException("snapshot.positional is " + saved + "; this attention uses "
                    + positional.name().toLowerCase(java.util.Locale.ROOT) + ": its cached keys do not fit");
        }
        if (positional == PositionalEncoding.ROPE && Double.doubleToLongBits(theta) != Double.doubleToLongBits(ropeTheta)) {
            throw new SnapshotException("snapshot.ropeTheta is " + theta + "; this attention uses " + ropeTheta);
        }
        if (savedWindow != window) {
            throw new SnapshotException("snapshot.window is " + describeWindow(savedWindow) + "; this attention's is "
                    + describeWindow(window));
        }
        long[] savedPositions = r.readLongsUpTo("positions", window >= 0 ? window : maxTokens);
        int tokens = savedPositions.length;
        for (int t = 0; t < tokens; t++) {
            if (savedPositions[t] < 0) {
                throw new SnapshotException("snapshot.positions[" + t + "] is " + savedPositions[t] + "; valid: >= 0");
            }
        }
        float[][] k = new float[kvHeads][];
        float[][] v = new float[kvHeads][];
        for (int g = 0; g < kvHeads; g++) {
            k[g] = requireFinite(r.readFloats("keys[" + g + "]", tokens * keyDim), "keys[" + g + "]");
            v[g] = requireFinite(r.readFloats("values[" + g + "]", tokens * valueDim), "values[" + g + "]");
        }
        return () -> {
            if (tokens > capacity) {
                ensureCapacity(tokens);
            }
            for (int g = 0; g < kvHeads; g++) {
                for (int t = 0; t < tokens; t++) {
                    for (int d = 0; d < keyDim; d++) {
                        keys[g][d][t] = k[g][t * keyDim + d];
                    }
                    System.arraycopy(v[g], t * valueDim, values[g][t], 0, valueDim);
                }
            }
            System.arraycopy(savedPositions, 0, positions, 0, tokens);
            length = tokens;
        };
    }

    private static String describeWindow(int w) {
        return w < 0 ? "unbounded (full)" : String.valueOf(w);
    }

    private static float[] requireFinite(float[] a, String field) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) {
                throw new SnapshotException("snapshot." + field + "[" + i + "] is " + a[i] + "; valid: finite values");
            }
        }
        return a;
    }

    /**
     * Cache bytes: for {@code full}, the keys, values and positions of the tokens held now; for
     * {@code window}, those of a full window (its fixed, preallocated size), so it does not grow.
     */
    @Override
    public long stateBytes() {
        long tokens = window >= 0 ? window : length;
        return tokens * (kvHeads * (long) (keyDim + valueDim) * Float.BYTES + Long.BYTES);
    }

    /** Tokens cached now (for tests and diagnostics). */
    int cachedTokens() {
        return length;
    }
}
