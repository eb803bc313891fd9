package dev.engram.api;

/**
 * The per-(sequence, layer) state that an {@link Attention} cache or a {@link LongTermMemory} keeps.
 *
 * <p>Thread confinement: an instance belongs to one sequence and is used by one thread at a time.
 * Handing it to another thread needs a happens-before edge (an executor, a lock, a queue); calling it
 * from two threads at once is a bug whose result is undefined. Instances never share mutable state
 * with one another, so different sequences may run on different threads freely.
 */
public interface SequenceState {
    /** Back to the empty state, as if freshly created. */
    void reset();

    /** The whole state, restorable bit-exactly with {@link #restore}. */
    Snapshot snapshot();

    /**
     * Replaces the state with {@code snapshot}'s. A snapshot of another provider, version or layer
     * shape, or a damaged one, fails with {@link SnapshotException} and leaves the current state unchanged.
     */
    void restore(Snapshot snapshot);

    /**
     * An independent copy of this state, for forking a sequence and for checkpoints: the copy and this instance then
     * change independently (a call on one never changes what the other returns), and the copy continues exactly as
     * this one would, bit for bit. It should cost a copy of the state's arrays (or share what neither will change),
     * not a serialisation. Optional: the default returns null, and the runtime then makes the copy by creating a new
     * instance and {@link #restore restoring} this one's {@link #snapshot} into it, which is correct but slower.
     * The test kit checks a copy's independence either way.
     *
     * <p>Declare the override with the implementing class as its return type ({@code public MyMemory copy()}); the
     * runtime requires a copy of the same class as the original.
     *
     * @return a new instance of the same class, or null where this state does not copy itself
     */
    default SequenceState copy() {
        return null;
    }

    /** Bytes of float state held now (caches, matrices, stores), excluding fixed weights. */
    long stateBytes();
}
