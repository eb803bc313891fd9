package dev.engram.runtime;

/**
 * The keys and values of a sequence's segment in progress, per layer, for the rows evaluated so far: what
 * decoding with {@link dev.engram.api.Capability#PARTIAL_ROWS} reuses, so a new token runs one row per layer.
 * Derived state: it is not in snapshots (a restored sequence evaluates its pending rows once, then goes on).
 * Layout per layer: [kv head][row][dim] with room for a whole segment, so rows are appended in place.
 */
final class SegmentRows {
    final float[][] keys;
    final float[][] values;
    private final int segmentLength;
    private final int keyDim;
    private final int valueDim;
    /** Rows held: the keys and values of pending tokens [0, held) are valid. */
    int held;

    SegmentRows(int layers, int kvHeads, int segmentLength, int keyDim, int valueDim) {
        this.segmentLength = segmentLength;
        this.keyDim = keyDim;
        this.valueDim = valueDim;
        this.keys = new float[layers][kvHeads * segmentLength * keyDim];
        this.values = new float[layers][kvHeads * segmentLength * valueDim];
    }

    private SegmentRows(SegmentRows from) {
        this.segmentLength = from.segmentLength;
        this.keyDim = from.keyDim;
        this.valueDim = from.valueDim;
        this.keys = new float[from.keys.length][];
        this.values = new float[from.values.length][];
        for (int l = 0; l < keys.length; l++) {
            keys[l] = from.keys[l].clone();
            values[l] = from.values[l].clone();
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
        int kvHeads = keys[layer].length / (segmentLength * keyDim);
        for (int g = 0; g < kvHeads; g++) {
            System.arraycopy(k, kOffset + g * kHeadStride, keys[layer], (g * segmentLength + from) * keyDim, rows * keyDim);
            System.arraycopy(v, vOffset + g * vHeadStride, values[layer], (g * segmentLength + from) * valueDim, rows * valueDim);
        }
    }

    /** Rows [0, n) of layer {@code layer} packed as k [G, n, dk] and v [G, n, dv] into the given arrays. */
    void pack(int layer, int n, float[] k, float[] v) {
        int kvHeads = keys[layer].length / (segmentLength * keyDim);
        for (int g = 0; g < kvHeads; g++) {
            System.arraycopy(keys[layer], g * segmentLength * keyDim, k, g * n * keyDim, n * keyDim);
            System.arraycopy(values[layer], g * segmentLength * valueDim, v, g * n * valueDim, n * valueDim);
        }
    }

    long bytes() {
        long floats = 0;
        for (int l = 0; l < keys.length; l++) {
            floats += keys[l].length + values[l].length;
        }
        return 4 * floats;
    }
}
