package dev.engram.memory.infini;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.Tensor;
import dev.engram.spi.Gates;
import dev.engram.spi.LayerContext;
import dev.engram.spi.SnapshotSupport;
import dev.engram.spi.kernel.FloatKernels;
import dev.engram.spi.kernel.ParallelHeads;

/**
 * Infini-attention's compressive memory for one (sequence, layer): per kv head a matrix M (dk x dv)
 * and a normaliser z (dk), read with sigma(Q) M / max(sigma(Q) z, eps) and written with the linear or
 * delta rule (docs/schemes.md section 1, arXiv 2404.07143).
 *
 * <p>The products sigma(Q) M and sigma(K)^T V and the feature map run on {@link FloatKernels} (SIMD
 * registers where the JVM offers the Vector API), the small loops in {@link Kernels}; heads run on
 * {@link ParallelHeads}. Every buffer is allocated once and grown only when a longer segment arrives, so a
 * steady stream of segments allocates no buffers (a parallel call allocates its small hand-off).
 */
final class InfiniMemory implements LongTermMemory {
    private static final FloatKernels KERNELS = FloatKernels.get();
    private final LayerContext context;
    private final int stateVersion;
    private final LayerSpec spec;
    private final boolean delta;
    private final float eps;
    private final float[] gates;
    private final int dk;
    private final int dv;

    /** M for kv head g at [g * dk * dv + i * dv + j]; z at [g * dk + i]. */
    private float[] memory;
    private float[] normaliser;
    /** The next state, built beside the live one and swapped in only when it is finite. */
    private float[] nextMemory;
    private float[] nextNormaliser;

    /**
     * Per thread slot ({@link ParallelHeads}): sigma of one head's rows [tokens * dk], and its retrieved values
     * [tokens * dv]; each grown by the thread that uses it, when it is used.
     */
    private final float[][] sigma;
    private final float[][] retrieved;
    /** The segment being read or written, for the per-head work on whichever thread runs a head. */
    private Tensor callTensor;
    private Tensor callValues;
    private int callRows;
    private int callFrom;
    private final ParallelHeads.HeadWork readHead = this::readHead;
    private final ParallelHeads.HeadWork writeHead = this::writeHead;
    private float[] readoutData = new float[0];
    private float[] combinedData = new float[0];
    /** The segment length the views below are shaped for; -1 before the first segment. */
    private int viewTokens = -1;
    private Tensor readout;
    private Tensor combined;
    private Readout.PerHead perHead;

    InfiniMemory(LayerContext context, int stateVersion) {
        this.context = context;
        this.stateVersion = stateVersion;
        this.spec = context.spec();
        this.delta = context.config().get(InfiniMemoryProvider.UPDATE) == InfiniMemoryProvider.Update.DELTA;
        this.eps = context.config().get(InfiniMemoryProvider.EPS).floatValue();
        this.gates = Gates.sigmoids(context.weights().get("beta"));
        this.dk = spec.keyDim();
        this.dv = spec.valueDim();
        this.memory = new float[spec.kvHeads() * dk * dv];
        this.normaliser = new float[spec.kvHeads() * dk];
        this.nextMemory = new float[memory.length];
        this.nextNormaliser = new float[normaliser.length];
        int slots = ParallelHeads.slots(spec.heads());
        this.sigma = new float[slots][0];
        this.retrieved = new float[slots][0];
    }

    @Override
    public LayerSpec spec() {
        return spec;
    }

    /**
     * Grows the scratch buffers to {@code tokens} rows (never shrinks them) and re-points the
     * returned tensors at them when the segment length changes: after the longest segment has been
     * seen, a segment of a new length costs two small view objects and a segment of the last length
     * costs nothing.
     */
    private void ensureCapacity(int tokens) {
        if (viewTokens != tokens) {
            int size = spec.heads() * tokens * dv;
            if (readoutData.length < size) {
                readoutData = new float[size];
                combinedData = new float[size];
            }
            readout = Tensor.view(readoutData, 0, spec.heads(), tokens, dv);
            combined = Tensor.view(combinedData, 0, spec.heads(), tokens, dv);
            perHead = new Readout.PerHead(readout);
            viewTokens = tokens;
        }
    }

    @Override
    public Readout read(Segment segment) {
        return readFrom(segment, 0);
    }

    /** A read changes no state and each query row reads alone, so rows [from, N) are read exactly as in {@link #read}. */
    @Override
    public Readout readRows(Segment segment, int from) {
        return readFrom(segment, segment.requireRowsFrom(from));
    }

    private Readout readFrom(Segment segment, int from) {
        Tensor q = segment.requireQ(spec, from); // rows before from are not read
        int n = q.dim(1);
        int rows = n - from;
        ensureCapacity(rows);
        callTensor = q;
        callRows = n;
        callFrom = from;
        ParallelHeads.run(spec.heads(), (long) spec.heads() * rows * dk * dv, readHead);
        return perHead;
    }

    /** Rows [callFrom, callRows) of head h's query, read into its slice of the readout. */
    private void readHead(int h, int slot) {
        Tensor q = callTensor;
        int n = callRows;
        int rows = n - callFrom;
        ensureScratch(slot, rows);
        KERNELS.elu1(q.array(), q.offset() + (h * n + callFrom) * dk, sigma[slot], 0, rows * dk);
        retrieve(spec.kvHeadOf(h), sigma[slot], rows, readoutData, h * rows * dv);
    }

