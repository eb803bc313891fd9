package dev.engram.runtime;

import dev.engram.runtime.model.WeightKey;
import dev.engram.runtime.model.WeightSource;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.ProviderException;
import dev.engram.runtime.config.ConfigLoader;
import dev.engram.runtime.config.EnginePlan;
import dev.engram.runtime.config.LayerPlan;
import dev.engram.runtime.config.ProviderChoice;
import dev.engram.runtime.config.SessionSettings;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.runtime.model.ModelPackage;
import dev.engram.runtime.onnx.ExecutionProvider;
import dev.engram.runtime.onnx.OnnxGraphs;
import dev.engram.runtime.text.Tokenizer;
import dev.engram.runtime.text.Tokenizers;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderRegistry;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Turns a model package and a {@link Request} into an {@link Engine}: reads and checks the manifest, the files, the
 * safetensors weights, the configuration (the package's default memory configuration, or a YAML file, plus
 * overrides) into a plan, every weight the plan's providers need, and opens every graph's session with the bound
 * execution provider. All problems are reported together in one {@link ConfigException}, each naming its file and
 * field. The injector makes it with the provider registry and the execution provider; {@link EngineLoader} is its face.
 */
final class EngineAssembly {
    private final ProviderRegistry registry;
    private final ExecutionProvider executionProvider;

    @Inject
    EngineAssembly(ProviderRegistry registry, ExecutionProvider executionProvider) {
        this.registry = registry;
        this.executionProvider = executionProvider;
    }

    /** What one load asks for: {@link EngineLoader}'s settings. */
    record Request(Path configFile, Map<List<String>, String> overrides, boolean systemOverrides, Integer segmentLength,
                   SessionSettings.Device device) {
    }

    /** A plan, and where it came from when that may change the trained attention (a config file, overrides; else null). */
    private record Planned(EnginePlan plan, String untrainedAttentionSource) {
    }

    Engine load(Path modelDirectory, Request request) {
        List<String> problems = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        ModelPackage pkg = ModelPackage.read(modelDirectory, problems);
        if (pkg == null) {
            throw new ConfigException(modelDirectory.toString(), problems);
        }
        ModelManifest m = pkg.manifest();
        Planned planned = plan(m, request, problems, warnings);
        EnginePlan plan = planned.plan();
        String untrainedAttentionSource = planned.untrainedAttentionSource();
        if (pkg.refusedPaths()) {
            // a path outside the package: no file of it is opened (tokenizer, graphs), only the config is checked
            throw new ConfigException(modelDirectory.toString(), List.copyOf(new LinkedHashSet<>(problems)));
        }
        LayerSpec spec = m.architecture().layerSpec();
        if (plan != null) {
            plan = withModelPositional(plan, m, problems);
        }
        if (plan != null && untrainedAttentionSource != null) {
            warnUntrainedAttention(plan, m, untrainedAttentionSource, warnings);
        }
        if (plan != null) {
            checkWeights(plan, spec, pkg, problems);
        }
        SessionSettings session = plan == null ? SessionSettings.defaults() : plan.session();
        if (request.device() != null) {
            session = session.withDevice(request.device());
        }
        Tokenizer tokenizer = Tokenizers.forPackage(pkg.tokenizer().filter(java.nio.file.Files::isRegularFile), m.files().tokenizer().orElse(null),
                m.architecture().vocabSize(), problems, warnings);
        OnnxGraphs graphs = OnnxGraphs.open(pkg, session, executionProvider, problems, warnings::add);
        if (!problems.isEmpty()) {
            if (graphs != null) {
                graphs.close();
            }
            throw new ConfigException(modelDirectory.toString(), List.copyOf(new LinkedHashSet<>(problems)));
        }
        try { // a provider refusing the plan here must not leave the opened ONNX Runtime sessions behind
            EnginePlan finalPlan = new EnginePlan(plan.layers(), session);
            SequenceFactory factory = new SequenceFactory(registry, finalPlan,
                    Collections.nCopies(m.architecture().layers(), spec), pkg.weightSource());
            return new Engine(pkg, finalPlan, factory, graphs, request.segmentLength() == null ? m.segmentLength() : request.segmentLength(), warnings,
                    tokenizer);
        } catch (RuntimeException e) {
            graphs.close();
            throw e;
        }
    }

