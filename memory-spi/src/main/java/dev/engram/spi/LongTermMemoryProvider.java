package dev.engram.spi;

import dev.engram.api.LongTermMemory;

/** Registered in {@code META-INF/services/dev.engram.spi.LongTermMemoryProvider}. Needs a public no-arg constructor. */
public interface LongTermMemoryProvider extends Provider {
    /** A new, empty memory for one (sequence, layer). Config and weights are already validated. */
    LongTermMemory create(LayerContext context);
}
