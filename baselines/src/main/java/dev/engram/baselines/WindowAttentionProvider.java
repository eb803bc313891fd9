package dev.engram.baselines;

import dev.engram.api.Attention;
import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.baselines.position.PositionalEncoding;
import dev.engram.spi.AttentionProvider;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.LayerContext;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.List;

/**
 * {@code window}: Transformer-XL-style attention over the current segment (causal) plus a cache of
 * the last {@code window} tokens before it (docs/schemes.md section 5). Constant cost per token,
 * constant state, forgets everything older.
 */
public final class WindowAttentionProvider implements AttentionProvider {
    public static final String NAME = "window";

    public static final ConfigKey<PositionalEncoding> POSITIONAL = FullAttentionProvider.POSITIONAL;
    public static final ConfigKey<Double> ROPE_THETA = FullAttentionProvider.ROPE_THETA;
    /** The cache is preallocated, so the window is bounded (2^24 tokens). */
    public static final int MAX_WINDOW = 1 << 24;
    public static final ConfigKey<Integer> WINDOW = ConfigKey.ofInt("window", 512,
            "tokens before the segment kept in the cache; 0 attends within the segment only")
            .check(v -> v >= 0 && v <= MAX_WINDOW, "an integer in [0, " + MAX_WINDOW + "]");

    public static final ConfigKey<Boolean> SLIDING = ConfigKey.ofBoolean("sliding", false,
            "true: each token sees exactly the window keys ending at itself (Mistral's sliding window; window >= 1) instead of"
                    + " its segment plus the window tokens before it");

    public static final ConfigKey<Integer> SINKS = ConfigKey.ofInt("sinks", 0,
            "the first N tokens stay in the cache for good beside the window (StreamingLLM's attention sinks), placed"
                    + " directly before the window's oldest token")
            .check(v -> v >= 0 && v <= MAX_WINDOW, "an integer in [0, " + MAX_WINDOW + "]");

    private static final ConfigSchema SCHEMA = ConfigSchema.of(java.util.stream.Stream.concat(
            java.util.stream.Stream.of(WINDOW, SLIDING, SINKS), FullAttentionProvider.CACHE_KEYS.stream()).toArray(ConfigKey<?>[]::new));

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
        checkSliding(config);
        return List.of();
    }

    @Override
    public boolean supports(Capability capability, ProviderConfig config) {
        return switch (capability) {
            case GROUPED_QUERY_HEADS, VARIABLE_SEGMENT_LENGTH, CAUSAL, CONSTANT_STATE_SIZE, PARTIAL_ROWS, EXACT_ROWS,
                 HELD_ROWS -> true;
            case STOCHASTIC -> false;
        };
    }

    @Override
    public Attention create(LayerContext context) {
        ProviderConfig config = context.config();
        Positional.check(context.spec(), config);
        checkSliding(config);
        return new CachedAttention(context, stateVersion(), config.get(POSITIONAL), config.get(ROPE_THETA),
                Positional.scaling(config), config.get(WINDOW), config.get(SLIDING), config.get(SINKS),
                config.get(FullAttentionProvider.KV_CACHE));
    }

    private static void checkSliding(ProviderConfig config) {
        if (config.get(SLIDING) && config.get(SINKS) > 0) {
            throw new dev.engram.api.ConfigException("sinks", List.of("'sinks' is " + config.get(SINKS)
                    + " with sliding: true; valid: 0 (sinks keep a window's first tokens; a sliding window has none)"));
        }
        if (config.get(SLIDING) && config.get(WINDOW) < 1) {
            throw new dev.engram.api.ConfigException("window", List.of("'window' is " + config.get(WINDOW)
                    + " with sliding: true; valid: an integer >= 1 (the keys each token sees, itself included)"));
        }
    }
}
