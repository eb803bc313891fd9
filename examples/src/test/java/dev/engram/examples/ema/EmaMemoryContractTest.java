package dev.engram.examples.ema;

import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.tck.LongTermMemoryContract;
import java.util.Map;

/** The whole test kit, for the price of a subclass. */
class EmaMemoryContractTest extends LongTermMemoryContract {
    @Override
    protected LongTermMemoryProvider provider() {
        return new EmaMemoryProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("decay", 0.8);
    }
}
