package dev.engram.memory.infini;

import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.LayerContext;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/** Provider {@code infini}: Infini-attention's compressive memory (docs/schemes.md section 1). */
public final class InfiniMemoryProvider implements LongTermMemoryProvider {
    /** The memory update rule. */
    public enum Update { LINEAR, DELTA }

    public static final ConfigKey<Update> UPDATE = ConfigKey.ofEnum("update", Update.class, Update.LINEAR,
            "memory update: linear (M += sigma(K)^T V) or delta (M += sigma(K)^T (V - retrieved))");
    public static final ConfigKey<Double> EPS = ConfigKey.ofDouble("eps", 1e-6,
            "lower clamp of the read denominator sigma(q) z; makes the first segment read exactly 0")
            .check(v -> v > 0, "a number > 0");

    private static final Set<Capability> CAPABILITIES = EnumSet.of(Capability.GROUPED_QUERY_HEADS,
            Capability.VARIABLE_SEGMENT_LENGTH, Capability.CAUSAL, Capability.CONSTANT_STATE_SIZE, Capability.PARTIAL_ROWS,
            Capability.EXACT_ROWS);

    @Override
    public String name() {
        return "infini";
    }

    @Override
    public int spiVersion() {
        return SpiVersion.CURRENT;
    }

    @Override
    public int stateVersion() {
        return 1;
    }

    @Override
    public ConfigSchema configSchema() {
        return ConfigSchema.of(UPDATE, EPS);
    }

    @Override
    public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
        return List.of(WeightSpec.required("beta", spec.heads()));
    }

    @Override
    public boolean supports(Capability capability, ProviderConfig config) {
        return CAPABILITIES.contains(capability);
    }

    @Override
    public LongTermMemory create(LayerContext context) {
        return new InfiniMemory(context, stateVersion());
    }
}
