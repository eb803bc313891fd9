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
 * system properties {@code engram.layers.6-11.memory.update=linear} (or {@code engram.device}, any top-level key), and environment variables
 * {@code ENGRAM__layers__6_11__memory__update=linear} (path parts separated by two underscores). A shell
 * variable name cannot hold {@code -}, so a range may also be written {@code 6_11}; either spelling
 * lands on the file's own key for that range ({@code "6-11"}, {@code "6 - 11"}). System properties win
 * over environment variables. The environment and properties are injectable, so tests need not touch
 * the process's own.
 */
public final class ConfigLoader {
    public static final String PROPERTY_PREFIX = "engram.";
    public static final String ENV_PREFIX = "ENGRAM__";
    /**
     * Top-level key: {@code true} makes a file's {@code layers} replace a package's own instead of being laid over
     * it ({@link #layered}).
     */
    public static final String REPLACE_LAYERS = "replaceLayers";
    private static final List<String> TOP_LEVEL = List.of("layers", "model", "device", "session", REPLACE_LAYERS);
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
        Map<String, String> env = environment == null ? System.getenv() : environment;
        Map<String, String> props = properties == null ? systemProperties() : properties;
        Map<List<String>, String> overrides = overrides(env, props);
        for (String w : unmatchedOverrides(env, props)) {
            LOG.log(System.Logger.Level.WARNING, w);
        }
        try {
            return plan(file.toString(), withOverrides(read(file), overrides), layerCount);
        } catch (ConfigException e) {
            if (overrides.isEmpty() || e.problems().isEmpty()) {
                throw e;
            }
            throw new ConfigException(file.toString(), attributed(e.problems(), overrideOrigins(env, props)));
        }
    }

    private static final System.Logger LOG = System.getLogger(ConfigLoader.class.getName());

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
     * Where each override came from, for messages: path -> "-Dengram.layers.default.memory.decay" or
     * "ENGRAM__layers__default__memory__decay" (the one that wins when both set a path).
     */
    public static Map<List<String>, String> overrideOrigins(Map<String, String> environment, Map<String, String> properties) {
        Map<List<String>, String> origins = new LinkedHashMap<>();
        environment.keySet().stream().filter(k -> k.startsWith(ENV_PREFIX)).sorted().forEach(k ->
                origins.put(List.of(k.substring(ENV_PREFIX.length()).split("__")), k));
        properties.keySet().stream().filter(ConfigLoader::isConfigProperty).sorted().forEach(k ->
                origins.put(List.of(k.substring(PROPERTY_PREFIX.length()).split("\\.")), "-D" + k));
        return origins;
    }

    /** {@link #overrideOrigins} for this process. */
    public static Map<List<String>, String> systemOverrideOrigins() {
        return overrideOrigins(System.getenv(), systemProperties());
    }

    /**
     * Whether a system property is a config override: {@code engram.} followed by a top-level config key
     * ({@code engram.layers.6-11.memory.update}, {@code engram.device}, {@code engram.session.intraOpThreads}); other
     * {@code engram.*} properties (engram.kernels, engram.home, ...) are the runtime's own.
     */
    static boolean isConfigProperty(String name) {
        if (!name.startsWith(PROPERTY_PREFIX)) {
            return false;
        }
        String first = name.substring(PROPERTY_PREFIX.length()).split("\\.")[0];
        return TOP_LEVEL.contains(first) && (first.equals("layers") ? name.startsWith(PROPERTY_PREFIX + "layers.") : true);
    }

    /**
     * The environment variables Engram reads other than ENGRAM__ overrides (the launcher's, ./test's and engram serve's
     * API keys), so they are not taken for misspelt overrides. A new ENGRAM_* variable is added here.
     */
    public static final List<String> OTHER_ENGRAM_VARIABLES = List.of("ENGRAM_JAVA", "ENGRAM_OPTS", "ENGRAM_PLUGINS",
            "ENGRAM_TEST_NO_INSTALL", "ENGRAM_API_KEY");

    /**
     * Environment variables and system properties that look like config overrides but match none, one warning each:
     * {@code ENGRAM_layers__...} (one underscore), {@code -Dengram.layer.…} (a misspelt first part). They would
     * otherwise be ignored without a word.
     */
    public static List<String> unmatchedOverrides(Map<String, String> environment, Map<String, String> properties) {
        List<String> warnings = new ArrayList<>();
        environment.keySet().stream().sorted().forEach(k -> {
            if (k.startsWith("ENGRAM_") && !k.startsWith(ENV_PREFIX) && !OTHER_ENGRAM_VARIABLES.contains(k)) {
                String rest = k.substring("ENGRAM_".length());
                boolean override = TOP_LEVEL.stream().anyMatch(t -> rest.startsWith(t + "__") || rest.equals(t));
                warnings.add("environment variable " + k + " is not a config override (those start with " + ENV_PREFIX
                        + ", two underscores) and is ignored" + (override ? "; did you mean " + ENV_PREFIX + rest + "?"
                        : Suggestions.suggestion(k, OTHER_ENGRAM_VARIABLES)));
            } else if (k.startsWith(ENV_PREFIX)) {
                String first = k.substring(ENV_PREFIX.length()).split("__")[0];
                if (!TOP_LEVEL.contains(first)) {
                    warnings.add("environment variable " + k + " sets '" + first + "', which is no config key"
                            + Suggestions.suggestion(first, TOP_LEVEL) + "; known keys: " + TOP_LEVEL);
                }
            }
        });
        properties.keySet().stream().sorted().forEach(k -> {
            if (k.startsWith(PROPERTY_PREFIX) && !isConfigProperty(k)) {
                String first = k.substring(PROPERTY_PREFIX.length()).split("\\.")[0];
                if (!first.equals("layers") && Suggestions.distanceWithin(first, "layers")) {
                    warnings.add("system property " + k + " is not a config override and is ignored; did you mean -D"
                            + PROPERTY_PREFIX + "layers" + k.substring(PROPERTY_PREFIX.length() + first.length()) + "?");
                }
            }
        });
        return warnings;
    }

    /**
     * {@code problems} with " (set by ORIGIN)" after each that names a key an override set, so an error caused by
     * -D or the environment does not look like the file's.
     */
    public static List<String> attributed(List<String> problems, Map<List<String>, String> origins) {
        List<String> out = new ArrayList<>();
        for (String p : problems) {
            String by = null;
            for (Map.Entry<List<String>, String> o : origins.entrySet()) {
                List<String> path = o.getKey();
                String key = "'" + path.get(path.size() - 1) + "'";
                String where = String.join(".", path.subList(0, Math.max(0, path.size() - 1)));
                if (p.contains(key) && (where.isEmpty() || p.contains(where.replace('_', '-')) || p.contains(where))) {
                    by = o.getValue();
                }
            }
            out.add(by == null ? p : p + " (set by " + by + ")");
        }
        return out;
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
     * A config file's {@code layers} laid over a package's own: each key of {@code over} (a range or
     * {@code default}) lands on the same key of {@code base} (a range written with other spaces or as {@code 6_11}
     * counts as the same), where each of its sections ({@code attention}, {@code memory}) replaces the base's
     * section when it names another provider (or {@code none}), and otherwise sets only the keys it gives. Keys of
     * {@code over} that {@code base} lacks are added. So a file with only {@code default: {memory: ...}} keeps the
     * package's trained attention.
     */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> layered(Map<String, Object> base, Map<String, Object> over) {
        Map<String, Object> result = deepCopy(base);
        for (Map.Entry<String, Object> e : over.entrySet()) {
            String key = e.getKey().equals("default") ? "default" : rangeKey(result, e.getKey());
            if (!result.containsKey(key)) {
                key = e.getKey();
                int[] mine = rangeOf(key);
                for (String theirs : base.keySet()) {
                    int[] r = rangeOf(theirs);
                    if (mine != null && r != null && mine[0] <= r[1] && r[0] <= mine[1]) {
                        throw new ConfigException("layers key '" + key + "' overlaps the package's own range '" + theirs
                                + "': laid over the package, a range must be one of its ranges (write '" + theirs
                                + "') or lie outside them; or give 'replaceLayers: true' to replace the package's layers");
                    }
                }
            }
            Object mine = result.get(key);
            if (!(mine instanceof Map<?, ?> mineMap) || !(e.getValue() instanceof Map<?, ?> theirs)) {
                result.put(key, e.getValue() instanceof Map<?, ?> m ? deepCopy((Map<String, Object>) m) : e.getValue());
                continue;
            }
            Map<String, Object> merged = new LinkedHashMap<>((Map<String, Object>) mineMap);
            for (Map.Entry<?, ?> section : theirs.entrySet()) {
                String name = String.valueOf(section.getKey());
                Object was = asSection(merged.get(name));
                Object now = asSection(section.getValue());
                boolean sameProvider = was instanceof Map<?, ?> wasMap && now instanceof Map<?, ?> nowMap
                        && (!nowMap.containsKey("provider") || java.util.Objects.equals(wasMap.get("provider"), nowMap.get("provider")));
                if (sameProvider) {
                    Map<String, Object> keys = new LinkedHashMap<>((Map<String, Object>) was);
                    keys.putAll((Map<String, Object>) now);
                    merged.put(name, keys);
                } else {
                    merged.put(name, section.getValue());
                }
            }
            result.put(key, merged);
        }
        return result;
    }

    /** A section written as a provider name ({@code memory: infini}) as the mapping it stands for; "none" stays as it is. */
    private static Object asSection(Object section) {
        return section instanceof String s && !s.equals("none") ? Map.of("provider", s) : section;
    }

    /** [from, to] of a layers key that is a layer or a range, else null (default, or not a range). */
    private static int[] rangeOf(String key) {
        Matcher m = RANGE.matcher(key.trim());
        if (!m.matches()) {
            return null;
        }
        int from = Integer.parseInt(m.group(1));
        return new int[] {from, m.group(2) == null ? from : Integer.parseInt(m.group(2))};
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
        Object replace = tree.get(REPLACE_LAYERS);
        if (replace != null && !(replace instanceof Boolean)) {
            problems.add("'" + REPLACE_LAYERS + "' is " + replace + "; valid: true or false");
        }
        Object layersNode = tree.get("layers");
        Map<String, Object> layers = new LinkedHashMap<>();
        if (layersNode == null) {
            problems.add("'layers' is missing; it maps 'default' or layer ranges such as '0-5' to {attention, memory}");
        } else if (!(layersNode instanceof Map<?, ?>)) {
            problems.add("'layers' must be a mapping of 'default' or layer ranges to {attention, memory}");
        } else {
            layers = (Map<String, Object>) layersNode;
        }
        if (!(layersNode instanceof Map<?, ?>)) {
            // without a usable 'layers' every layer would add "has no attention": one cause, one message
            throw new ConfigException(source, dedupe(problems));
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
            problems.add("layers key '" + text + "' is not 'default', a layer number or a range like '0-5'"
                    + Suggestions.suggestion(text.trim(), List.of("default")));
            return null;
        }
        int from = Integer.parseInt(m.group(1));
        int to = m.group(2) == null ? from : Integer.parseInt(m.group(2));
        if (from > to) {
            problems.add("layers key '" + text + "' runs backwards; did you mean '" + to + "-" + from + "'? (low end first)");
            return null;
        }
        if (to >= layerCount) {
            problems.add("layers key '" + text + "' is outside the model's layers; valid: 0 to " + (layerCount - 1)
                    + ", low end first");
            return null;
        }
        return new int[] {from, to};
    }
}