    /** Slot {@code slot}'s scratch for {@code tokens} rows, grown by the thread that uses the slot. */
    private void ensureScratch(int slot, int tokens) {
        if (sigma[slot].length < tokens * dk) {
            sigma[slot] = new float[tokens * dk];
            retrieved[slot] = new float[tokens * dv];
        }
    }

    /** For each of {@code rows} feature rows in {@code features}: sigma M_g / max(sigma z_g, eps) into {@code out[outOffset..]}. */
    private void retrieve(int g, float[] features, int rows, float[] out, int outOffset) {
        java.util.Arrays.fill(out, outOffset, outOffset + rows * dv, 0f);
        KERNELS.addProduct(out, outOffset, features, 0, dk, 1, memory, g * dk * dv, rows, dk, dv);
        Kernels.normalise(out, outOffset, features, normaliser, g * dk, rows, dk, dv, eps);
    }

    @Override
    public Tensor combine(Tensor local, Readout r) {
        if (!(r instanceof Readout.PerHead p)) {
            throw new dev.engram.api.InvalidInputException("readout", "is " + r.getClass().getSimpleName()
                    + "; provider 'infini' combines only its own per-head readout");
        }
        Tensor values = p.values();
        int n = values.dim(1);
        ensureCapacity(n);
        // NaN or an infinity in local would pass through the gate into the output unnoticed
        local.requireShape("local", spec.heads(), n, dv).requireFinite("local");
        Gates.combine(gates, local, values, combined);
        return combined;
    }

    @Override
    public void write(Segment segment) {
        Tensor k = segment.requireK(spec);
        Tensor v = segment.requireV(spec);
        int n = k.dim(1);
        ensureCapacity(n);
        System.arraycopy(memory, 0, nextMemory, 0, memory.length);
        System.arraycopy(normaliser, 0, nextNormaliser, 0, normaliser.length);
        callTensor = k;
        callValues = v;
        callRows = n;
        long multiplyAdds = (long) spec.kvHeads() * n * dk * dv * (delta ? 2 : 1);
        ParallelHeads.run(spec.kvHeads(), multiplyAdds, writeHead);
        requireFinite(nextMemory, dk * dv, "M");
        requireFinite(nextNormaliser, dk, "z");
        float[] t = memory;
        memory = nextMemory;
        nextMemory = t;
        t = normaliser;
        normaliser = nextNormaliser;
        nextNormaliser = t;
    }

    /** kv head g's share of a write: its M and z in the next state, from the segment's keys and values. */
    private void writeHead(int g, int slot) {
        Tensor k = callTensor;
        Tensor v = callValues;
        int n = callRows;
        ensureScratch(slot, n);
        float[] features = sigma[slot];
        KERNELS.elu1(k.array(), k.offset() + g * n * dk, features, 0, n * dk);
        float[] values = v.array();
        int valuesOffset = v.offset() + g * n * dv;
        if (delta) {
            // V - sigma(K) M / max(sigma(K) z, eps), retrieved from the state before this segment
            // (the paper's matrix form).
            float[] residual = retrieved[slot];
            retrieve(g, features, n, residual, 0);
            Kernels.residual(values, valuesOffset, residual, n * dv);
            values = residual;
            valuesOffset = 0;
        }
        KERNELS.addProduct(nextMemory, g * dk * dv, features, 0, 1, dk, values, valuesOffset, dk, n, dv);
        Kernels.columnSums(nextNormaliser, g * dk, features, n, dk);
    }

    private void requireFinite(float[] state, int perHead, String what) {
        for (int i = 0; i < state.length; i++) {
            if (!Float.isFinite(state[i])) {
                throw new NonFiniteStateException(context.describe() + ": the write would make " + what + " of kv head "
                        + i / perHead + " " + state[i] + "; the segment was not written (inputs too large for float32?)");
            }
        }
    }

    @Override
    public void reset() {
        java.util.Arrays.fill(memory, 0f);
        java.util.Arrays.fill(normaliser, 0f);
    }

    /** A copy with this state: M and z per kv head (the scratch buffers are the copy's own). */
    @Override
    public InfiniMemory copy() {
        InfiniMemory c = new InfiniMemory(context, stateVersion);
        System.arraycopy(memory, 0, c.memory, 0, memory.length);
        System.arraycopy(normaliser, 0, c.normaliser, 0, normaliser.length);
        return c;
    }

    @Override
    public Snapshot snapshot() {
        return SnapshotSupport.save(context, stateVersion, w -> w.name("memory").writeFloats(memory).name("normaliser").writeFloats(normaliser));
    }

    @Override
    public void restore(Snapshot snapshot) {
        SnapshotSupport.load(context, stateVersion, snapshot, r -> {
            float[] m = r.readFloats("M", memory.length);
            float[] z = r.readFloats("z", normaliser.length);
            requireFiniteSnapshot(m, dk * dv, "M");
            requireFiniteSnapshot(z, dk, "z");
            return () -> {
                memory = m;
                normaliser = z;
            };
        });
    }

    /**
     * A write never leaves a non-finite state, so a snapshot holding one was damaged or made elsewhere;
     * restoring it would turn every later read into NaN.
     */
    private static void requireFiniteSnapshot(float[] state, int perHead, String what) {
        for (int i = 0; i < state.length; i++) {
            if (!Float.isFinite(state[i])) {
                throw new SnapshotException("snapshot." + what + " of kv head " + i / perHead + " holds " + state[i]
                        + " at index " + i % perHead + "; valid: finite values (a write never stores anything else)");
            }
        }
    }

    @Override
    public long stateBytes() {
        return 4L * (memory.length + normaliser.length);
    }
}
