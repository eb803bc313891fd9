package dev.engram.runtime.config;

import java.util.List;
import java.util.Objects;

/** The validated per-layer plan a config file describes, with the ONNX Runtime session settings. */
public record EnginePlan(List<LayerPlan> layers, SessionSettings session) {
    public EnginePlan {
        layers = List.copyOf(layers);
        Objects.requireNonNull(session, "session is null");
    }

    public EnginePlan(List<LayerPlan> layers) {
        this(layers, SessionSettings.defaults());
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
