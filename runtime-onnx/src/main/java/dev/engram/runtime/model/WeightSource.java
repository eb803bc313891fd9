package dev.engram.runtime.model;

import dev.engram.api.Tensor;
import java.util.Map;

/** Where a layer's provider weights come from: a model package's safetensors, or a map in tests. */
@FunctionalInterface
public interface WeightSource {
    /** The weights of {@code provider} for {@code layer}, by the names in docs/schemes.md. */
    Map<String, Tensor> weights(int layer, String provider);

    static WeightSource none() {
        return (layer, provider) -> Map.of();
    }
}
