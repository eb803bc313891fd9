package dev.engram.cli;

import dev.engram.cli.strategy.MemoryStrategy;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.InvalidInputException;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineFactory;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.config.ConfigLoader;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.spi.ProviderRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** Options shared by the commands that load a model package. */
final class ModelOptions {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The model package (a folder with engram.json).")
    Path model;

    @Option(names = "--config", paramLabel = "FILE", description = "An Engram YAML config; default: the package's own memory config.")
    Path config;

    @Option(names = "--memory", paramLabel = "NAME", description = "One strategy on every layer, replacing the whole layers"
            + " tree (package and --config): none, an attention (full, window, lsh: no memory) or a memory (infini, continuous,"
            + " lsh-knn: window 0 + the memory). Settings from the package where it uses that provider, else engram bench's.")
    String memory;

    /** Null when not given: then the config decides (file, environment, system property; README "Precedence"). */
    @Option(names = "--device", paramLabel = "DEVICE", description = "cpu or cuda (falls back to cpu with a warning). When not"
            + " given: the config's 'device' (-Dengram.device, ENGRAM__device, the --config file), else cpu.")
    String device;

    Engine load() {
        EngineFactory engines = EngineFactory.create();
        EngineLoader loader = engines.loader();
        if (config != null) {
            loader.config(config);
        }
        loader.overrides(explicitOverrides(engines.registry()));
        return loader.load(model);
    }

    /**
     * The options the user gave that set config keys, as config paths; an option not given is absent, so it overrides
     * nothing. EngineLoader applies these last: option > system property > environment > config file > default.
     */
    Map<List<String>, String> explicitOverrides(ProviderRegistry registry) {
        Map<List<String>, String> overrides = new LinkedHashMap<>();
        if (memory != null) {
            try {
                overrides.put(List.of("layers"), JSON.writeValueAsString(
                        MemoryStrategy.forOption(memory, registry, currentLayers(), segmentLength())));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        if (device != null) {
            String d = device.toLowerCase(java.util.Locale.ROOT);
            if (!d.equals("cpu") && !d.equals("cuda")) {
                throw InvalidInputException.outOfRange("--device", device, "cpu or cuda");
            }
            overrides.put(List.of("device"), d);
        }
        return overrides;
    }

    /** The layers tree --memory replaces: the config file's, else the package's (null if neither can be read now). */
    @SuppressWarnings("unchecked")
    private Map<String, Object> currentLayers() {
        if (config != null) {
            try {
                if (ConfigLoader.read(config).get("layers") instanceof Map<?, ?> m) {
                    return (Map<String, Object>) m;
                }
            } catch (RuntimeException e) {
                return null; // the loader reports the file's problems
            }
        }
        ModelManifest m = manifest();
        return m == null || !(m.memory().get("layers") instanceof Map<?, ?> l) ? null : (Map<String, Object>) l;
    }

    private int segmentLength() {
        ModelManifest m = manifest();
        return m == null ? 1 : m.segmentLength();
    }

    private ModelManifest manifest() {
        Path f = model.resolve(ModelManifest.FILE_NAME);
        return Files.isRegularFile(f) ? ModelManifest.read(f, new ArrayList<>()) : null;
    }
}
