package dev.engram.api;

/**
 * Attention over one segment's q, k, v (before positional encoding; the implementation applies its
 * own), causal unless configured otherwise. Attentions with a cache (full, window) remember past
 * segments of their sequence and are therefore {@link SequenceState}s too.
 */
public interface Attention extends SequenceState {
    LayerSpec spec();

    /**
     * Attends and, where the attention keeps a cache, appends the segment to it.
     *
     * @return [H, N, dv]; owned by this attention and valid until its next call (copy it to keep it)
     */
    Tensor attend(Segment segment);

    /**
     * Appends the segment to the cache exactly as {@link #attend} does, without its output: for a caller that has
     * the outputs already (the runtime completing a segment from the rows it decoded, {@link Capability#EXACT_ROWS}).
     * The state afterwards equals, bit for bit, what {@link #attend} leaves (the test kit checks it). The default
     * calls {@link #attend}; an attention with a cache overrides it to skip the arithmetic.
     */
    default void append(Segment segment) {
        attend(segment);
    }

    /**
     * Rows {@code [from, N)} of what {@link #attend} would return for {@code segment}, changing no state: nothing
     * is appended to a cache. For decoding inside a segment: the runtime holds the segment's keys and values
     * so far and asks only for the new rows' outputs. Only k and v are read for rows before {@code from}; q and
     * h there are unspecified (the runtime passes zeros). Optional: providers that declare
     * {@link Capability#PARTIAL_ROWS} implement it; the test kit checks it against {@link #attend}.
     *
     * @param from first new row, in [0, N)
     * @return [H, N - from, dv]; owned by this attention and valid until its next call
     */
    default Tensor attendRows(Segment segment, int from) {
        throw new UnsupportedOperationException(getClass().getName() + " does not implement attendRows; an attention"
                + " whose provider declares Capability.PARTIAL_ROWS must (a wrapper must pass it on)");
    }

    /**
     * {@link #attendRows}{@code (segment, from)}, where the keys and values of rows before {@code from} are those this
     * attention's previous call, {@link #attendRows} or this, was given for the same segment (the same start
     * position, with no {@link #attend}, {@link #append}, reset or restore since), which it holds: here they are
     * unspecified (the runtime passes zeros) and not read. The rows [from, N) are held in turn for the next call.
     * Optional: attentions whose provider declares {@link Capability#HELD_ROWS} implement it; the test kit checks
     * it against {@link #attendRows} bit for bit.
     *
     * @param from first new row, in [0, N)
     * @return [H, N - from, dv]; owned by this attention and valid until its next call
     * @throws IllegalStateException when this attention does not hold rows [0, from) of this segment (a
     *                               fork or a restore holds none): nothing changed; the caller gives the whole
     *                               segment to {@link #attendRows} instead
     */
    default Tensor attendNewRows(Segment segment, int from) {
        throw new UnsupportedOperationException(getClass().getName() + " does not implement attendNewRows; an attention"
                + " whose provider declares Capability.HELD_ROWS must (a wrapper must pass it on)");
    }
}
