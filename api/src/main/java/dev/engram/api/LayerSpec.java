package dev.engram.api;

/**
 * The attention shape of one transformer layer.
 *
 * @param heads    query heads H
 * @param kvHeads  key/value heads G; H % G == 0 and query head h reads kv head h / (H / G)
 * @param keyDim   per-head key (and query) width dk
 * @param valueDim per-head value width dv
 * @param modelDim the model (hidden) width e
 */
public record LayerSpec(int heads, int kvHeads, int keyDim, int valueDim, int modelDim) {
    public LayerSpec {
        positive("heads", heads);
        positive("kvHeads", kvHeads);
        positive("keyDim", keyDim);
        positive("valueDim", valueDim);
        positive("modelDim", modelDim);
        if (heads % kvHeads != 0) {
            throw new InvalidInputException("kvHeads",
                    "is " + kvHeads + "; valid: a divisor of heads (" + heads + ")");
        }
    }

    private static void positive(String field, int value) {
        if (value <= 0) {
            throw InvalidInputException.outOfRange(field, value, ">= 1");
        }
    }

    /** Query heads that share one kv head. */
    public int groupSize() {
        return heads / kvHeads;
    }

    /** The kv head that query head {@code queryHead} reads (grouped, not tiled). */
    public int kvHeadOf(int queryHead) {
        return queryHead / groupSize();
    }
}
