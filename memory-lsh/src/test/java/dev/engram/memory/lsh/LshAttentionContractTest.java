package dev.engram.memory.lsh;

import dev.engram.spi.AttentionProvider;
import dev.engram.tck.AttentionContract;
import java.util.Map;

/** Causal lsh with several chunks per test segment (chunk 2) and two rounds. */
class LshAttentionContractTest extends AttentionContract {
    @Override
    protected AttentionProvider provider() {
        return new LshAttentionProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("causal", true, "chunk", 2, "rounds", 2, "seed", 5);
    }
}
