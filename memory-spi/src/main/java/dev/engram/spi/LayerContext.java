package dev.engram.spi;

import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import java.util.Objects;

/**
 * Everything a provider needs to build one layer's instance.
 *
 * @param provider the provider's registered name (for snapshots and error messages)
 * @param layer    the layer index in the model, from 0 (for error messages)
 */
public record LayerContext(String provider, int layer, LayerSpec spec, ProviderConfig config, Weights weights) {
    public LayerContext {
        Objects.requireNonNull(provider, "provider is null");
        Objects.requireNonNull(spec, "spec is null");
        Objects.requireNonNull(config, "config is null");
        Objects.requireNonNull(weights, "weights is null");
        if (layer < 0) {
            throw InvalidInputException.outOfRange("layer", layer, ">= 0");
        }
    }

    /** "provider 'infini' layer 3", for messages. */
    public String describe() {
        return "provider '" + provider + "' layer " + layer;
    }
}
