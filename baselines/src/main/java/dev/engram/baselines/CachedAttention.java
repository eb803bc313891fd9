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
 */
final class CachedAttention implements Attention {
    /** Tokens preallocated for a full cache, and slack beyond the window for a window cache. */
    private static final int INITIAL_TOKENS = 64;
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

    private float[][] keys;
    private float[][] values;
    /** Absolute position of each cached token (shared by the kv heads). */
    private long[] positions;
    private int capacity;
    private int length;

    private float[] rotatedQueries = new float[0];
    private float[] scores = new float[0];
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
        allocate(initialCapacity());
    }

    private int initialCapacity() {
        return window < 0 ? INITIAL_TOKENS : window + INITIAL_TOKENS;
    }

    private void allocate(int tokens) {
        keys = new float[kvHeads][tokens * keyDim];
        values = new float[kvHeads][tokens * valueDim];
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
            keys[g] = java.util.Arrays.copyOf(keys[g], grown * keyDim);
            values[g] = java.util.Arrays.copyOf(values[g], grown * valueDim);
        }
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
        Tensor q = segment.requireQ(spec);
        Tensor k = segment.requireK(spec);
        Tensor v = segment.requireV(spec);
        int n = segment.length();
        long start = segment.startPosition();
        ensureCapacity(length + n);
        ensureScratch(n);

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
            if (rope != null) {
                rope.rotate(k.array(), kSrc, keys[g], length * keyDim, start, n);
            } else {
                System.arraycopy(k.array(), kSrc, keys[g], length * keyDim, n * keyDim);
            }
            System.arraycopy(v.array(), v.offset() + g * n * valueDim, values[g], length * valueDim, n * valueDim);
        }
        for (int i = 0; i < n; i++) {
            positions[length + i] = start + i;
        }

        for (int h = 0; h < heads; h++) {
            int g = h / group;
            float[] kg = keys[g];
            float[] vg = values[g];
            float slope = slopes == null ? 0f : slopes[h];
            for (int i = 0; i < n; i++) {
                int last = length + i;
                long queryPosition = start + i;
                int qRow = qOffset + (h * n + i) * keyDim;
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t <= last; t++) {
                    float s = dot(qa, qRow, kg, t * keyDim, keyDim) * scale;
                    if (slopes != null) {
                        s -= slope * (float) (queryPosition - positions[t]);
                    }
                    scores[t] = s;
                    if (s > max) {
                        max = s;
                    }
                }
                double sum = 0;
                for (int t = 0; t <= last; t++) {
                    float e = (float) Math.exp(scores[t] - max);
                    scores[t] = e;
                    sum += e;
                }
                int o = (h * n + i) * valueDim;
                java.util.Arrays.fill(output, o, o + valueDim, 0f);
                for (int t = 0; t <= last; t++) {
                    float w = scores[t];
                    int vRow = t * valueDim;
                    for (int d = 0; d < valueDim; d++) {
                        output[o + d] += w * vg[vRow + d];
                    }
                }
                float inv = (float) (1.0 / sum);
                for (int d = 0; d < valueDim; d++) {
                    output[o + d] *= inv;
                }
            }
        }

        length += n;
        if (window >= 0 && length > window) {
            int drop = length - window;
            for (int g = 0; g < kvHeads; g++) {
                System.arraycopy(keys[g], drop * keyDim, keys[g], 0, window * keyDim);
                System.arraycopy(values[g], drop * valueDim, values[g], 0, window * valueDim);
            }
            System.arraycopy(positions, drop, positions, 0, window);
            length = window;
        }
        return outputView;
    }

    /** Dot product with four partial sums (fixed order, so results are deterministic). */
    private static float dot(float[] a, int ao, float[] b, int bo, int len) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < len; i += 4) {
            s0 += a[ao + i] * b[bo + i];
            s1 += a[ao + i + 1] * b[bo + i + 1];
            s2 += a[ao + i + 2] * b[bo + i + 2];
            s3 += a[ao + i + 3] * b[bo + i + 3];
        }
        for (; i < len; i++) {
            s0 += a[ao + i] * b[bo + i];
        }
        return (s0 + s1) + (s2 + s3);
    }

    private void ensureScratch(int n) {
        if (rope != null && rotatedQueries.length < heads * n * keyDim) {
            rotatedQueries = new float[heads * n * keyDim];
        }
        if (scores.length < length + n) {
            scores = new float[Math.max(length + n, 2 * scores.length)];
        }
        if (output.length < heads * n * valueDim) {
            output = new float[Math.max(heads * n * valueDim, 2 * output.length)];
            outputView = null;
        }
        if (outputView == null || outputView.dim(1) != n) {
            outputView = Tensor.view(output, 0, heads, n, valueDim);
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
            for (int g = 0; g < kvHeads; g++) {
                w.writeFloats(keys[g], 0, length * keyDim);
                w.writeFloats(values[g], 0, length * valueDim);
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
                System.arraycopy(k[g], 0, keys[g], 0, k[g].length);
                System.arraycopy(v[g], 0, values[g], 0, v[g].length);
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
