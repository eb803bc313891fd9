package dev.engram.memory.lsh;

import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.tck.LongTermMemoryContract;

/** lsh-knn with every default (rotations given by the kit as a random weight). */
class LshKnnDefaultsContractTest extends LongTermMemoryContract {
    @Override
    protected LongTermMemoryProvider provider() {
        return new LshKnnProvider();
    }
}