    @SuppressWarnings("unchecked")
    private Planned plan(ModelManifest m, Request request, List<String> problems, List<String> warnings) {
        Path configFile = request.configFile();
        String source = ModelManifest.FILE_NAME + " 'memory'";
        Map<String, Object> tree = new LinkedHashMap<>(m.memory());
        boolean layeredFile = false;
        if (configFile != null) {
            source = configFile.toString();
            try {
                Map<String, Object> file = new LinkedHashMap<>(ConfigLoader.read(configFile));
                Object own = m.memory().get("layers");
                if (!file.containsKey("layers")) {
                    file.put("layers", own);
                } else if (!Boolean.TRUE.equals(file.get(ConfigLoader.REPLACE_LAYERS))
                        && own instanceof Map<?, ?> ownLayers && file.get("layers") instanceof Map<?, ?> fileLayers) {
                    // the file is laid over the package's own plan: what it does not say stays as trained
                    try {
                        file.put("layers", ConfigLoader.layered((Map<String, Object>) ownLayers, (Map<String, Object>) fileLayers));
                    } catch (ConfigException e) {
                        throw new ConfigException(configFile.toString(), e.problems());
                    }
                    layeredFile = true;
                }
                tree = file;
            } catch (ConfigException e) {
                problems.add(e.getMessage());
                return new Planned(null, null);
            }
        }
        Map<List<String>, String> all = new LinkedHashMap<>();
        Map<List<String>, String> origins = Map.of();
        if (request.systemOverrides()) {
            all.putAll(ConfigLoader.systemOverrides());
            origins = ConfigLoader.systemOverrideOrigins();
            warnings.addAll(ConfigLoader.unmatchedOverrides(System.getenv(), systemPropertyMap()));
        }
        all.putAll(request.overrides());
        tree = ConfigLoader.withOverrides(tree, all);
        try {
            EnginePlan plan = new ConfigLoader(registry).plan(source, tree, m.architecture().layers());
            String untrainedAttentionSource = null;
            if (layeredFile || configFile != null || !all.isEmpty()) {
                untrainedAttentionSource = request.overrides().containsKey(List.of("layers")) ? "the command line (--memory)"
                        : !all.isEmpty() && configFile == null ? "the -D/ENGRAM__ overrides" : source;
            }
            return new Planned(plan, untrainedAttentionSource);
        } catch (ConfigException e) {
            String prefix = source + ": ";
            ConfigLoader.attributed(e.problems(), origins).forEach(p -> problems.add(prefix + p));
            return new Planned(null, null);
        }
    }

    private static Map<String, String> systemPropertyMap() {
        Map<String, String> map = new LinkedHashMap<>();
        System.getProperties().stringPropertyNames().forEach(k -> map.put(k, System.getProperty(k)));
        return map;
    }

    /**
     * One warning per distinct change when the attention the config gives a layer differs from the one the package
     * was trained with (another provider or other keys, e.g. another window): the model then runs with an attention
     * it never saw, which is allowed (it is how one tries a strategy) but never silent.
     */
    private void warnUntrainedAttention(EnginePlan plan, ModelManifest m, String source, List<String> warnings) {
        EnginePlan trained;
        try {
            trained = withModelPositional(new ConfigLoader(registry).plan(ModelManifest.FILE_NAME,
                    new LinkedHashMap<>(m.memory()), m.architecture().layers()), m, new ArrayList<>());
        } catch (ConfigException e) {
            return; // the package's own plan does not load here (e.g. a provider missing): nothing to compare with
        }
        if (trained == null) {
            return;
        }
        Map<String, List<Integer>> changes = new LinkedHashMap<>();
        for (int i = 0; i < plan.layers().size() && i < trained.layers().size(); i++) {
            ProviderChoice now = plan.layers().get(i).attention();
            ProviderChoice was = trained.layers().get(i).attention();
            String change;
            if (!now.provider().equals(was.provider())) {
                change = "'" + now.provider() + "' (trained: '" + was.provider() + "')";
            } else {
                List<String> keys = new ArrayList<>();
                now.config().asMap().forEach((k, v) -> {
                    Object old = was.config().asMap().get(k);
                    if (!java.util.Objects.equals(v, old)) {
                        keys.add(k + " " + v + " (trained: " + old + ")");
                    }
                });
                change = keys.isEmpty() ? null : "'" + now.provider() + "' with " + String.join(", ", keys);
            }
            if (change != null) {
                changes.computeIfAbsent(change, k -> new ArrayList<>()).add(i);
            }
        }
        changes.forEach((what, layers) -> warnings.add(source + " gives layer" + (layers.size() > 1 ? "s " : " ")
                + layers + " the attention " + what + ": the model was not trained so, and its outputs will differ"));
    }

