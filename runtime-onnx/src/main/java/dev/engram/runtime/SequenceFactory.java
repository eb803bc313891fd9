package dev.engram.runtime;

import dev.engram.runtime.model.WeightSource;
import dev.engram.api.LayerSpec;
import dev.engram.runtime.config.EnginePlan;
import dev.engram.runtime.config.LayerPlan;
import dev.engram.spi.ProviderRegistry;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Creates the per-sequence state a plan describes, finding every provider by name in the registry. */
public final class SequenceFactory {
    private final ProviderRegistry registry;
    private final EnginePlan plan;
    private final List<LayerSpec> specs;
    private final WeightSource weights;

    @Inject
    public SequenceFactory(ProviderRegistry registry, EnginePlan plan, List<LayerSpec> specs, WeightSource weights) {
        if (specs.size() != plan.layers().size()) {
            throw new IllegalArgumentException("plan has " + plan.layers().size() + " layers but " + specs.size()
                    + " layer specs were given");
        }
        this.registry = registry;
        this.plan = plan;
        this.specs = List.copyOf(specs);
        this.weights = weights;
    }

    public EnginePlan plan() {
        return plan;
    }

    /** A new, empty sequence. Config and weights are validated here, per layer, with every problem reported. */
    public SequenceStack newSequence() {
        List<SequenceStack.Layer> layers = new ArrayList<>();
        for (LayerPlan lp : plan.layers()) {
            LayerSpec spec = specs.get(lp.layer());
            var attention = registry.newAttention(lp.attention().provider(), lp.layer(), spec, lp.attention().raw(),
                    weights.weights(lp.layer(), lp.attention().provider()));
            var memory = lp.memory().map(m -> registry.newMemory(m.provider(), lp.layer(), spec, m.raw(),
                    weights.weights(lp.layer(), m.provider())));
            layers.add(new SequenceStack.Layer(attention, memory));
        }
        return new SequenceStack(layers);
    }
}
