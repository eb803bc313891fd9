package dev.engram.api;

/**
 * An input that only some providers take, carried beside a {@link Segment}'s core tensors: a provider that needs one
 * asks {@link Segment#extension(Class)} for its type and declares in its documentation what it does without one; a
 * provider that does not know the type never sees it. The runtime's pipeline supplies none; tests and conformance
 * cases do. Implementations are immutable values that check their own contents when created.
 */
public interface SegmentExtension {
}
