package dev.engram.memory.lsh;

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
import java.util.ArrayList;
import java.util.List;

/**
 * A Memorizing-Transformers-style kNN memory indexed with Reformer's angular LSH, provider {@code lsh-knn}
 * (docs/schemes.md section 4): per kv head a FIFO store of past normalised keys and values, {@code rounds}
 * hash tables, top-{@code k} retrieval over the union of the query's buckets, and a sigmoid gate.
 */
public final class LshKnnProvider implements LongTermMemoryProvider {
    public static final String NAME = "lsh-knn";

    public static final ConfigKey<Integer> CAPACITY = ConfigKey.ofInt("capacity", 65536,
            "stored (key, value) pairs per kv head; the oldest are evicted beyond it")
            .check(v -> v >= 1 && v <= 1 << 26, "[1, 67108864]");
    public static final ConfigKey<Integer> ROUNDS = ConfigKey.ofInt("rounds", 4,
            "hash tables; a stored pair is a candidate when it shares the query's bucket in at least one")
            .check(v -> v >= 1 && v <= 64, "[1, 64]");
    public static final ConfigKey<Integer> BUCKETS = ConfigKey.ofInt("buckets", 64, "buckets per hash table")
            .check(v -> v >= 2 && v % 2 == 0 && v <= 1 << 16, "an even number in [2, 65536]");
    public static final ConfigKey<Integer> K = ConfigKey.ofInt("k", 32, "neighbours each query attends to")
            .check(v -> v >= 1 && v <= 1 << 16, "[1, 65536]");
    public static final ConfigKey<Double> SCALE = ConfigKey.ofDouble("scale", 0.0,
            "softmax temperature on the cosine scores; 0 = sqrt(keyDim)")
            .check(v -> v >= 0 && v <= 1e6, "0 (= sqrt(keyDim)) or a number in (0, 1e6]");
    public static final ConfigKey<Boolean> EXACT = ConfigKey.ofBoolean("exact", false,
            "every stored pair is a candidate (brute force); no hash tables, no rotations");
    public static final ConfigKey<Long> SEED = ConfigKey.ofLong("seed", 0L,
            "seed of the Well19937c stream the rotations are drawn from when no 'rotations' weight is given");

    public static final String GATE = "gate";
    public static final String ROTATIONS = "rotations";

    private static final ConfigSchema SCHEMA = ConfigSchema.of(CAPACITY, ROUNDS, BUCKETS, K, SCALE, EXACT, SEED);

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
        List<WeightSpec> specs = new ArrayList<>();
        specs.add(WeightSpec.required(GATE, spec.heads()));
        if (!config.get(EXACT)) {
            specs.add(WeightSpec.optional(ROTATIONS, spec.kvHeads(), spec.keyDim(), config.get(ROUNDS),
                    config.get(BUCKETS) / 2));
        }
        return List.copyOf(specs);
    }

    /** Not CONSTANT_STATE_SIZE: the store grows with every token until it holds {@code capacity} pairs. */
    @Override
    public boolean supports(Capability capability, ProviderConfig config) {
        return switch (capability) {
            case GROUPED_QUERY_HEADS, VARIABLE_SEGMENT_LENGTH, CAUSAL, PARTIAL_ROWS, EXACT_ROWS -> true;
            case STOCHASTIC, CONSTANT_STATE_SIZE -> false;
            case HELD_ROWS -> false; // an attention's capability
        };
    }

    @Override
    public LongTermMemory create(LayerContext context) {
        return new LshKnnMemory(context);
    }
}
