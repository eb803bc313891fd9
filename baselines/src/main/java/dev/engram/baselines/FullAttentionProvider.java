package dev.engram.baselines;

import dev.engram.api.Attention;
import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.baselines.position.PositionalEncoding;
import dev.engram.baselines.position.RopeScaling;
import dev.engram.spi.AttentionProvider;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.LayerContext;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.List;

/**
 * {@code full}: exact causal softmax attention over every past token of the sequence, with a KV
 * cache that grows with it (docs/schemes.md section 5). Quadratic total cost, linear memory.
 */
public final class FullAttentionProvider implements AttentionProvider {
    public static final String NAME = "full";

    public static final ConfigKey<PositionalEncoding> POSITIONAL = ConfigKey.ofEnum("positional",
            PositionalEncoding.class, PositionalEncoding.ROPE, "positional encoding applied to q and k: none, rope or alibi");
    public static final ConfigKey<Double> ROPE_THETA = ConfigKey.ofDouble("ropeTheta", 10000.0,
            "rotary base theta: pair i turns by position * theta^(-2i/keyDim)").check(v -> v > 0, "a finite number > 0");

    public static final ConfigKey<RopeScaling.Type> ROPE_SCALING = ConfigKey.ofEnum("ropeScaling", RopeScaling.Type.class,
            RopeScaling.Type.NONE, "frequency transform of rope: none, or llama3 (Llama 3.1's rope_scaling; see baselines/README.md)");
    public static final ConfigKey<Double> ROPE_SCALING_FACTOR = ConfigKey.ofDouble("ropeScalingFactor", 8.0,
            "llama3 scaling: low frequencies are divided by this").check(v -> v > 0, "a finite number > 0");
    public static final ConfigKey<Double> ROPE_LOW_FREQ_FACTOR = ConfigKey.ofDouble("ropeLowFreqFactor", 1.0,
            "llama3 scaling: wavelengths above ropeOriginalMaxPositions / this are scaled fully").check(v -> v > 0, "a finite number > 0");
    public static final ConfigKey<Double> ROPE_HIGH_FREQ_FACTOR = ConfigKey.ofDouble("ropeHighFreqFactor", 4.0,
            "llama3 scaling: wavelengths below ropeOriginalMaxPositions / this are kept").check(v -> v > 0, "a finite number > 0");
    public static final ConfigKey<Integer> ROPE_ORIGINAL_MAX_POSITIONS = ConfigKey.ofInt("ropeOriginalMaxPositions", 8192,
            "llama3 scaling: the context length the model was pretrained with").check(v -> v >= 1, "an integer >= 1");
    public static final ConfigKey<KvCache> KV_CACHE = ConfigKey.ofEnum("kvCache", KvCache.class, KvCache.FLOAT32,
            "how cached keys and values are stored: float32 (exact), or bfloat16 (half the bytes, so up to 2x faster"
                    + " decoding at long context; each value rounded to 8 significant bits)");
    /** Every rope key, in the order the providers list them. */
    static final List<ConfigKey<?>> ROPE_KEYS = List.of(POSITIONAL, ROPE_THETA, ROPE_SCALING, ROPE_SCALING_FACTOR,
            ROPE_LOW_FREQ_FACTOR, ROPE_HIGH_FREQ_FACTOR, ROPE_ORIGINAL_MAX_POSITIONS);
    /** The keys {@code full} and {@code window} share: rope's and the cache's storage. */
    static final List<ConfigKey<?>> CACHE_KEYS = java.util.stream.Stream.concat(ROPE_KEYS.stream(),
            java.util.stream.Stream.of(KV_CACHE)).toList();

    private static final ConfigSchema SCHEMA = ConfigSchema.of(CACHE_KEYS.toArray(ConfigKey<?>[]::new));

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

    @Override
    public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
        Positional.check(spec, config);
        return List.of();
    }

    @Override
    public boolean supports(Capability capability, ProviderConfig config) {
        return switch (capability) {
            case GROUPED_QUERY_HEADS, VARIABLE_SEGMENT_LENGTH, CAUSAL, PARTIAL_ROWS, EXACT_ROWS, HELD_ROWS -> true;
            case STOCHASTIC, CONSTANT_STATE_SIZE -> false;
        };
    }

    @Override
    public Attention create(LayerContext context) {
        ProviderConfig config = context.config();
        Positional.check(context.spec(), config);
        return new CachedAttention(context, stateVersion(), config.get(POSITIONAL), config.get(ROPE_THETA),
                Positional.scaling(config), -1, false, 0, config.get(KV_CACHE));
    }
}
