package dev.engram.spi;

import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import java.util.List;

/** A provider with a configurable name and SPI version, for registry tests; it never creates anything. */
class FakeProvider implements LongTermMemoryProvider {
    static final ConfigKey<Integer> SAMPLES = ConfigKey.ofInt("samples", 512, "samples").check(v -> v >= 1, ">= 1");
    static final ConfigKey<Double> TAU = ConfigKey.ofDouble("tau", 0.5, "tau").check(v -> v > 0 && v < 1, "(0, 1)");
    static final ConfigKey<Integer> BASIS = ConfigKey.ofInt("basis", 8, "basis").check(v -> v >= 2, ">= 2");

    private final String name;
    private final int spiVersion;

    FakeProvider(String name, int spiVersion) {
        this.name = name;
        this.spiVersion = spiVersion;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int spiVersion() {
        return spiVersion;
    }

    @Override
    public int stateVersion() {
        return 1;
    }

    @Override
    public ConfigSchema configSchema() {
        return ConfigSchema.of(SAMPLES, TAU, BASIS)
                .rule(c -> c.get(BASIS) % 2 == 0 ? null : "'basis' is " + c.get(BASIS) + "; valid: an even number");
    }

    @Override
    public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
        return List.of(WeightSpec.required("beta", spec.heads()), WeightSpec.optional("rotations", spec.keyDim(), 2));
    }

    @Override
    public boolean supports(Capability capability, ProviderConfig config) {
        return false;
    }

    @Override
    public LongTermMemory create(LayerContext context) {
        throw new UnsupportedOperationException("fake");
    }
}
