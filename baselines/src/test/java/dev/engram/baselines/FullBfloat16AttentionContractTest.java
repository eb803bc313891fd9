package dev.engram.baselines;

import dev.engram.spi.AttentionProvider;
import dev.engram.tck.AttentionContract;
import java.util.Map;

/** The test kit on {@code full} with a bfloat16 cache (rope). */
class FullBfloat16AttentionContractTest extends AttentionContract {
    @Override
    protected AttentionProvider provider() {
        return new FullAttentionProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("kvCache", "bfloat16");
    }
}
