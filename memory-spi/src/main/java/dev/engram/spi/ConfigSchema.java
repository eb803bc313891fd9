package dev.engram.spi;

import dev.engram.api.ConfigException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A provider's configuration keys. {@link #parse} checks a user's map strictly: unknown keys fail with
 * a "did you mean" suggestion, bad values name the key, the value and the valid range, and every
 * problem is reported at once. Cross-key rules (for example "basis must be even") go in
 * {@link #rule}.
 */
public final class ConfigSchema {
    private final Map<String, ConfigKey<?>> keys;
    private final List<Function<ProviderConfig, String>> rules;

    private ConfigSchema(Map<String, ConfigKey<?>> keys, List<Function<ProviderConfig, String>> rules) {
        this.keys = keys;
        this.rules = rules;
    }

    public static ConfigSchema of(ConfigKey<?>... keys) {
        Map<String, ConfigKey<?>> map = new LinkedHashMap<>();
        for (ConfigKey<?> k : keys) {
            if (map.put(k.name(), k) != null) {
                throw new IllegalArgumentException("config key '" + k.name() + "' is declared twice");
            }
        }
        return new ConfigSchema(java.util.Collections.unmodifiableMap(map), List.of());
    }

    /**
     * Adds a rule across keys: the function returns null when the config is fine, or a problem that
     * names the keys involved, their values and what to change.
     */
    public ConfigSchema rule(Function<ProviderConfig, String> rule) {
        List<Function<ProviderConfig, String>> all = new ArrayList<>(rules);
        all.add(rule);
        return new ConfigSchema(keys, List.copyOf(all));
    }

    /** The keys in declaration order. */
    public List<ConfigKey<?>> keys() {
        return List.copyOf(keys.values());
    }

    /** All defaults. */
    public ProviderConfig defaults() {
        return parse("defaults", Map.of());
    }

    /**
     * Parses {@code raw} (as read from a config file; values are scalars, strings or lists).
     *
     * @param context names where the map came from, for messages ("layer 3 memory 'infini'")
     */
    public ProviderConfig parse(String context, Map<String, ?> raw) {
        List<String> problems = new ArrayList<>();
        Map<String, Object> values = new LinkedHashMap<>();
        for (ConfigKey<?> key : keys.values()) {
            values.put(key.name(), key.defaultValue());
        }
        for (Map.Entry<String, ?> e : raw.entrySet()) {
            ConfigKey<?> key = keys.get(e.getKey());
            if (key == null) {
                problems.add("unknown key '" + e.getKey() + "'" + Suggestions.suggestion(e.getKey(), keys.keySet())
                        + "; known keys: " + keys.keySet());
                continue;
            }
            if (e.getValue() == null) {
                problems.add("'" + key.name() + "' has no value; valid: " + key.valid());
                continue;
            }
            try {
                values.put(key.name(), key.parse(e.getValue()));
            } catch (IllegalArgumentException ex) {
                problems.add(ex.getMessage());
            }
        }
        ProviderConfig config = new ProviderConfig(values, raw.keySet());
        if (problems.isEmpty()) {
            for (Function<ProviderConfig, String> rule : rules) {
                String problem = rule.apply(config);
                if (problem != null) {
                    problems.add(problem);
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(context, problems);
        }
        return config;
    }
}
