package dev.engram.baselines;

import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.baselines.position.PositionalEncoding;
import dev.engram.baselines.position.RopeScaling;
import dev.engram.spi.ProviderConfig;
import java.util.List;

/** Checks that need both the config and the layer shape, or several keys at once. */
final class Positional {
    private Positional() {
    }

    /**
     * Rotary encoding pairs dimension i with i + keyDim/2, so keyDim must be even; llama3 scaling needs
     * ropeHighFreqFactor > ropeLowFreqFactor. Thrown as a ConfigException from {@code weights(spec, config)} so the
     * registry reports it with the other configuration problems of the layer.
     */
    static void check(LayerSpec spec, ProviderConfig config) {
        PositionalEncoding positional = config.get(FullAttentionProvider.POSITIONAL);
        if (positional == PositionalEncoding.ROPE && spec.keyDim() % 2 != 0) {
            throw new ConfigException("positional", List.of("'positional' is rope but keyDim is " + spec.keyDim()
                    + "; valid: an even keyDim for rope, or positional none or alibi"));
        }
        double low = config.get(FullAttentionProvider.ROPE_LOW_FREQ_FACTOR);
        double high = config.get(FullAttentionProvider.ROPE_HIGH_FREQ_FACTOR);
        if (config.get(FullAttentionProvider.ROPE_SCALING) == RopeScaling.Type.LLAMA3 && !(high > low)) {
            throw new ConfigException("ropeHighFreqFactor", List.of("'ropeHighFreqFactor' is " + high
                    + "; valid: a number > ropeLowFreqFactor (" + low + ") for ropeScaling llama3"));
        }
    }

    /** The configured frequency transform ({@link RopeScaling#NONE} unless ropeScaling is set). */
    static RopeScaling scaling(ProviderConfig config) {
        if (config.get(FullAttentionProvider.ROPE_SCALING) == RopeScaling.Type.NONE) {
            return RopeScaling.NONE;
        }
        return RopeScaling.llama3(config.get(FullAttentionProvider.ROPE_SCALING_FACTOR),
                config.get(FullAttentionProvider.ROPE_LOW_FREQ_FACTOR), config.get(FullAttentionProvider.ROPE_HIGH_FREQ_FACTOR),
                config.get(FullAttentionProvider.ROPE_ORIGINAL_MAX_POSITIONS));
    }
}
