package dev.engram.examples.ema;

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
import java.util.List;

/**
 * {@code ema}: a fixed-size summary memory. Per kv head g it keeps one value-sized vector
 * {@code s_g}; writing a segment moves it towards the mean of the segment's value rows,
 * {@code s_g = decay * s_g + (1 - decay) * mean_t v[g, t]}, and reading gives every query of query
 * head h the state of its kv head, mixed with the local attention output by a learned sigmoid gate:
 * {@code out = sigmoid(gate_h) * s_g + (1 - sigmoid(gate_h)) * local}.
 *
 * <p>This class is the whole "plugin" surface: a name, the SPI version, the config keys with their
 * defaults and checks, the weights with their shapes, capabilities, and a factory.
 */
public final class EmaMemoryProvider implements LongTermMemoryProvider {
    public static final String NAME = "ema";

    /** How much of the old summary survives one write. */
    public static final ConfigKey<Double> DECAY = ConfigKey.ofDouble("decay", 0.9,
            "fraction of the summary kept at each write; the rest comes from the new segment's mean value")
            .check(d -> d > 0 && d < 1, "a number in (0, 1), exclusive");

    private static final ConfigSchema SCHEMA = ConfigSchema.of(DECAY);

    @Override
    public String name() {
        return NAME;
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
        return SCHEMA;
    }

    /** One gate logit per query head: g_h = sigmoid(gate[h]). */
    @Override
    public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
        return List.of(WeightSpec.required("gate", spec.heads()));
    }

    @Override
    public boolean supports(Capability capability, ProviderConfig config) {
        return switch (capability) {
            case GROUPED_QUERY_HEADS, VARIABLE_SEGMENT_LENGTH, CAUSAL, CONSTANT_STATE_SIZE, PARTIAL_ROWS, EXACT_ROWS -> true;
            case STOCHASTIC, HELD_ROWS -> false; // HELD_ROWS: an attention's capability
        };
    }

    @Override
    public LongTermMemory create(LayerContext context) {
        return new EmaMemory(context, stateVersion(), context.config().get(DECAY));
    }
}
