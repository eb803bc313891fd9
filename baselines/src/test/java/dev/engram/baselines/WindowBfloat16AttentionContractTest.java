package dev.engram.baselines;

import dev.engram.spi.AttentionProvider;
import dev.engram.tck.AttentionContract;
import java.util.Map;

/** The test kit on {@code window} with sinks and a bfloat16 cache (rope). */
class WindowBfloat16AttentionContractTest extends AttentionContract {
    @Override
    protected AttentionProvider provider() {
        return new WindowAttentionProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("window", 5, "sinks", 2, "kvCache", "bfloat16");
    }
}
