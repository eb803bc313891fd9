package dev.engram.runtime;

/**
 * The keys and values of a sequence's segment in progress, per layer, for the rows evaluated so far: what
 * decoding with {@link dev.engram.api.Capability#PARTIAL_ROWS} reuses, so a new token runs one row per layer.
 * With {@link dev.engram.api.Capability#EXACT_ROWS} also the queries and hidden states, so that the segment, once
 * complete, runs into the state from these rows without the dense blocks again.
 * Derived state: it is not in snapshots (a restored sequence evaluates its pending rows once, then goes on).
 * Layout per layer: [head][row][dim] (hidden states [row][dim]) with room for a whole segment, so rows are appended
 * in place.
 */
final class SegmentRows {
    final float[][] keys;
    final float[][] values;
    /** Null unless the queries and hidden states are held too. */
    final float[][] queries;
    final float[][] hidden;
    private final int segmentLength;
    private final int keyDim;
    private final int valueDim;
    /** Rows held: the keys and values of pending tokens [0, held) are valid. */
    int held;

    /** @param heads query heads whose queries are held, 0 for keys and values only; {@code modelDim} likewise */
    SegmentRows(int layers, int kvHeads, int segmentLength, int keyDim, int valueDim, int heads, int modelDim) {
        this.segmentLength = segmentLength;
        this.keyDim = keyDim;
        this.valueDim = valueDim;
        this.keys = new float[layers][kvHeads * segmentLength * keyDim];
        this.values = new float[layers][kvHeads * segmentLength * valueDim];
        this.queries = heads == 0 ? null : new float[layers][heads * segmentLength * keyDim];
        this.hidden = heads == 0 ? null : new float[layers][segmentLength * modelDim];
    }

    private SegmentRows(SegmentRows from) {
        this.segmentLength = from.segmentLength;
        this.keyDim = from.keyDim;
        this.valueDim = from.valueDim;
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
        putHeads(k, kOffset, kHeadStride, keys[layer], from, rows, keyDim);
        putHeads(v, vOffset, vHeadStride, values[layer], from, rows, valueDim);
    }

    /**
     * Queries and hidden states of {@code rows} new rows at [from, from + rows), where held: head h's queries start at
     * {@code qOffset + h * qHeadStride} in {@code q}, the hidden states at {@code hOffset} in {@code h} (rows of e).
     */
    void putQueries(int layer, int from, int rows, float[] q, int qOffset, int qHeadStride, float[] h, int hOffset) {
        if (queries == null) {
            return;
        }
        putHeads(q, qOffset, qHeadStride, queries[layer], from, rows, keyDim);
        int e = hidden[layer].length / segmentLength;
        System.arraycopy(h, hOffset, hidden[layer], from * e, rows * e);
    }

    /** Rows [0, n) of layer {@code layer}'s queries as [H, n, dk] and hidden states as [n, e] into the given arrays. */
    void packQueries(int layer, int n, float[] q, float[] h) {
        packHeads(queries[layer], n, keyDim, q);
        int e = hidden[layer].length / segmentLength;
        System.arraycopy(hidden[layer], 0, h, 0, n * e);
    }

    /** Rows [0, n) of layer {@code layer} packed as k [G, n, dk] and v [G, n, dv] into the given arrays. */
    void pack(int layer, int n, float[] k, float[] v) {
        packHeads(keys[layer], n, keyDim, k);
        packHeads(values[layer], n, valueDim, v);
    }

    /** Rows of {@code dim} floats, head a's from {@code offset + a * headStride} in src, into held rows [from, +rows). */
    private void putHeads(float[] src, int offset, int headStride, float[] held, int from, int rows, int dim) {
        for (int a = 0; a < held.length / (segmentLength * dim); a++) {
            System.arraycopy(src, offset + a * headStride, held, (a * segmentLength + from) * dim, rows * dim);
        }
    }

    /** Held rows [0, n) of every head as [heads, n, dim] into dst. */
    private void packHeads(float[] held, int n, int dim, float[] dst) {
        for (int a = 0; a < held.length / (segmentLength * dim); a++) {
            System.arraycopy(held, a * segmentLength * dim, dst, a * n * dim, n * dim);
        }
    }

    long bytes() {
        long floats = 0;
        for (int l = 0; l < keys.length; l++) {
            floats += keys[l].length + values[l].length + (queries == null ? 0 : queries[l].length + hidden[l].length);
        }
        return 4 * floats;
    }
}
