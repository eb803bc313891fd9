package dev.engram.cli.strategy;

import dev.engram.api.InvalidInputException;
import dev.engram.spi.ProviderRegistry;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The named memory strategies of the CLI, as the {@code layers} tree of an Engram config (every layer the same), and
 * {@code --memory NAME}, which applies one of them. This is the one place the presets are defined: {@code --memory}
 * of every command, {@code engram bench} (its Java run applies them as config overrides and the PyTorch peer receives
 * the same trees as JSON, so both sides run the same configuration) and the bench's weight filler read them here.
 */
public final class MemoryStrategy {
    /** The presets, in the order {@code engram bench} reports them. */
    public static final List<String> ALL = List.of("full", "window", "infini", "continuous", "lsh", "lsh-knn");
    /**
     * Presets {@code engram bench --strategies} also takes, not run by default: {@code full} and {@code window} with
     * {@code kvCache: bfloat16} (half the cache's bytes), to compare with the float32 cache in one run.
     */
    public static final List<String> VARIANTS = List.of("full-bf16", "window-bf16");
    private static final String BF16 = "-bf16";

    private MemoryStrategy() {
    }

    /** Preset {@code name}'s layer, {@code {attention: {...}, memory: {...} | "none"}}, at segment length {@code segment}. */
    public static Map<String, Object> layer(String name, int segment) {
        Map<String, Object> windowZero = Map.of("provider", "window", "window", 0);
        if (VARIANTS.contains(name)) {
            Object base = layer(name.substring(0, name.length() - BF16.length()), segment).get("attention");
            Map<String, Object> attention = copy((Map<?, ?>) base);
            attention.put("kvCache", "bfloat16");
            return entry(attention, "none");
        }
        return switch (name) {
            case "full" -> entry(Map.of("provider", "full"), "none");
            case "window" -> entry(Map.of("provider", "window", "window", segment), "none");
            case "infini" -> entry(windowZero, Map.of("provider", "infini", "update", "delta"));
            case "continuous" -> entry(windowZero, Map.of("provider", "continuous", "basis", 512, "samples", 512));
            case "lsh" -> {
                int chunk = Math.min(64, segment);
                int buckets = Math.max(2, (2 * segment / chunk) & ~1);
                yield entry(Map.of("provider", "lsh", "rounds", 4, "chunk", chunk, "buckets", buckets), "none");
            }
            case "lsh-knn" -> entry(windowZero, Map.of("provider", "lsh-knn", "capacity", 65536, "rounds", 4,
                    "buckets", 64, "k", 32));
            default -> throw new IllegalArgumentException("unknown strategy '" + name + "'; valid: " + ALL);
        };
    }

    /** Preset {@code name}'s whole {@code layers} tree: {@code {default: layer(name)}}. */
    public static Map<String, Object> layers(String name, int segment) {
        return Map.of("default", layer(name, segment));
    }

    /** Whether ingest time per token grows with the context (the bench estimates from it whether a run fits its budget). */
    public static boolean quadratic(String name) {
        return name.equals("full") || name.equals("full-bf16") || name.equals("lsh-knn");
    }

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
     * trained settings and weight shapes match), else from the preset of that name ({@link #layer}), else its defaults.
     *
     * @param packageLayers the package's (or config file's) {@code layers} tree, to take the provider's settings from
     * @param segment       the model's segment length (for the presets that depend on it)
     */
    public static Map<String, Object> forOption(String name, ProviderRegistry registry, Map<String, Object> packageLayers, int segment) {
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
        if (ALL.contains(name)) {
            Object p = layer(name, segment).get(kind);
            if (p instanceof Map<?, ?> m) {
                return copy(m);
            }
        }
        return new LinkedHashMap<>(Map.of("provider", name));
    }

    private static Map<String, Object> entry(Map<String, Object> attention, Object memory) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("attention", new LinkedHashMap<>(attention));
        m.put("memory", memory instanceof Map<?, ?> mm ? new LinkedHashMap<>(mm) : memory);
        return m;
    }

    private static Map<String, Object> copy(Map<?, ?> m) {
        Map<String, Object> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(String.valueOf(k), v));
        return out;
    }
}
