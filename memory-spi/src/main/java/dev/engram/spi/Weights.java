package dev.engram.spi;

import dev.engram.api.ConfigException;
import dev.engram.api.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** One layer's learned weights for one provider, checked against the provider's {@link WeightSpec}s. */
public final class Weights {
    private final Map<String, Tensor> tensors;

    private Weights(Map<String, Tensor> tensors) {
        this.tensors = tensors;
    }

    public static Weights none() {
        return new Weights(Map.of());
    }

    /**
     * Checks {@code given} against {@code specs}: every required weight present, every weight with its
     * exact shape and finite values, no unknown names. Reports all problems at once, naming each
     * weight and both shapes.
     */
    public static Weights validate(String context, List<WeightSpec> specs, Map<String, Tensor> given) {
        List<String> problems = new ArrayList<>();
        Map<String, Tensor> accepted = new LinkedHashMap<>();
        List<String> known = specs.stream().map(WeightSpec::name).toList();
        for (WeightSpec spec : specs) {
            Tensor t = given.get(spec.name());
            if (t == null) {
                if (spec.required()) {
                    problems.add("weight '" + spec.name() + "' is missing; expected shape " + Arrays.toString(spec.shape()));
                }
                continue;
            }
            if (!Arrays.equals(t.shape(), spec.shape())) {
                problems.add("weight '" + spec.name() + "' has shape " + Arrays.toString(t.shape()) + "; expected "
                        + Arrays.toString(spec.shape()));
                continue;
            }
            try {
                t.requireFinite("weight '" + spec.name() + "'");
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
                continue;
            }
            accepted.put(spec.name(), t);
        }
        for (String name : given.keySet()) {
            if (!known.contains(name)) {
                problems.add("weight '" + name + "' is not used by this provider" + Suggestions.suggestion(name, known)
                        + "; known weights: " + known);
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(context, problems);
        }
        return new Weights(Map.copyOf(accepted));
    }

    /** The weight {@code name}; it was validated, so a required weight is always there. */
    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new IllegalStateException("weight '" + name + "' was not provided; declare it as required");
        }
        return t;
    }

    public Optional<Tensor> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    public Map<String, Tensor> asMap() {
        return tensors;
    }
}
