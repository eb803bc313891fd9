package dev.engram.baselines;

import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.baselines.position.PositionalEncoding;
import java.util.List;

/** Checks that need both the config and the layer shape. */
final class Positional {
    private Positional() {
    }

    /**
     * Rotary encoding pairs dimension i with i + keyDim/2, so keyDim must be even. Thrown as a
     * ConfigException from {@code weights(spec, config)} so the registry reports it with the other
     * configuration problems of the layer.
     */
    static void check(LayerSpec spec, PositionalEncoding positional) {
        if (positional == PositionalEncoding.ROPE && spec.keyDim() % 2 != 0) {
            throw new ConfigException("positional", List.of("'positional' is rope but keyDim is " + spec.keyDim()
                    + "; valid: an even keyDim for rope, or positional none or alibi"));
        }
    }
}
