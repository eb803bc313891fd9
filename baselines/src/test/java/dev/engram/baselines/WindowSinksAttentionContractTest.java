package dev.engram.baselines;

import dev.engram.spi.AttentionProvider;
import dev.engram.tck.AttentionContract;
import java.util.List;
import java.util.Map;

/** The test kit on {@code window} with attention sinks: rotary, ALiBi and none, windows shorter than the run. */
class WindowSinksAttentionContractTest extends AttentionContract {
    @Override
    protected AttentionProvider provider() {
        return new WindowAttentionProvider();
    }

    @Override
    protected Map<String, Object> config() {
        return Map.of("window", 4, "sinks", 2);
    }

    @Override
    protected List<Map<String, Object>> moreConfigs() {
        return List.of(Map.of("window", 0, "sinks", 3, "positional", "alibi"), Map.of("window", 6, "sinks", 1, "positional", "none"));
    }
}
