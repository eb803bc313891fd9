package dev.engram.baselines;

import dev.engram.spi.AttentionProvider;
import dev.engram.tck.AttentionContract;
import java.util.Map;

/** The test kit on {@code window} with its defaults (window 512, rotary). */
class WindowRopeAttentionContractTest extends AttentionContract {
    @Override
    protected AttentionProvider provider() {
        return new WindowAttentionProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of();
    }
}
