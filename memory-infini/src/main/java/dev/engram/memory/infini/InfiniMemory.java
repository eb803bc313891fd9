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

/**
 * Infini-attention's compressive memory for one (sequence, layer): per kv head a matrix M (dk x dv)
 * and a normaliser z (dk), read with sigma(Q) M / max(sigma(Q) z, eps) and written with the linear or
 * delta rule (shared/SCHEMES.md section 1, arXiv 2404.07143).
 *
 * <p>The kernels ({@link Kernels}) are register-blocked loops whose innermost loop runs over
 * contiguous dv floats, the shape C2 auto-vectorises; every buffer is allocated once and grown only
 * when a longer segment arrives, so a steady stream of segments allocates nothing.
 */
final class InfiniMemory implements LongTermMemory {
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

    private float[] sigma = new float[0];
    private float[] retrieved = new float[0];
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
    }

    @Override
    public LayerSpec spec() {
        return spec;
    }

    /** sigma(x) = ELU(x) + 1: x + 1 for x > 0, exp(x) otherwise. Always positive. */
    static float sigma(float x) {
        return Kernels.sigma(x);
    }

    /**
     * Grows the scratch buffers to {@code tokens} rows (never shrinks them) and re-points the
     * returned tensors at them when the segment length changes: after the longest segment has been
     * seen, a segment of a new length costs two small view objects and a segment of the last length
     * costs nothing.
     */
    private void ensureCapacity(int tokens) {
        if (sigma.length < tokens * dk) {
            sigma = new float[tokens * dk];
            retrieved = new float[tokens * dv];
        }
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
        Tensor q = segment.requireQ(spec);
        int n = q.dim(1);
        int rows = n - from;
        ensureCapacity(rows);
        float[] qa = q.array();
        float[] out = readoutData;
        for (int h = 0; h < spec.heads(); h++) {
            int g = spec.kvHeadOf(h);
            Kernels.features(qa, q.offset() + (h * n + from) * dk, sigma, rows * dk);
            retrieve(g, rows, out, h * rows * dv);
        }
        return perHead;
    }

    /** For each of {@code rows} feature rows in {@link #sigma}: sigma M_g / max(sigma z_g, eps) into {@code out[outOffset..]}. */
    private void retrieve(int g, int rows, float[] out, int outOffset) {
        java.util.Arrays.fill(out, outOffset, outOffset + rows * dv, 0f);
        Kernels.accumulate(out, outOffset, sigma, 0, dk, 1, memory, g * dk * dv, rows, dk, dv);
        Kernels.normalise(out, outOffset, sigma, normaliser, g * dk, rows, dk, dv, eps);
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
        float[] ka = k.array();
        float[] va = v.array();
        for (int g = 0; g < spec.kvHeads(); g++) {
            Kernels.features(ka, k.offset() + g * n * dk, sigma, n * dk);
            int vBase = v.offset() + g * n * dv;
            float[] values = va;
            int valuesOffset = vBase;
            if (delta) {
                // V - sigma(K) M / max(sigma(K) z, eps), retrieved from the state before this segment
                // (the paper's matrix form).
                retrieve(g, n, retrieved, 0);
                Kernels.residual(va, vBase, retrieved, n * dv);
                values = retrieved;
                valuesOffset = 0;
            }
            Kernels.accumulate(nextMemory, g * dk * dv, sigma, 0, 1, dk, values, valuesOffset, dk, n, dv);
            Kernels.columnSums(nextNormaliser, g * dk, sigma, n, dk);
        }
        requireFinite(nextMemory, dk * dv, "M");
        requireFinite(nextNormaliser, dk, "z");
        float[] t = memory;
        memory = nextMemory;
        nextMemory = t;
        t = normaliser;
        normaliser = nextNormaliser;
        nextNormaliser = t;
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

    @Override
    public Snapshot snapshot() {
        return SnapshotSupport.save(context, stateVersion, w -> w.writeFloats(memory).writeFloats(normaliser));
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
