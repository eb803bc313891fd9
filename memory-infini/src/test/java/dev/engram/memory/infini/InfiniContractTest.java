package dev.engram.memory.infini;

import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.tck.LongTermMemoryContract;

class InfiniContractTest extends LongTermMemoryContract {
    @Override
    protected LongTermMemoryProvider provider() {
        return new InfiniMemoryProvider();
    }
}
