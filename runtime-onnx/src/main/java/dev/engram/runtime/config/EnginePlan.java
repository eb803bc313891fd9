package dev.engram.runtime.config;

import java.util.List;

/** The validated per-layer plan a config file describes. */
public record EnginePlan(List<LayerPlan> layers) {
    public EnginePlan {
        layers = List.copyOf(layers);
    }

    /** One line per layer, for the CLI and logs. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        for (LayerPlan l : layers) {
            sb.append(String.format("layer %2d  attention %-40s memory %s%n", l.layer(), l.attention(),
                    l.memory().map(Object::toString).orElse("-")));
        }
        return sb.toString();
    }
}
