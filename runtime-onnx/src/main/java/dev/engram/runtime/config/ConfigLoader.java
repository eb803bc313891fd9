package dev.engram.runtime.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.engram.api.ConfigException;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.Suggestions;
import dev.engram.api.ProviderException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads an Engram YAML config and turns it into an {@link EnginePlan}, reporting every problem found.
 *
 * <pre>
 * layers:
 *   default:                       # every layer not named by a range below
 *     attention: {provider: window, window: 512, positional: rope}
 *   "6-11":                        # a range (inclusive) or a single layer "3"
 *     memory: {provider: infini, update: delta}
 * </pre>
 * Top-level {@code device} (cpu | cuda) and {@code session} (ONNX Runtime settings, see
 * {@link SessionSettings}) are parsed into the plan too.
 * A range's {@code attention} and {@code memory} each replace the default's; {@code memory: none}
 * turns the memory off for those layers. Overrides, applied to the file before it is checked:
 * system properties {@code engram.layers.6-11.memory.update=linear} (also {@code engram.device} and
 * {@code engram.session.*}), and environment variables
 * {@code ENGRAM__layers__6_11__memory__update=linear} (path parts separated by two underscores). A shell
 * variable name cannot hold {@code -}, so a range may also be written {@code 6_11}; either spelling
 * lands on the file's own key for that range ({@code "6-11"}, {@code "6 - 11"}). System properties win
 * over environment variables. The environment and properties are injectable, so tests need not touch
 * the process's own.
 */
public final class ConfigLoader {
    public static final String PROPERTY_PREFIX = "engram.";
    public static final String ENV_PREFIX = "ENGRAM__";
    private static final List<String> TOP_LEVEL = List.of("layers", "model", "device", "session");
    private static final List<String> LAYER_KEYS = List.of("attention", "memory");
    private static final Pattern RANGE = Pattern.compile("(\\d+)(?:\\s*-\\s*(\\d+))?");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** A range in an override path: {@code 6-11}, or {@code 6_11} where {@code -} cannot be typed (shell variable names). */
    private static final Pattern OVERRIDE_RANGE = Pattern.compile("(\\d+)\\s*[-_]\\s*(\\d+)");

    private final ProviderRegistry registry;
    /** Null: this process's, read when a file is loaded. */
    private final Map<String, String> environment;
    private final Map<String, String> properties;

    /** Overrides come from this process's environment and system properties, as they are at {@link #load}. */
    public ConfigLoader(ProviderRegistry registry) {
        this.registry = registry;
        this.environment = null;
        this.properties = null;
    }

    /** Overrides come from {@code environment} ({@code ENGRAM__...}) and {@code properties} ({@code engram.layers....}). */
    public ConfigLoader(ProviderRegistry registry, Map<String, String> environment, Map<String, String> properties) {
        this.registry = registry;
        this.environment = Map.copyOf(environment);
        this.properties = Map.copyOf(properties);
    }

    /** Reads {@code file}, applies overrides from the properties and the environment, and plans {@code layerCount} layers. */
    public EnginePlan load(Path file, int layerCount) {
        Map<List<String>, String> overrides = environment == null ? systemOverrides() : overrides(environment, properties);
        return plan(file.toString(), withOverrides(read(file), overrides), layerCount);
    }

