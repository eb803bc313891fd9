package dev.engram.memory.lsh;

import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.tck.LongTermMemoryContract;
import java.util.Map;

/** Hashed lsh-knn (rotations from the kit's random weights), small store and tables so eviction and misses occur. */
class LshKnnHashedContractTest extends LongTermMemoryContract {
    @Override
    protected LongTermMemoryProvider provider() {
        return new LshKnnProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("capacity", 12, "k", 3, "rounds", 2, "buckets", 4);
    }
}
