package dev.engram.api;

import java.util.function.Consumer;

/**
 * What one layer does for one segment between its dense blocks, written once for every caller (the runtime's
 * pipeline, the conformance runner, {@code engram plan}, the demos): the attention's output, the memory's read, the
 * readout combined with that output (per head) or handed on as a model-space addend, then the memory's write
 * (docs/schemes.md section 0). A token never reads its own segment from
 * memory, because the write comes last.
 */
public final class LayerStep {
    private LayerStep() {
    }

    /**
     * Runs the whole segment into the layer's state.
     *
     * @param attention the layer's attention, or null when {@code attnOut} already holds the local output (a
     *                  conformance case gives it)
     * @param memory    the layer's long-term memory, or null for none
     * @param attnOut   [H, N, dv], the caller's: receives the attention output, combined with a per-head readout
     * @param addendOut [N, e] or null: receives a model-space readout's addend, zeros otherwise
     * @param readout   called with the readout after the combine and before the write (the readout is valid only
     *                  until the write), for callers that report it; may be null
     */
    public static void run(Attention attention, LongTermMemory memory, Segment segment, Tensor attnOut, Tensor addendOut,
                           Consumer<Readout> readout) {
        if (attention != null) {
            attnOut.copyFrom(attention.attend(segment).requireShape("attention output", attnOut.shape()));
        }
        if (memory == null) {
            if (addendOut != null) {
                addendOut.fill(0f);
            }
            return;
        }
        Readout r = memory.read(segment);
        mix(memory, r, attnOut, addendOut);
        if (readout != null) {
            readout.accept(r);
        }
        memory.write(segment);
    }

    /**
     * The state changes of {@link #run} without its outputs: {@link Attention#append}, then the memory's read (which
     * may remember something for the write, as sticky memories do) and write. {@code combine} is left out: it mixes
     * and changes no state. For a caller that has the segment's outputs already (the runtime completing a segment
     * decoded row by row).
     */
    public static void commit(Attention attention, LongTermMemory memory, Segment segment) {
        attention.append(segment);
        if (memory != null) {
            memory.read(segment);
            memory.write(segment);
        }
    }

    /**
     * Rows {@code [from, N)} of {@link #run}'s outputs, changing no state ({@link Attention#attendRows},
     * {@link LongTermMemory#readRows}, no write): for decoding inside a segment in progress.
     *
     * @param attnOut   [H, N - from, dv]
     * @param addendOut [N - from, e] or null
     */
    public static void rows(Attention attention, LongTermMemory memory, Segment segment, int from, Tensor attnOut,
                            Tensor addendOut) {
        rows(attention, memory, segment, from, false, attnOut, addendOut);
    }

    /**
     * {@link #rows}, where with {@code newOnly} the attention is given only the new rows' keys and values
     * ({@link Attention#attendNewRows}, {@link Capability#HELD_ROWS}: it holds the earlier ones); its
     * IllegalStateException, when it holds other rows, comes back before anything changed.
     */
    public static void rows(Attention attention, LongTermMemory memory, Segment segment, int from, boolean newOnly,
                            Tensor attnOut, Tensor addendOut) {
        Tensor local = newOnly ? attention.attendNewRows(segment, from) : attention.attendRows(segment, from);
        attnOut.copyFrom(local.requireShape("attention rows", attnOut.shape()));
        if (memory == null) {
            if (addendOut != null) {
                addendOut.fill(0f);
            }
            return;
        }
        mix(memory, memory.readRows(segment, from), attnOut, addendOut);
    }

    /**
     * A readout into the layer's outputs: a per-head one combined into {@code attnOut} (copied at once: what a memory
     * returns is valid only until its next call, and the write follows), a model-space one into {@code addendOut}.
     */
    private static void mix(LongTermMemory m, Readout r, Tensor attnOut, Tensor addendOut) {
        Tensor combined = m.combine(attnOut, r);
        if (combined != attnOut) {
            attnOut.copyFrom(combined.requireShape("combined output", attnOut.shape()));
        }
        if (addendOut == null) {
            return;
        }
        if (r instanceof Readout.ModelSpace ms) {
            addendOut.copyFrom(ms.addend().requireShape("memory addend", addendOut.shape()));
        } else {
            addendOut.fill(0f);
        }
    }
}
