package dev.engram.runtime;

import dev.engram.api.ConfigException;
import dev.engram.runtime.config.SessionSettings;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Opens a model package as a ready {@link Engine}: the settings of one load (a config file, overrides, device,
 * segment length), then {@link #load}, which the injector's {@link EngineAssembly} carries out (the manifest, the
 * files, the weights, the configuration into a plan, every graph's session; all problems together in one
 * {@link ConfigException}, each naming its file and field).
 *
 * <p>The injector creates it ({@link EngineFactory#loader()}) with the bindings of its modules; {@code new EngineLoader()}
 * is {@code EngineFactory.create().loader()}: the default bindings ({@link EngramModule}).
 */
public final class EngineLoader {
    private final EngineAssembly assembly;
    private Path configFile;
    private Map<List<String>, String> overrides = Map.of();
    private boolean systemOverrides = true;
    private Integer segmentLength;
    private SessionSettings.Device device;

    @Inject
    EngineLoader(EngineAssembly assembly) {
        this.assembly = assembly;
    }

    /** With the default bindings: the providers on the context class path, ONNX Runtime's CPU or CUDA provider. */
    public EngineLoader() {
        this(EngineFactory.create().loader());
    }

    private EngineLoader(EngineLoader wired) {
        this(wired.assembly);
    }

    /**
     * A YAML config (ConfigLoader's format, plus {@code device} and {@code session}). Its
     * {@code layers} replace the package's default memory configuration; without a {@code layers}
     * key the package's default is used and only device/session come from the file.
     */
    public EngineLoader config(Path file) {
        this.configFile = file;
        return this;
    }

    /**
     * Explicit settings by config path (a command line's options), for example {@code [layers, default, memory] -> infini}
     * or {@code [device] -> cuda}. The one precedence rule, applied when the plan is made: these > system properties
     * ({@code -Dengram.device}) > environment ({@code ENGRAM__device}) > the config file (or the package's memory config)
     * > built-in defaults. Give only what the user set: an entry here always wins.
     */
    public EngineLoader overrides(Map<List<String>, String> overrides) {
        this.overrides = Map.copyOf(overrides);
        return this;
    }

    /** Whether {@code engram.*} system properties and {@code ENGRAM__*} environment variables apply (default true). */
    public EngineLoader systemOverrides(boolean apply) {
        this.systemOverrides = apply;
        return this;
    }

    /** Runs segments of this length instead of the trained one (tests, experiments). */
    public EngineLoader segmentLength(int tokens) {
        if (tokens < 1) {
            throw new IllegalArgumentException("segmentLength must be >= 1, got " + tokens);
        }
        this.segmentLength = tokens;
        return this;
    }

    /** Overrides the config's {@code device}. */
    public EngineLoader device(SessionSettings.Device device) {
        this.device = device;
        return this;
    }

    /** The engine of the package in {@code modelDirectory}, with this loader's settings. */
    public Engine load(Path modelDirectory) {
        return assembly.load(modelDirectory, new EngineAssembly.Request(configFile, overrides, systemOverrides, segmentLength, device));
    }
}
