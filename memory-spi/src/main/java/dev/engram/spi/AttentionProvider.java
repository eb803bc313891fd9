package dev.engram.spi;

import dev.engram.api.Attention;

/** Registered in {@code META-INF/services/dev.engram.spi.AttentionProvider}. Needs a public no-arg constructor. */
public interface AttentionProvider extends Provider {
    /** A new attention (with an empty cache) for one (sequence, layer). Config and weights are already validated. */
    Attention create(LayerContext context);
}