    /**
     * Positional encoding belongs to the trained model: an attention whose config has 'positional'
     * (and 'ropeTheta') gets the manifest's values unless the config sets them, and a config that
     * sets a different one is an error rather than a silently wrong model.
     */
    private EnginePlan withModelPositional(EnginePlan plan, ModelManifest m, List<String> problems) {
        ModelManifest.Positional pos = m.architecture().positional();
        List<LayerPlan> layers = new ArrayList<>();
        for (LayerPlan lp : plan.layers()) {
            ProviderChoice a = lp.attention();
            Provider p;
            try {
                p = registry.attention(a.provider());
            } catch (ProviderException e) {
                problems.add(e.getMessage());
                return null;
            }
            List<String> keys = p.configSchema().keys().stream().map(ConfigKey::name).toList();
            Map<String, Object> raw = new LinkedHashMap<>(a.raw());
            String where = "layer " + lp.layer() + " attention '" + a.provider() + "'";
            // Learned positions are added by the embed graph: the attention itself applies none.
            String attentionPositional = pos.learned() ? "none" : pos.type();
            if (keys.contains("positional")) {
                Object given = raw.get("positional");
                if (given == null) {
                    raw.put("positional", attentionPositional);
                } else if (!String.valueOf(given).toLowerCase(Locale.ROOT).equals(attentionPositional)) {
                    problems.add(where + ": 'positional' is '" + given + "' but the model was trained with '" + pos.type()
                            + "' (" + ModelManifest.FILE_NAME + " architecture.positional.type); remove the key or set "
                            + attentionPositional);
                }
            }
            if (pos.type().equals("rope")) {
                Map<String, Object> model = new LinkedHashMap<>();
                model.put("ropeTheta", pos.theta());
                ModelManifest.RopeScaling sc = pos.scaling();
                model.put("ropeScaling", sc == null ? "none" : sc.type());
                if (sc != null) {
                    model.put("ropeScalingFactor", sc.factor());
                    model.put("ropeLowFreqFactor", sc.lowFreqFactor());
                    model.put("ropeHighFreqFactor", sc.highFreqFactor());
                    model.put("ropeOriginalMaxPositions", sc.originalMaxPositions());
                }
                for (Map.Entry<String, Object> e : model.entrySet()) {
                    String key = e.getKey();
                    if (!keys.contains(key)) {
                        if (key.equals("ropeScaling") && sc != null && keys.contains("ropeTheta")) {
                            problems.add(where + ": the model uses " + sc.type() + " rope scaling ("
                                    + ModelManifest.FILE_NAME + " architecture.positional.scaling) but this attention has no "
                                    + "'ropeScaling' key");
                        }
                        continue;
                    }
                    Object given = raw.get(key);
                    if (given == null) {
                        raw.put(key, e.getValue());
                    } else if (!sameValue(given, e.getValue())) {
                        problems.add(where + ": '" + key + "' is " + given + " but the model was trained with " + e.getValue()
                                + " (" + ModelManifest.FILE_NAME + " architecture.positional)");
                    }
                }
            }
            try {
                ProviderChoice fixed = new ProviderChoice(a.provider(), p.configSchema().parse(where, raw), raw);
                layers.add(new LayerPlan(lp.layer(), fixed, lp.memory()));
            } catch (ConfigException e) {
                problems.add(e.getMessage());
            }
        }
        return layers.size() == plan.layers().size() ? new EnginePlan(layers, plan.session()) : null;
    }

    private static boolean sameValue(Object given, Object model) {
        if (model instanceof Number m) {
            return given instanceof Number g && g.doubleValue() == m.doubleValue();
        }
        return String.valueOf(given).toLowerCase(Locale.ROOT).equals(String.valueOf(model).toLowerCase(Locale.ROOT));
    }

    private void checkWeights(EnginePlan plan, LayerSpec spec, ModelPackage pkg, List<String> problems) {
        WeightSource weights = pkg.weightSource();
        for (LayerPlan lp : plan.layers()) {
            check(registry.attention(lp.attention().provider()), lp.layer(), spec, lp.attention(), weights, pkg, problems);
            Optional<ProviderChoice> mem = lp.memory();
            if (mem.isPresent()) {
                check(registry.memory(mem.get().provider()), lp.layer(), spec, mem.get(), weights, pkg, problems);
            }
        }
    }

    private static void check(Provider p, int layer, LayerSpec spec, ProviderChoice choice, WeightSource weights,
                              ModelPackage pkg, List<String> problems) {
        try {
            ProviderRegistry.context(p, layer, spec, choice.raw(), weights.weights(layer, choice.provider()));
        } catch (ConfigException e) {
            for (String problem : e.problems()) {
                String key = WeightKey.prefix(layer, choice.provider());
                problems.add(problem.startsWith("weight '")
                        ? pkg.weightsFileName() + ": " + problem.replaceFirst("^weight '", "weight '" + key)
                        : "layer " + layer + " provider '" + choice.provider() + "': " + problem);
            }
        }
    }
}
