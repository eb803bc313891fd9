package dev.engram.baselines;

import dev.engram.spi.AttentionProvider;
import dev.engram.tck.AttentionContract;
import java.util.Map;

/** The test kit on {@code window} attending within the segment only, with ALiBi. */
class WindowAlibiAttentionContractTest extends AttentionContract {
    @Override
    protected AttentionProvider provider() {
        return new WindowAttentionProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("window", 0, "positional", "alibi", "ropeTheta", 77.0);
    }
}
