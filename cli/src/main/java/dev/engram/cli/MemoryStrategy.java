package dev.engram.cli;

import dev.engram.api.InvalidInputException;
import dev.engram.cli.bench.Strategies;
import dev.engram.spi.ProviderRegistry;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code --memory NAME}: one strategy on every layer, as a whole new {@code layers} tree (the package's and the
 * config file's layer entries are replaced, ranges included). NAME is
 * <ul>
 *   <li>{@code none}: the package's default attention on every layer, no long-term memory;</li>
 *   <li>an attention provider ({@code full}, {@code window}, {@code lsh}, ...): that attention, no memory;</li>
 *   <li>a memory provider ({@code infini}, {@code continuous}, {@code lsh-knn}, ...): {@code window 0} (the segment
 *       only) plus that memory, so that everything beyond the segment comes through the memory.</li>
 * </ul>
 * The provider's settings come from the package's own configuration when it uses that provider somewhere (so
 * trained settings and weight shapes match), else from {@code engram bench}'s definition of the strategy
 * ({@link Strategies}), else its defaults.
 */
final class MemoryStrategy {
    private MemoryStrategy() {
    }

    /**
     * @param packageLayers the package's (or config file's) {@code layers} tree, to take the provider's settings from
     * @param segment       the model's segment length (for the bench definitions that depend on it)
     */
    static Map<String, Object> layers(String name, ProviderRegistry registry, Map<String, Object> packageLayers, int segment) {
        boolean attention = registry.attentionNames().contains(name);
        boolean memory = registry.memoryNames().contains(name);
        Map<String, Object> layer = new LinkedHashMap<>();
        if (name.equals("none")) {
            Object a = defaultAttention(packageLayers);
            layer.put("attention", a != null ? a : Map.of("provider", "window", "window", segment));
            layer.put("memory", "none");
        } else if (attention) {
            layer.put("attention", settings(name, "attention", packageLayers, segment));
            layer.put("memory", "none");
        } else if (memory) {
            layer.put("attention", new LinkedHashMap<>(Map.of("provider", "window", "window", 0)));
            layer.put("memory", settings(name, "memory", packageLayers, segment));
        } else {
            throw InvalidInputException.outOfRange("--memory", "'" + name + "'", "none, an attention provider "
                    + registry.attentionNames() + " or a memory provider " + registry.memoryNames());
        }
        return Map.of("default", layer);
    }

    private static Object defaultAttention(Map<String, Object> layers) {
        return layers != null && layers.get("default") instanceof Map<?, ?> d ? d.get("attention") : null;
    }

    private static Map<String, Object> settings(String name, String kind, Map<String, Object> packageLayers, int segment) {
        if (packageLayers != null) {
            for (Object entry : packageLayers.values()) {
                if (entry instanceof Map<?, ?> e && e.get(kind) instanceof Map<?, ?> p && name.equals(p.get("provider"))) {
                    return copy(p);
                }
            }
        }
        if (Strategies.ALL.contains(name)) {
            Object p = Strategies.layer(name, segment).get(kind);
            if (p instanceof Map<?, ?> m) {
                return copy(m);
            }
        }
        return new LinkedHashMap<>(Map.of("provider", name));
    }

    private static Map<String, Object> copy(Map<?, ?> m) {
        Map<String, Object> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(String.valueOf(k), v));
        return out;
    }
}
