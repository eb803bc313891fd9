package dev.engram.examples.ema;

import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateReader;
import dev.engram.api.Tensor;
import dev.engram.spi.Gates;
import dev.engram.spi.LayerContext;
import dev.engram.spi.SnapshotSupport;

/**
 * One (sequence, layer) of the {@code ema} memory. Not thread-safe: one thread at a time, as every
 * {@link dev.engram.api.SequenceState}. Buffers are reused; a segment as long as an earlier one
 * allocates nothing.
 */
final class EmaMemory implements LongTermMemory {
    private final LayerContext context;
    private final LayerSpec spec;
    private final int stateVersion;
    private final double decay;
    private final float[] gates;

    /** s[g * dv + d]: the summary of kv head g. */
    private final float[] state;
    /** The next state, built in full before it replaces {@link #state} (so a failed write changes nothing). */
    private final float[] next;

    private float[] readBuffer = new float[0];
    private float[] combineBuffer = new float[0];
    private Readout.PerHead readout;
    private Tensor combined;

    EmaMemory(LayerContext context, int stateVersion, double decay) {
        this.context = context;
        this.spec = context.spec();
        this.stateVersion = stateVersion;
        this.decay = decay;
        this.gates = Gates.sigmoids(context.weights().get("gate"));
        this.state = new float[spec.kvHeads() * spec.valueDim()];
        this.next = new float[state.length];
    }

    @Override
    public LayerSpec spec() {
        return spec;
    }

    /** Every query of head h reads s_{g(h)}; the queries' values do not matter, only their count. */
    @Override
    public Readout read(Segment segment) {
        segment.requireQ(spec);
        return readout(segment.length());
    }

    /**
     * The read changes no state and each row reads on its own, so the rows [from, N) of a segment in progress
     * are simply a read of N - from rows (PARTIAL_ROWS: the runtime decodes token by token with it).
     */
    @Override
    public Readout readRows(Segment segment, int from) {
        segment.requireQ(spec);
        return readout(segment.length() - segment.requireRowsFrom(from));
    }

    private Readout readout(int n) {
        int heads = spec.heads();
        int dv = spec.valueDim();
        if (readout == null || readout.values().dim(1) != n) {
            if (readBuffer.length < heads * n * dv) {
                readBuffer = new float[heads * n * dv];
            }
            readout = new Readout.PerHead(Tensor.view(readBuffer, 0, heads, n, dv));
        }
        for (int h = 0; h < heads; h++) {
            int from = spec.kvHeadOf(h) * dv;
            for (int i = 0; i < n; i++) {
                System.arraycopy(state, from, readBuffer, (h * n + i) * dv, dv);
            }
        }
        return readout;
    }

    @Override
    public Tensor combine(Tensor local, Readout readout) {
        if (!(readout instanceof Readout.PerHead perHead)) {
            throw new InvalidInputException("readout", "is " + readout.getClass().getSimpleName()
                    + "; valid: the PerHead readout that 'ema' read() returned");
        }
        Tensor memory = perHead.values();
        int n = memory.dim(1);
        local.requireShape("local", spec.heads(), n, spec.valueDim()).requireFinite("local");
        if (combined == null || combined.dim(1) != n) {
            if (combineBuffer.length < memory.size()) {
                combineBuffer = new float[memory.size()];
            }
            combined = Tensor.view(combineBuffer, 0, spec.heads(), n, spec.valueDim());
        }
        Gates.combine(gates, local, memory, combined);
        return combined;
    }

    /** s_g = decay * s_g + (1 - decay) * (mean over the segment's tokens of v[g]). */
    @Override
    public void write(Segment segment) {
        Tensor v = segment.requireV(spec);
        int n = segment.length();
        int dv = spec.valueDim();
        float[] a = v.array();
        for (int g = 0; g < spec.kvHeads(); g++) {
            int base = v.offset() + g * n * dv;
            for (int d = 0; d < dv; d++) {
                double sum = 0;
                for (int t = 0; t < n; t++) {
                    sum += a[base + t * dv + d];
                }
                float value = (float) (decay * state[g * dv + d] + (1 - decay) * (sum / n));
                if (!Float.isFinite(value)) {
                    throw new NonFiniteStateException(context.describe() + ": the summary of kv head " + g
                            + " would become " + value + " at value dim " + d + "; the memory keeps its previous state");
                }
                next[g * dv + d] = value;
            }
        }
        System.arraycopy(next, 0, state, 0, state.length);
    }

    @Override
    public void reset() {
        java.util.Arrays.fill(state, 0f);
    }

    /** Payload (state version 1): the G * dv summary floats. */
    @Override
    public Snapshot snapshot() {
        return SnapshotSupport.save(context, stateVersion, w -> w.name("state").writeFloats(state));
    }

    @Override
    public void restore(Snapshot snapshot) {
        SnapshotSupport.load(context, stateVersion, snapshot, this::readState);
    }

    private Runnable readState(StateReader reader) {
        float[] saved = reader.readFloats("state", state.length);
        for (int i = 0; i < saved.length; i++) {
            if (!Float.isFinite(saved[i])) {
                throw new SnapshotException("snapshot.state[" + i + "] is " + saved[i] + "; valid: finite values");
            }
        }
        return () -> System.arraycopy(saved, 0, state, 0, state.length);
    }

    @Override
    public long stateBytes() {
        return (long) state.length * Float.BYTES;
    }
}