    public static Map<String, Object> read(Path file) {
        try {
            Object tree = YAML.readValue(Files.readString(file), Object.class);
            if (tree == null) {
                return new LinkedHashMap<>();
            }
            if (!(tree instanceof Map<?, ?>)) {
                throw new ConfigException(file + ": the top level must be a mapping with a 'layers' key");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> map = (Map<String, Object>) tree;
            return map;
        } catch (JsonProcessingException e) {
            throw new ConfigException(file + ": not valid YAML: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : ""));
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot be read: " + e.getMessage());
        }
    }

    /** This process's system properties starting with {@code engram.} and environment variables starting with {@code ENGRAM__}, as path -> value. */
    public static Map<List<String>, String> systemOverrides() {
        return overrides(System.getenv(), systemProperties());
    }

    /**
     * Environment variables starting with {@code ENGRAM__} (path parts separated by {@code __}) and
     * properties starting with {@code engram.layers.} (parts separated by dots), as path -> value, the
     * properties last so that they win. Both are applied in sorted order, so the result does not depend
     * on a map's iteration order.
     */
    public static Map<List<String>, String> overrides(Map<String, String> environment, Map<String, String> properties) {
        Map<List<String>, String> overrides = new LinkedHashMap<>();
        environment.keySet().stream().filter(k -> k.startsWith(ENV_PREFIX)).sorted().forEach(k ->
                overrides.put(List.of(k.substring(ENV_PREFIX.length()).split("__")), environment.get(k)));
        properties.keySet().stream().filter(ConfigLoader::isConfigProperty).sorted().forEach(k ->
                // A range like 6-11 contains no dot, so splitting on dots is unambiguous.
                overrides.put(List.of(k.substring(PROPERTY_PREFIX.length()).split("\\.")), properties.get(k)));
        return overrides;
    }

    /**
     * A system property that sets a config key: {@code engram.layers.*}, {@code engram.device}, {@code engram.session.*}.
     * Other {@code engram.*} properties (engram.kernels, engram.home, ...) are the JVM's own settings, not config.
     */
    static boolean isConfigProperty(String k) {
        return k.startsWith(PROPERTY_PREFIX + "layers.") || k.equals(PROPERTY_PREFIX + "device")
                || k.startsWith(PROPERTY_PREFIX + "session.");
    }

    private static Map<String, String> systemProperties() {
        Map<String, String> map = new LinkedHashMap<>();
        System.getProperties().stringPropertyNames().forEach(k -> map.put(k, System.getProperty(k)));
        return map;
    }

    /** {@code tree} with each override's value put at its path (creating maps on the way); values are parsed as YAML scalars. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> withOverrides(Map<String, Object> tree, Map<List<String>, String> overrides) {
        Map<String, Object> root = deepCopy(tree);
        for (Map.Entry<List<String>, String> o : overrides.entrySet()) {
            Map<String, Object> node = root;
            List<String> path = o.getKey();
            for (int i = 0; i < path.size(); i++) {
                String part = i == 1 && "layers".equals(path.get(0)) ? rangeKey(node, path.get(1)) : path.get(i);
                if (i == path.size() - 1) {
                    node.put(part, scalar(o.getValue()));
                    break;
                }
                Object child = node.get(part);
                if (!(child instanceof Map<?, ?>)) {
                    child = new LinkedHashMap<String, Object>();
                    node.put(part, child);
                }
                node = (Map<String, Object>) child;
            }
        }
        return root;
    }

    /**
     * The key under {@code layers} that an override's range part means: the file's own key for the same
     * range if there is one ({@code 6_11} and {@code 6-11} both find {@code "6 - 11"}), else the range
     * written with {@code -}; any other part (a single layer, {@code default}) as it is.
     */
    private static String rangeKey(Map<String, Object> layers, String part) {
        Matcher m = OVERRIDE_RANGE.matcher(part.trim());
        if (!m.matches()) {
            return part;
        }
        String canonical = m.group(1) + "-" + m.group(2);
        for (String existing : layers.keySet()) {
            Matcher e = RANGE.matcher(existing.trim());
            if (e.matches() && e.group(2) != null && (e.group(1) + "-" + e.group(2)).equals(canonical)) {
                return existing;
            }
        }
        return canonical;
    }

    private static Object scalar(String text) {
        try {
            Object v = YAML.readValue(text, Object.class);
            return v == null ? text : v;
        } catch (IOException e) {
            return text;
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> deepCopy(Map<String, Object> map) {
        Map<String, Object> copy = new LinkedHashMap<>();
        map.forEach((k, v) -> copy.put(String.valueOf(k), v instanceof Map<?, ?> m ? deepCopy((Map<String, Object>) m) : v));
        return copy;
    }

    /** Checks the whole tree and builds the plan; every problem goes into one {@link ConfigException}. */
    @SuppressWarnings("unchecked")
    public EnginePlan plan(String source, Map<String, Object> tree, int layerCount) {
        List<String> problems = new ArrayList<>();
        for (String key : tree.keySet()) {
            if (!TOP_LEVEL.contains(key)) {
                problems.add("unknown key '" + key + "'" + Suggestions.suggestion(key, TOP_LEVEL) + "; known keys: " + TOP_LEVEL);
            }
        }
        SessionSettings session = SessionSettings.parse(tree.get("device"), tree.get("session"), problems);
        Object layersNode = tree.get("layers");
        Map<String, Object> layers = new LinkedHashMap<>();
        if (layersNode == null) {
            problems.add("'layers' is missing; it maps 'default' or layer ranges such as '0-5' to {attention, memory}");
        } else if (!(layersNode instanceof Map<?, ?>)) {
            problems.add("'layers' must be a mapping of 'default' or layer ranges to {attention, memory}");
        } else {
            layers = (Map<String, Object>) layersNode;
        }

        // Each layer belongs to at most one range; a range's attention/memory replace the default's.
        String[] ownerOf = new String[layerCount];
        for (Map.Entry<String, Object> entry : layers.entrySet()) {
            String rangeText = entry.getKey();
            String where = "layers." + rangeText;
            if (!(entry.getValue() instanceof Map<?, ?> body)) {
                problems.add(where + " must be a mapping with 'attention' and/or 'memory'");
                continue;
            }
            for (Object k : body.keySet()) {
                if (!LAYER_KEYS.contains(String.valueOf(k))) {
                    problems.add(where + ": unknown key '" + k + "'" + Suggestions.suggestion(String.valueOf(k), LAYER_KEYS)
                            + "; known keys: " + LAYER_KEYS);
                }
            }
            if (rangeText.equals("default")) {
                continue;
            }
            int[] range = parseRange(rangeText, layerCount, problems);
            for (int layer = range == null ? 1 : range[0]; range != null && layer <= range[1]; layer++) {
                if (ownerOf[layer] != null) {
                    problems.add("layers '" + ownerOf[layer] + "' and '" + rangeText + "' overlap at layer " + layer
                            + "; valid: each layer in at most one range");
                } else {
                    ownerOf[layer] = rangeText;
                }
            }
        }
        Map<String, Object> defaults = layers.get("default") instanceof Map<?, ?> d ? (Map<String, Object>) d : Map.of();

        List<LayerPlan> plans = new ArrayList<>();
        Map<String, ProviderChoice> checked = new LinkedHashMap<>();
        for (int layer = 0; layer < layerCount; layer++) {
            Map<String, Object> owner = ownerOf[layer] == null ? Map.of() : (Map<String, Object>) layers.get(ownerOf[layer]);
            String ownerName = ownerOf[layer] == null ? "default" : ownerOf[layer];
            String attentionFrom = owner.containsKey("attention") ? ownerName : "default";
            String memoryFrom = owner.containsKey("memory") ? ownerName : "default";
            Object attentionSection = owner.containsKey("attention") ? owner.get("attention") : defaults.get("attention");
            Object memorySection = owner.containsKey("memory") ? owner.get("memory") : defaults.get("memory");
            if (attentionSection == null) {
                problems.add("layer " + layer + " has no attention; add one to 'default' or to a range that covers it");
                continue;
            }
            ProviderChoice attention = choice(section(attentionSection, "layers." + attentionFrom + ".attention", problems),
                    "layers." + attentionFrom + ".attention", true, checked, problems);
            ProviderChoice memory = null;
            if (memorySection != null && !"none".equals(memorySection)) {
                Map<String, Object> m = section(memorySection, "layers." + memoryFrom + ".memory", problems);
                memory = m == null || isNone(m) ? null
                        : choice(m, "layers." + memoryFrom + ".memory", false, checked, problems);
            }
            if (attention != null) {
                plans.add(new LayerPlan(layer, attention, Optional.ofNullable(memory)));
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(source, dedupe(problems));
        }
        return new EnginePlan(plans, session);
    }

    private static List<String> dedupe(List<String> problems) {
        return List.copyOf(new java.util.LinkedHashSet<>(problems));
    }

    private static boolean isNone(Map<String, Object> section) {
        return "none".equals(section.get("provider"));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> section(Object value, String where, List<String> problems) {
        if (value instanceof String s) {
            return Map.of("provider", s); // shorthand: "memory: infini"
        }
        if (value instanceof Map<?, ?> m) {
            if (!(m.get("provider") instanceof String)) {
                problems.add(where + ".provider is missing; name a provider, for example {provider: infini}");
                return null;
            }
            return (Map<String, Object>) m;
        }
        problems.add(where + " must be a provider name or a mapping {provider: NAME, key: value...}");
        return null;
    }

    private ProviderChoice choice(Map<String, Object> section, String where, boolean attention,
                                  Map<String, ProviderChoice> checked, List<String> problems) {
        if (section == null) {
            return null;
        }
        String name = (String) section.get("provider");
        Map<String, Object> raw = new LinkedHashMap<>(section);
        raw.remove("provider");
        String cacheKey = (attention ? "a:" : "m:") + name + raw;
        if (checked.containsKey(cacheKey)) {
            return checked.get(cacheKey);
        }
        Provider provider;
        try {
            provider = attention ? registry.attention(name) : registry.memory(name);
        } catch (ProviderException e) {
            problems.add(where + ": " + e.getMessage());
            return null;
        }
        try {
            ProviderChoice c = new ProviderChoice(name, provider.configSchema().parse(where + " '" + name + "'", raw), raw);
            checked.put(cacheKey, c);
            return c;
        } catch (ConfigException e) {
            e.problems().forEach(p -> problems.add(where + " '" + name + "': " + p));
            return null;
        }
    }

    private static int[] parseRange(String text, int layerCount, List<String> problems) {
        Matcher m = RANGE.matcher(text.trim());
        if (!m.matches()) {
            problems.add("layers key '" + text + "' is not 'default', a layer number or a range like '0-5'");
            return null;
        }
        int from = Integer.parseInt(m.group(1));
        int to = m.group(2) == null ? from : Integer.parseInt(m.group(2));
        if (from > to || to >= layerCount) {
            problems.add("layers key '" + text + "' is outside the model's layers; valid: 0 to " + (layerCount - 1)
                    + ", low end first");
            return null;
        }
        return new int[] {from, to};
    }
}
