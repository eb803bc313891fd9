package dev.engram.cli.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The strategies {@code engram bench} compares, as the {@code layers} tree of an Engram config (every layer the
 * same). This is the one place they are defined: the Java run applies them as config overrides and the PyTorch
 * peer receives the same trees as JSON, so both sides run the same configuration.
 */
public final class Strategies {
    public static final List<String> ALL = List.of("full", "window", "infini", "continuous", "lsh", "lsh-knn");

    private Strategies() {
    }

    /** {@code {attention: {...}, memory: {...} | "none"}} for {@code name} at segment length {@code segment}. */
    public static Map<String, Object> layer(String name, int segment) {
        Map<String, Object> windowZero = Map.of("provider", "window", "window", 0);
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

    /** The strategy's whole {@code layers} tree: {@code {default: layer(name)}}. */
    public static Map<String, Object> layers(String name, int segment) {
        return Map.of("default", layer(name, segment));
    }

    /** Whether ingest time per token grows with the context (used to estimate whether a run fits the budget). */
    public static boolean quadratic(String name) {
        return name.equals("full") || name.equals("lsh-knn");
    }

    private static Map<String, Object> entry(Map<String, Object> attention, Object memory) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("attention", new LinkedHashMap<>(attention));
        m.put("memory", memory instanceof Map<?, ?> mm ? new LinkedHashMap<>(mm) : memory);
        return m;
    }
}
