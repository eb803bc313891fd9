package dev.engram.runtime;

import dev.engram.runtime.model.WeightSource;
import dev.engram.api.Capability;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.runtime.config.EnginePlan;
import dev.engram.runtime.config.LayerPlan;
import dev.engram.runtime.config.ProviderChoice;
import dev.engram.spi.LayerContext;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Creates the per-sequence state a plan describes, finding every provider by name in the registry. */
public final class SequenceFactory {
    private final ProviderRegistry registry;
    private final EnginePlan plan;
    private final List<LayerSpec> specs;
    private final WeightSource weights;

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

    /**
     * Whether every configured attention and memory declares {@code capability} under its configuration (false
     * where a layer's configuration does not even validate: {@link #newSequence} reports that).
     */
    public boolean everyLayerDeclares(Capability capability) {
        return everyLayerDeclares(capability, true);
    }

    /** Whether every layer's attention provider declares {@code capability} (memories not asked). */
    public boolean everyAttentionDeclares(Capability capability) {
        return everyLayerDeclares(capability, false);
    }

    private boolean everyLayerDeclares(Capability capability, boolean memories) {
        for (LayerPlan lp : plan.layers()) {
            LayerSpec spec = specs.get(lp.layer());
            List<Provider> providers = new ArrayList<>();
            List<ProviderChoice> choices = new ArrayList<>();
            providers.add(registry.attention(lp.attention().provider()));
            choices.add(lp.attention());
            lp.memory().filter(m -> memories).ifPresent(m -> {
                providers.add(registry.memory(m.provider()));
                choices.add(m);
            });
            for (int i = 0; i < providers.size(); i++) {
                List<String> problems = new ArrayList<>();
                LayerContext context = validate(providers.get(i), lp, spec, choices.get(i), problems);
                if (context == null || !ProviderRegistry.declares(providers.get(i), capability, context.config())) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * A new, empty sequence. Config and weights of every layer are validated before anything is created,
     * and every problem of every layer is reported in one {@link ConfigException}, each prefixed with its
     * layer and provider ("layer 3 provider 'infini': weight 'beta' is missing; expected shape [12]").
     */
    public SequenceStack newSequence() {
        List<String> problems = new ArrayList<>();
        List<LayerContext> attentions = new ArrayList<>();
        List<Optional<LayerContext>> memories = new ArrayList<>();
        for (LayerPlan lp : plan.layers()) {
            LayerSpec spec = specs.get(lp.layer());
            attentions.add(validate(registry.attention(lp.attention().provider()), lp, spec, lp.attention(), problems));
            memories.add(lp.memory().map(m -> validate(registry.memory(m.provider()), lp, spec, m, problems)));
        }
        if (!problems.isEmpty()) {
            throw new ConfigException("configured layers", problems);
        }
        SequenceStack.LayerMaker maker = i -> {
            LayerPlan lp = plan.layers().get(i);
            var attention = registry.attention(lp.attention().provider()).create(attentions.get(i));
            Optional<LayerContext> memoryContext = memories.get(i);
            var memory = lp.memory().map(m -> registry.memory(m.provider()).create(memoryContext.orElseThrow()));
            return new SequenceStack.Layer(attention, memory);
        };
        List<SequenceStack.Layer> layers = new ArrayList<>();
        for (int i = 0; i < plan.layers().size(); i++) {
            layers.add(maker.newLayer(i));
        }
        return new SequenceStack(layers, maker);
    }

    /** The validated context, or null with the problems added, prefixed with the layer and provider. */
    private LayerContext validate(Provider provider, LayerPlan lp, LayerSpec spec, ProviderChoice choice, List<String> problems) {
        try {
            return ProviderRegistry.context(provider, lp.layer(), spec, choice.raw(), weights.weights(lp.layer(), choice.provider()));
        } catch (ConfigException e) {
            String where = "layer " + lp.layer() + " provider '" + provider.name() + "': ";
            e.problems().forEach(p -> problems.add(where + p));
            return null;
        }
    }
}
