package dev.engram.baselines;

import dev.engram.spi.AttentionProvider;
import dev.engram.tck.AttentionContract;
import java.util.Map;

/** The test kit on {@code window} with a window smaller than the test segments, so eviction happens. */
class WindowNoneAttentionContractTest extends AttentionContract {
    @Override
    protected AttentionProvider provider() {
        return new WindowAttentionProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("window", 4, "positional", "none");
    }
}
