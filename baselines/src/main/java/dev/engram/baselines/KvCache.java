package dev.engram.baselines;

/**
 * How {@code full} and {@code window} store their cached keys and values (config key {@code kvCache}).
 */
public enum KvCache {
    /** Exact: the keys (after rotary encoding) and values as the model computed them. The default. */
    FLOAT32(Float.BYTES),
    /**
     * Each key and value rounded to the nearest bfloat16 (8 significant bits, float32's range), half the bytes: a
     * decoded token reads the whole cache, so at long context it decodes up to twice as fast, with keys and values
     * off by at most 2^-8 of their size. Not exact: docs/schemes.md section 5 describes the float32 cache.
     */
    BFLOAT16(2);

    /** Bytes per cached key or value component. */
    public final int bytes;

    KvCache(int bytes) {
        this.bytes = bytes;
    }
}
