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
    PARTIAL_ROWS,
    /**
     * With {@link #PARTIAL_ROWS}: the rows [from, N) that {@link Attention#attendRows} and
     * {@link LongTermMemory#readRows} (then {@code combine}) give are bit-identical to those rows of the whole
     * segment's step, not only equal to float rounding (the test kit checks it bit for bit). When every layer has it
     * (and ONNX Runtime runs on the CPU, whose kernels give a row the same bits whatever the row count), the runtime
     * completes a segment decoded row by row from the rows it already holds instead of running the dense blocks over
     * the whole segment again: the segment boundary costs the attention and memory work only.
     */
    EXACT_ROWS,
    /**
     * With {@link #PARTIAL_ROWS}, for an attention: between {@link Attention#attendRows} calls on a segment in
     * progress it holds the keys and values it was given, so the runtime gives each row once
     * ({@link Attention#attendNewRows}) instead of the whole segment so far with every decoded token: a token's
     * cost no longer grows with its place in the segment. Means nothing for a memory, whose
     * {@link LongTermMemory#readRows} does not read rows before {@code from}.
     */
    HELD_ROWS
}
