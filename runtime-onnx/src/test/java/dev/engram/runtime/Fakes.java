package dev.engram.runtime;

import dev.engram.api.Attention;
import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.AttentionProvider;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.LayerContext;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SnapshotSupport;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.List;

/** Small providers for wiring tests: they count tokens, which is enough to see state move and come back. */
public final class Fakes {
    private Fakes() {
    }

    /** Attention "fake-window" with key `window`; its state is the number of tokens seen. */
    public static final class FakeWindow implements AttentionProvider {
        static final ConfigKey<Integer> WINDOW = ConfigKey.ofInt("window", 512, "tokens").check(v -> v >= 0, ">= 0");

        @Override public String name() { return "fake-window"; }
        @Override public int spiVersion() { return SpiVersion.CURRENT; }
        @Override public int stateVersion() { return 1; }
        @Override public ConfigSchema configSchema() { return ConfigSchema.of(WINDOW); }
        @Override public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) { return List.of(); }
        @Override public boolean supports(Capability c, ProviderConfig config) { return c != Capability.PARTIAL_ROWS; }

        @Override
        public Attention create(LayerContext context) {
            return new Counter(context, this) ;
        }
    }

    /** Memory "fake-memory" with keys `update` and `rate`; needs weight `beta` [H]. */
    public static final class FakeMemory implements LongTermMemoryProvider {
        enum Update { LINEAR, DELTA }

        static final ConfigKey<Update> UPDATE = ConfigKey.ofEnum("update", Update.class, Update.LINEAR, "rule");
        static final ConfigKey<Double> RATE = ConfigKey.ofDouble("rate", 0.5, "rate").check(v -> v > 0 && v <= 1, "(0, 1]");

        @Override public String name() { return "fake-memory"; }
        @Override public int spiVersion() { return SpiVersion.CURRENT; }
        @Override public int stateVersion() { return 1; }
        @Override public ConfigSchema configSchema() { return ConfigSchema.of(UPDATE, RATE); }
        @Override public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
            return List.of(WeightSpec.required("beta", spec.heads()));
        }
        @Override public boolean supports(Capability c, ProviderConfig config) { return c != Capability.PARTIAL_ROWS; }

        @Override
        public LongTermMemory create(LayerContext context) {
            return new Counter(context, this);
        }
    }

    static final class Counter implements Attention, LongTermMemory {
        private final LayerContext context;
        private final dev.engram.spi.Provider provider;
        long tokens;

        Counter(LayerContext context, dev.engram.spi.Provider provider) {
            this.context = context;
            this.provider = provider;
        }

        @Override public LayerSpec spec() { return context.spec(); }

        @Override
        public Tensor attend(Segment segment) {
            tokens += segment.length();
            return Tensor.zeros(spec().heads(), segment.length(), spec().valueDim());
        }

        @Override
        public Readout read(Segment segment) {
            return new Readout.PerHead(Tensor.zeros(spec().heads(), segment.length(), spec().valueDim()));
        }

        @Override public Tensor combine(Tensor local, Readout readout) { return local; }
        @Override public void write(Segment segment) { tokens += segment.length(); }
        @Override public void reset() { tokens = 0; }
        @Override public long stateBytes() { return 8; }

        @Override
        public Snapshot snapshot() {
            return SnapshotSupport.save(context, provider.stateVersion(), w -> w.writeLong(tokens));
        }

        @Override
        public void restore(Snapshot snapshot) {
            SnapshotSupport.load(context, provider.stateVersion(), snapshot, r -> {
                long t = r.readLong();
                return () -> tokens = t;
            });
        }
    }
}
