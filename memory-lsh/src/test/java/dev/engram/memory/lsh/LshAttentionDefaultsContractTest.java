package dev.engram.memory.lsh;

import dev.engram.spi.AttentionProvider;
import dev.engram.tck.AttentionContract;

/** lsh with every default (causal, 4 rounds, chunk 64: one chunk for the kit's short segments). */
class LshAttentionDefaultsContractTest extends AttentionContract {
    @Override
    protected AttentionProvider provider() {
        return new LshAttentionProvider();
    }
}
