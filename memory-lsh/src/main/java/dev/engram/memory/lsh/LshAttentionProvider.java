package dev.engram.memory.lsh;

import dev.engram.api.Attention;
import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.spi.AttentionProvider;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.LayerContext;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.List;

/**
 * Reformer LSH attention (Kitaev et al. 2020, arXiv 2001.04451), provider {@code lsh}: shared-QK attention
 * restricted to hash buckets, exactly as docs/schemes.md section 3 states. Stateless across segments:
 * it attends within the segment only.
 */
public final class LshAttentionProvider implements AttentionProvider {
    public static final String NAME = "lsh";

    public static final ConfigKey<Integer> ROUNDS = ConfigKey.ofInt("rounds", 4,
            "hash rounds; each round sorts and chunks the tokens independently and the rounds are combined by logsumexp")
            .check(v -> v >= 1 && v <= 64, "[1, 64]");
    public static final ConfigKey<Integer> BUCKETS = ConfigKey.ofInt("buckets", 0,
            "hash buckets per round; 0 = the largest power of two <= 2 * Npadded / chunk (at least 2), chosen per segment")
            .check(v -> v == 0 || (v >= 2 && v % 2 == 0 && v <= 1 << 20), "0 (default rule) or an even number in [2, 1048576]");
    public static final ConfigKey<Integer> CHUNK = ConfigKey.ofInt("chunk", 64,
            "tokens per chunk of the sorted order; each chunk attends to itself and the chunk before it")
            .check(v -> v >= 1 && v <= 1 << 20, "[1, 1048576]");
    public static final ConfigKey<Boolean> CAUSAL = ConfigKey.ofBoolean("causal", true,
            "mask logits of later positions (-1e9)");
    public static final ConfigKey<Long> SEED = ConfigKey.ofLong("seed", 0L,
            "seed of the Well19937c stream the rotations are drawn from when no 'rotations' weight is given");

    public static final String ROTATIONS = "rotations";

    private static final ConfigSchema SCHEMA = ConfigSchema.of(ROUNDS, BUCKETS, CHUNK, CAUSAL, SEED);

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

    /**
     * {@code rotations} [H, dk, rounds, buckets/2] is optional and exists only when {@code buckets} is set:
     * under the default rule the bucket count depends on each segment's length, so no fixed weight fits.
     */
    @Override
    public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
        int buckets = config.get(BUCKETS);
        if (buckets == 0) {
            return List.of();
        }
        return List.of(WeightSpec.optional(ROTATIONS, spec.heads(), spec.keyDim(), config.get(ROUNDS), buckets / 2));
    }

    @Override
    public boolean supports(Capability capability, ProviderConfig config) {
        return switch (capability) {
            case VARIABLE_SEGMENT_LENGTH, CONSTANT_STATE_SIZE -> true;
            case CAUSAL -> false; // see README: bucket membership of early tokens depends on later tokens
            case GROUPED_QUERY_HEADS, STOCHASTIC -> false;
            case PARTIAL_ROWS -> false; // a row's buckets, and so its output, depend on the whole segment
            case EXACT_ROWS, HELD_ROWS -> false; // qualify PARTIAL_ROWS
        };
    }

    @Override
    public Attention create(LayerContext context) {
        return new LshAttention(context);
    }
}
