package dev.engram.tck;

import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.Gates;
import dev.engram.spi.LayerContext;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SnapshotSupport;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.List;

/**
 * A small correct memory used to test the test kit itself: per kv head it keeps the running sum of
 * the values written; a read returns that sum (times `scale`) to every query head of the group.
 * {@link Flaw} switches on one deliberate bug at a time, and the kit must catch each.
 */
final class SummaryMemory implements LongTermMemoryProvider {
    enum Flaw { NONE, READS_OWN_SEGMENT, LOSSY_SNAPSHOT, RESET_KEEPS_STATE, MUTATES_BEFORE_VALIDATING, NONDETERMINISTIC }

    static final ConfigKey<Double> SCALE = ConfigKey.ofDouble("scale", 1.0, "readout scale").check(v -> v > 0, "> 0");
    private final Flaw flaw;
    private static int counter;

    SummaryMemory(Flaw flaw) {
        this.flaw = flaw;
    }

    @Override public String name() { return "summary"; }
    @Override public int spiVersion() { return SpiVersion.CURRENT; }
    @Override public int stateVersion() { return 1; }
    @Override public ConfigSchema configSchema() { return ConfigSchema.of(SCALE); }

    @Override
    public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
        return List.of(WeightSpec.required("gate", spec.heads()));
    }

    @Override
    public boolean supports(Capability c, ProviderConfig config) {
        return c != Capability.STOCHASTIC;
    }

    @Override
    public LongTermMemory create(LayerContext context) {
        return new Memory(context);
    }

    final class Memory implements LongTermMemory {
        private final LayerContext context;
        private final float scale;
        private final float[] gates;
        private float[] sums;

        Memory(LayerContext context) {
            this.context = context;
            this.scale = context.config().get(SCALE).floatValue();
            this.gates = Gates.sigmoids(context.weights().get("gate"));
            this.sums = new float[context.spec().kvHeads() * context.spec().valueDim()];
        }

        @Override public LayerSpec spec() { return context.spec(); }

        @Override
        public Readout read(Segment segment) {
            LayerSpec s = spec();
            Tensor q = segment.requireQ(s);
            int n = q.dim(1);
            if (flaw == Flaw.READS_OWN_SEGMENT) {
                write(segment);
            }
            Tensor out = Tensor.zeros(s.heads(), n, s.valueDim());
            float jitter = flaw == Flaw.NONDETERMINISTIC ? (counter++) * 1e-3f : 0f;
            for (int h = 0; h < s.heads(); h++) {
                int g = s.kvHeadOf(h);
                for (int t = 0; t < n; t++) {
                    for (int d = 0; d < s.valueDim(); d++) {
                        out.set(sums[g * s.valueDim() + d] * scale + jitter, h, t, d);
                    }
                }
            }
            return new Readout.PerHead(out);
        }

        @Override
        public Tensor combine(Tensor local, Readout readout) {
            Tensor values = ((Readout.PerHead) readout).values();
            local.requireShape("local", spec().heads(), values.dim(1), spec().valueDim()).requireFinite("local");
            Tensor out = local.copy();
            Gates.combine(gates, local, values, out);
            return out;
        }

        @Override
        public void write(Segment segment) {
            LayerSpec s = spec();
            if (flaw == Flaw.MUTATES_BEFORE_VALIDATING) {
                sums[0] += 1f;
            }
            Tensor v = segment.requireV(s);
            segment.requireK(s);
            float[] a = v.array();
            for (int g = 0; g < s.kvHeads(); g++) {
                for (int t = 0; t < v.dim(1); t++) {
                    for (int d = 0; d < s.valueDim(); d++) {
                        sums[g * s.valueDim() + d] += a[v.offset() + (g * v.dim(1) + t) * s.valueDim() + d];
                    }
                }
            }
        }

        @Override
        public void reset() {
            if (flaw != Flaw.RESET_KEEPS_STATE) {
                sums = new float[sums.length];
            }
        }

        @Override
        public Snapshot snapshot() {
            return SnapshotSupport.save(context, stateVersion(), w -> {
                float[] saved = sums.clone();
                if (flaw == Flaw.LOSSY_SNAPSHOT) {
                    for (int i = 0; i < saved.length; i++) {
                        saved[i] = (float) (double) Math.round(saved[i] * 1000) / 1000f;
                    }
                }
                w.writeFloats(saved);
            });
        }

        @Override
        public void restore(Snapshot snapshot) {
            SnapshotSupport.load(context, stateVersion(), snapshot, r -> {
                float[] restored = r.readFloats("sums", sums.length);
                return () -> sums = restored;
            });
        }

        @Override
        public long stateBytes() {
            return sums.length * 4L;
        }
    }
}
