package dev.engram.api;

/** Optional features a provider declares; ask with {@code supports(Capability)} instead of catching errors. */
public enum Capability {
    /** Works with fewer kv heads than query heads (grouped-query attention). */
    GROUPED_QUERY_HEADS,
    /** Accepts segments of any length, not only the one it saw first. */
    VARIABLE_SEGMENT_LENGTH,
    /** Output at position i never depends on a later position (causal). */
    CAUSAL,
    /** Uses random draws (seeded); {@link Segment#uniforms()} can supply them. */
    STOCHASTIC,
    /** State size does not grow with the number of tokens seen. */
    CONSTANT_STATE_SIZE
}
