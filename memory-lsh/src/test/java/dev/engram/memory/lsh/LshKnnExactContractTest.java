package dev.engram.memory.lsh;

import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.tck.LongTermMemoryContract;
import java.util.Map;

/** Brute-force lsh-knn with a store small enough that the kit's segments evict. */
class LshKnnExactContractTest extends LongTermMemoryContract {
    @Override
    protected LongTermMemoryProvider provider() {
        return new LshKnnProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("exact", true, "capacity", 10, "k", 3);
    }
}
