package dev.engram.memory.infini;

import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.tck.LongTermMemoryContract;
import java.util.Map;

class InfiniDeltaContractTest extends LongTermMemoryContract {
    @Override
    protected LongTermMemoryProvider provider() {
        return new InfiniMemoryProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("update", "delta");
    }
}
