package dev.engram.api;

/**
 * A long-term memory beside the local attention window, for one (sequence, layer).
 *
 * <p>Per segment the pipeline calls {@link #read}, then {@link #combine} (per-head readouts only),
 * then {@link #write} (docs/schemes.md section 0): a token never reads its own segment from memory.
 *
 * <p><b>Who owns which buffer, and for how long.</b>
 * <ul>
 *   <li>The {@link Segment}'s tensors (q, k, v, h) belong to the caller and are valid only during the call that
 *       receives them: a memory copies what it keeps and never writes them (the test kit feeds changed inputs
 *       afterwards and checks nothing moved).</li>
 *   <li>A returned {@link Readout} (and its diagnostics) belongs to the memory and stays valid until the next call
 *       on this instance, with one exception made for the pipeline: the {@link #combine} that immediately follows a
 *       {@link #read} or {@link #readRows} may be given that readout, so the memory must not reuse the readout's
 *       buffers inside {@code combine}. The caller copies what it keeps longer.</li>
 *   <li>{@code combine}'s {@code local} belongs to the caller and may be overwritten in place only by returning it;
 *       the returned tensor belongs to the memory until its next call.</li>
 *   <li>Weights ({@link dev.engram.api.Tensor}s the provider received when created) are shared by every sequence of
 *       the model: read them, never write them (the test kit checks that they are unchanged after a run).</li>
 * </ul>
 */
public interface LongTermMemory extends SequenceState {
    LayerSpec spec();

    /** Reads with this segment's queries, using only what earlier segments wrote. */
    Readout read(Segment segment);

    /**
     * Mixes a {@link Readout.PerHead} readout with the local attention output [H, N, dv] and returns
     * the combined [H, N, dv]. For a {@link Readout.ModelSpace} readout the local output is returned
     * unchanged: the addend goes to the post-attention block instead. Changes no state (a caller that needs no
     * output may leave it out: {@link LayerStep#commit}).
     */
    Tensor combine(Tensor local, Readout readout);

    /** Writes this segment into memory (after the read). */
    void write(Segment segment);

    /**
     * The readout of rows {@code [from, N)} that {@link #read} would return for {@code segment}, changing no
     * state (a read that remembers something for the next write, as sticky memories do, remembers nothing here).
     * Rows before {@code from} are not read. The readout is shaped for the {@code N - from} rows ([H, N - from, dv]
     * per head, or [N - from, e] in model space), and {@link #combine} takes it with the local output of those
     * rows. Optional: providers that declare {@link Capability#PARTIAL_ROWS} implement it; the test kit checks it
     * against {@link #read}.
     *
     * @param from first row to read, in [0, N)
     */
    default Readout readRows(Segment segment, int from) {
        throw new UnsupportedOperationException(getClass().getName() + " does not implement readRows; a memory"
                + " whose provider declares Capability.PARTIAL_ROWS must (a wrapper must pass it on)");
    }
}
