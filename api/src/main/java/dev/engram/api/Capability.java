package dev.engram.api;

/** Optional features a provider declares; ask with {@code supports(Capability)} instead of catching errors. */
public enum Capability {
    /** Works with fewer kv heads than query heads (grouped-query attention). */
    GROUPED_QUERY_HEADS,
    /** Accepts segments of any length, not only the one it saw first. */
    VARIABLE_SEGMENT_LENGTH,
    /** Output at position i never depends on a later position (causal). */
    CAUSAL,
    /** Uses random draws (seeded); a {@link SamplingDraws} segment extension can supply them. */
    STOCHASTIC,
    /** State size does not grow with the number of tokens seen. */
    CONSTANT_STATE_SIZE,
    /**
     * Computes the output rows of a segment in progress without changing any state
     * ({@link Attention#attendRows}, {@link LongTermMemory#readRows}). When every layer's attention and memory
     * has it, the runtime decodes a token by running one new row per layer against the segment's cached keys
     * and values, instead of re-running the segment from its start for every token.
     */
    PARTIAL_ROWS
}
