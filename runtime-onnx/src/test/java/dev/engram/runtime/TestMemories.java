package dev.engram.runtime;

import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.LayerContext;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SnapshotSupport;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.List;

/**
 * Two small memories with simple math that the plain reference forward pass (ReferenceModel) recomputes:
 * "gate-memory" (per-head readout: the mean of all earlier values of the head's kv head, added to the
 * local output scaled by the learned gate[h]) and "addend-memory" (model-space: scale ⊙ the mean of all
 * earlier attention-input rows h).
 */
public final class TestMemories {
    private TestMemories() {
    }

    /** Whether the memory declares PARTIAL_ROWS (its readRows works either way), so tests can run both decode paths. */
    static final ConfigKey<Boolean> PARTIAL_ROWS = ConfigKey.ofBoolean("partialRows", true,
            "declare PARTIAL_ROWS, so the runtime decodes row by row");

    /** Whether it declares EXACT_ROWS with PARTIAL_ROWS (its rows are exact either way), for the boundary's two paths. */
    static final ConfigKey<Boolean> EXACT_ROWS = ConfigKey.ofBoolean("exactRows", true,
            "declare EXACT_ROWS, so the runtime completes a segment from the rows it holds");

    static boolean supports(Capability c, ProviderConfig config) {
        return switch (c) {
            case PARTIAL_ROWS -> config.get(PARTIAL_ROWS);
            case EXACT_ROWS -> config.get(PARTIAL_ROWS) && config.get(EXACT_ROWS);
            default -> c != Capability.STOCHASTIC;
        };
    }

    public static final class GateMemoryProvider implements LongTermMemoryProvider {
        @Override public String name() { return "gate-memory"; }
        @Override public int spiVersion() { return SpiVersion.CURRENT; }
        @Override public int stateVersion() { return 1; }
        @Override public ConfigSchema configSchema() { return ConfigSchema.of(PARTIAL_ROWS, EXACT_ROWS); }
        @Override public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
            return List.of(WeightSpec.required("gate", spec.heads()));
        }
        @Override public boolean supports(Capability c, ProviderConfig config) { return TestMemories.supports(c, config); }
        @Override public LongTermMemory create(LayerContext context) { return new Mean(context, this, true); }
    }

    public static final class AddendMemoryProvider implements LongTermMemoryProvider {
        @Override public String name() { return "addend-memory"; }
        @Override public int spiVersion() { return SpiVersion.CURRENT; }
        @Override public int stateVersion() { return 1; }
        @Override public ConfigSchema configSchema() { return ConfigSchema.of(PARTIAL_ROWS, EXACT_ROWS); }
        @Override public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
            return List.of(WeightSpec.required("scale", spec.modelDim()));
        }
        @Override public boolean supports(Capability c, ProviderConfig config) { return TestMemories.supports(c, config); }
        @Override public LongTermMemory create(LayerContext context) { return new Mean(context, this, false); }
    }

    /** Running sums of v per kv head (perHead) or of h (model space), and the token count. */
    static final class Mean implements LongTermMemory {
        private final LayerContext context;
        private final LongTermMemoryProvider provider;
        private final boolean perHead;
        private final int width;
        private float[] sum;
        private long count;

        Mean(LayerContext context, LongTermMemoryProvider provider, boolean perHead) {
            this.context = context;
            this.provider = provider;
            this.perHead = perHead;
            LayerSpec s = context.spec();
            this.width = perHead ? s.kvHeads() * s.valueDim() : s.modelDim();
            this.sum = new float[width];
        }

        @Override public LayerSpec spec() { return context.spec(); }

        @Override
        public Readout read(Segment segment) {
            return readout(segment, segment.length());
        }

        @Override
        public Readout readRows(Segment segment, int from) {
            return readout(segment, segment.length() - segment.requireRowsFrom(from));
        }

        /** Every row reads the same mean, so a read of any n rows is this. */
        private Readout readout(Segment segment, int n) {
            LayerSpec s = spec();
            if (perHead) {
                segment.requireQ(s);
                Tensor out = Tensor.zeros(s.heads(), n, s.valueDim());
                int group = s.heads() / s.kvHeads();
                for (int h = 0; h < s.heads(); h++) {
                    for (int t = 0; t < n; t++) {
                        for (int d = 0; d < s.valueDim(); d++) {
                            out.set(count == 0 ? 0f : sum[(h / group) * s.valueDim() + d] / count, h, t, d);
                        }
                    }
                }
                return new Readout.PerHead(out);
            }
            segment.requireH(s);
            Tensor scale = context.weights().get("scale");
            Tensor out = Tensor.zeros(n, s.modelDim());
            for (int t = 0; t < n; t++) {
                for (int d = 0; d < s.modelDim(); d++) {
                    out.set(count == 0 ? 0f : scale.get(d) * (sum[d] / count), t, d);
                }
            }
            return new Readout.ModelSpace(out);
        }

        @Override
        public Tensor combine(Tensor local, Readout readout) {
            if (!(readout instanceof Readout.PerHead p)) {
                return local;
            }
            Tensor gate = context.weights().get("gate");
            Tensor out = local.copy();
            int[] shape = out.shape();
            for (int h = 0; h < shape[0]; h++) {
                for (int t = 0; t < shape[1]; t++) {
                    for (int d = 0; d < shape[2]; d++) {
                        out.set(local.get(h, t, d) + gate.get(h) * p.values().get(h, t, d), h, t, d);
                    }
                }
            }
            return out;
        }

        @Override
        public void write(Segment segment) {
            LayerSpec s = spec();
            Tensor x = perHead ? segment.requireV(s) : segment.requireH(s);
            int n = segment.length();
            for (int t = 0; t < n; t++) {
                if (perHead) {
                    for (int g = 0; g < s.kvHeads(); g++) {
                        for (int d = 0; d < s.valueDim(); d++) {
                            sum[g * s.valueDim() + d] += x.get(g, t, d);
                        }
                    }
                } else {
                    for (int d = 0; d < s.modelDim(); d++) {
                        sum[d] += x.get(t, d);
                    }
                }
            }
            count += n;
        }

        @Override
        public void reset() {
            sum = new float[width];
            count = 0;
        }

        @Override public long stateBytes() { return 4L * width + 8; }

        @Override
        public Snapshot snapshot() {
            return SnapshotSupport.save(context, provider.stateVersion(), w -> w.writeLong(count).writeFloats(sum));
        }

        @Override
        public void restore(Snapshot snapshot) {
            SnapshotSupport.load(context, provider.stateVersion(), snapshot, r -> {
                long c = r.readLong();
                float[] s = r.readFloats("sum", width);
                return () -> {
                    count = c;
                    sum = s;
                };
            });
        }
    }
}
