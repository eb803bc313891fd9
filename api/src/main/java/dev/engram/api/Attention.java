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
}
