package dev.engram.memory.infini;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.Gates;
import dev.engram.spi.LayerContext;
import dev.engram.spi.SnapshotSupport;

/**
 * Infini-attention's compressive memory for one (sequence, layer): per kv head a matrix M (dk x dv)
 * and a normaliser z (dk), read with sigma(Q) M / max(sigma(Q) z, eps) and written with the linear or
 * delta rule (shared/SCHEMES.md section 1, arXiv 2404.07143).
 *
 * <p>The kernels are outer-product loops whose innermost loop runs over contiguous dv floats, the
 * shape C2 auto-vectorises; every buffer is allocated once and grown only when a longer segment
 * arrives, so a steady stream of segments allocates nothing.
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
    private Tensor readout = Tensor.zeros(0);
    private Tensor combined = Tensor.zeros(0);

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
        return x > 0f ? x + 1f : (float) Math.exp(x);
    }

    private void ensureCapacity(int tokens) {
        if (readout.rank() != 3 || readout.dim(1) != tokens) {
            readout = Tensor.zeros(spec.heads(), tokens, dv);
            combined = Tensor.zeros(spec.heads(), tokens, dv);
        }
        if (sigma.length < tokens * dk) {
            sigma = new float[tokens * dk];
            retrieved = new float[tokens * dv];
        }
    }

    @Override
    public Readout read(Segment segment) {
        Tensor q = segment.requireQ(spec);
        int n = q.dim(1);
        ensureCapacity(n);
        float[] qa = q.array();
        float[] out = readout.array();
        for (int h = 0; h < spec.heads(); h++) {
            int g = spec.kvHeadOf(h);
            features(qa, q.offset() + h * n * dk, n);
            retrieve(g, n, out, h * n * dv);
        }
        return new Readout.PerHead(readout);
    }

    /** sigma of {@code rows} rows of width dk from {@code src[offset..]} into {@link #sigma}. */
    private void features(float[] src, int offset, int rows) {
        float[] s = sigma;
        for (int i = 0; i < rows * dk; i++) {
            s[i] = sigma(src[offset + i]);
        }
    }

    /** For each of {@code rows} feature rows: sigma M_g / max(sigma z_g, eps) into {@code out[outOffset..]}. */
    private void retrieve(int g, int rows, float[] out, int outOffset) {
        float[] m = memory;
        float[] z = normaliser;
        float[] s = sigma;
        int mBase = g * dk * dv;
        int zBase = g * dk;
        for (int t = 0; t < rows; t++) {
            int o = outOffset + t * dv;
            java.util.Arrays.fill(out, o, o + dv, 0f);
            float denominator = 0f;
            for (int i = 0; i < dk; i++) {
                float si = s[t * dk + i];
                denominator += si * z[zBase + i];
                int row = mBase + i * dv;
                for (int j = 0; j < dv; j++) {
                    out[o + j] += si * m[row + j];
                }
            }
            float inverse = 1f / Math.max(denominator, eps);
            for (int j = 0; j < dv; j++) {
                out[o + j] *= inverse;
            }
        }
    }

    @Override
    public Tensor combine(Tensor local, Readout r) {
        Tensor values = ((Readout.PerHead) r).values();
        int n = values.dim(1);
        local.requireShape("local", spec.heads(), n, dv);
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
        float[] s = sigma;
        float[] r = retrieved;
        for (int g = 0; g < spec.kvHeads(); g++) {
            features(ka, k.offset() + g * n * dk, n);
            int vBase = v.offset() + g * n * dv;
            if (delta) {
                // Retrieval uses the state before this segment (the paper's matrix form).
                retrieve(g, n, r, 0);
            }
            int mBase = g * dk * dv;
            int zBase = g * dk;
            for (int t = 0; t < n; t++) {
                int vRow = vBase + t * dv;
                int rRow = t * dv;
                for (int i = 0; i < dk; i++) {
                    float si = s[t * dk + i];
                    nextNormaliser[zBase + i] += si;
                    int row = mBase + i * dv;
                    if (delta) {
                        for (int j = 0; j < dv; j++) {
                            nextMemory[row + j] += si * (va[vRow + j] - r[rRow + j]);
                        }
                    } else {
                        for (int j = 0; j < dv; j++) {
                            nextMemory[row + j] += si * va[vRow + j];
                        }
                    }
                }
            }
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
            return () -> {
                memory = m;
                normaliser = z;
            };
        });
    }

    @Override
    public long stateBytes() {
        return 4L * (memory.length + normaliser.length);
    }
}
