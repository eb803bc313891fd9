package dev.engram.runtime;

/**
 * The keys and values of a sequence's segment in progress, per layer, for the rows evaluated so far: what
 * decoding with {@link dev.engram.api.Capability#PARTIAL_ROWS} reuses, so a new token runs one row per layer.
 * With {@link dev.engram.api.Capability#EXACT_ROWS} also the queries and hidden states, so that the segment, once
 * complete, runs into the state from these rows without the dense blocks again.
 * Derived state: it is not in snapshots (a restored sequence evaluates its pending rows once, then goes on).
 * Layout per layer: [head][row][dim] (hidden states [row][dim]) with room for {@code capacity} rows, grown by
 * doubling as rows come (at most a segment), so rows are appended in place between growths.
 */
final class SegmentRows {
    /** Rows of room a first use takes (a decoded token, then the next ones); doubled as rows come, up to a segment. */
    static final int FIRST_ROWS = 16;
    private final float[][] keys;
    private final float[][] values;
    /** Null unless the queries and hidden states are held too. */
    private final float[][] queries;
    private final float[][] hidden;
    private final int segmentLength;
    private final int kvHeads;
    private final int heads;
    private final int keyDim;
    private final int valueDim;
    private final int modelDim;
    /** Rows of room per head in every layer's arrays: grows with the rows put, to at most a segment. */
    private int capacity;
    /** Rows held: the keys and values of pending tokens [0, held) are valid. */
    int held;

    /** @param heads query heads whose queries are held, 0 for keys and values only; {@code modelDim} likewise */
    SegmentRows(int layers, int kvHeads, int segmentLength, int keyDim, int valueDim, int heads, int modelDim) {
        this.segmentLength = segmentLength;
        this.kvHeads = kvHeads;
        this.heads = heads;
        this.keyDim = keyDim;
        this.valueDim = valueDim;
        this.modelDim = modelDim;
        // No room yet: a segment's worth is tens of MB at the GPT-2 shape (12 layers), and allocating it at a
        // session's first decoded token made that token tens of ms slower than the next; forks and checkpoints copy
        // what is used
        this.keys = new float[layers][0];
        this.values = new float[layers][0];
        this.queries = heads == 0 ? null : new float[layers][0];
        this.hidden = heads == 0 ? null : new float[layers][0];
    }

    private SegmentRows(SegmentRows from) {
        this.segmentLength = from.segmentLength;
        this.kvHeads = from.kvHeads;
        this.heads = from.heads;
        this.keyDim = from.keyDim;
        this.valueDim = from.valueDim;
        this.modelDim = from.modelDim;
        this.capacity = from.capacity;
        this.keys = new float[from.keys.length][];
        this.values = new float[from.values.length][];
        this.queries = from.queries == null ? null : new float[from.queries.length][];
        this.hidden = from.hidden == null ? null : new float[from.hidden.length][];
        for (int l = 0; l < keys.length; l++) {
            keys[l] = from.keys[l].clone();
            values[l] = from.values[l].clone();
            if (queries != null) {
                queries[l] = from.queries[l].clone();
                hidden[l] = from.hidden[l].clone();
            }
        }
        this.held = from.held;
    }

    /** An independent copy (a fork or checkpoint keeps decoding from the same rows, so its logits stay bit-identical). */
    SegmentRows copy() {
        return new SegmentRows(this);
    }

    /**
     * Stores {@code rows} new rows of layer {@code layer} at [from, from + rows): kv head g's keys start at
     * {@code kOffset + g * kHeadStride} in {@code k} (rows of dk floats), its values likewise in {@code v}.
     */
    void put(int layer, int from, int rows, float[] k, int kOffset, int kHeadStride, float[] v, int vOffset,
             int vHeadStride) {
        ensureRows(from + rows);
        putHeads(k, kOffset, kHeadStride, keys[layer], kvHeads, from, rows, keyDim);
        putHeads(v, vOffset, vHeadStride, values[layer], kvHeads, from, rows, valueDim);
    }

    /**
     * Queries and hidden states of {@code rows} new rows at [from, from + rows), where held: head h's queries start at
     * {@code qOffset + h * qHeadStride} in {@code q}, the hidden states at {@code hOffset} in {@code h} (rows of e).
     */
    void putQueries(int layer, int from, int rows, float[] q, int qOffset, int qHeadStride, float[] h, int hOffset) {
        if (queries == null) {
            return;
        }
        ensureRows(from + rows);
        putHeads(q, qOffset, qHeadStride, queries[layer], heads, from, rows, keyDim);
        System.arraycopy(h, hOffset, hidden[layer], from * modelDim, rows * modelDim);
    }

    /** Rows [0, n) of layer {@code layer}'s queries as [H, n, dk] and hidden states as [n, e] into the given arrays. */
    void packQueries(int layer, int n, float[] q, float[] h) {
        packHeads(queries[layer], heads, n, keyDim, q);
        System.arraycopy(hidden[layer], 0, h, 0, n * modelDim);
    }

    /** Rows [0, n) of layer {@code layer} packed as k [G, n, dk] and v [G, n, dv] into the given arrays. */
    void pack(int layer, int n, float[] k, float[] v) {
        packHeads(keys[layer], kvHeads, n, keyDim, k);
        packHeads(values[layer], kvHeads, n, valueDim, v);
    }

    /**
     * Room for rows [0, rows) in every layer: doubling (from {@link #FIRST_ROWS}, at most a segment), each head's
     * rows moved to its place in the wider layout. Every layer grows at once, so they all have one layout.
     */
    private void ensureRows(int rows) {
        if (rows <= capacity) {
            return;
        }
        int grown = Math.min(segmentLength, Math.max(rows, Math.max(FIRST_ROWS, 2 * capacity)));
        for (int l = 0; l < keys.length; l++) {
            keys[l] = widened(keys[l], kvHeads, keyDim, grown);
            values[l] = widened(values[l], kvHeads, valueDim, grown);
            if (queries != null) {
                queries[l] = widened(queries[l], heads, keyDim, grown);
                hidden[l] = java.util.Arrays.copyOf(hidden[l], grown * modelDim);
            }
        }
        capacity = grown;
    }

    /** [count][capacity][dim] as [count][grown][dim], every row kept. */
    private float[] widened(float[] a, int count, int dim, int grown) {
        float[] wider = new float[count * grown * dim];
        for (int h = 0; h < count; h++) {
            System.arraycopy(a, h * capacity * dim, wider, h * grown * dim, capacity * dim);
        }
        return wider;
    }

    /** Rows of {@code dim} floats, head a's from {@code offset + a * headStride} in src, into held rows [from, +rows). */
    private void putHeads(float[] src, int offset, int headStride, float[] held, int count, int from, int rows, int dim) {
        for (int a = 0; a < count; a++) {
            System.arraycopy(src, offset + a * headStride, held, (a * capacity + from) * dim, rows * dim);
        }
    }

    /** Held rows [0, n) of every head as [heads, n, dim] into dst. */
    private void packHeads(float[] held, int count, int n, int dim, float[] dst) {
        for (int a = 0; a < count; a++) {
            System.arraycopy(held, a * capacity * dim, dst, a * n * dim, n * dim);
        }
    }

    /** Rows of room per head (tests: the room grows with the rows, not to a segment at once). */
    int capacity() {
        return capacity;
    }

    long bytes() {
        long floats = 0;
        for (int l = 0; l < keys.length; l++) {
            floats += keys[l].length + values[l].length + (queries == null ? 0 : queries[l].length + hidden[l].length);
        }
        return 4 * floats;
    }
}
