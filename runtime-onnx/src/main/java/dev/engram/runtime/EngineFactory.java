package dev.engram.runtime;

import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Module;
import com.google.inject.util.Modules;
import dev.engram.api.LayerSpec;
import dev.engram.runtime.config.ConfigLoader;
import dev.engram.runtime.model.WeightSource;
import dev.engram.spi.ProviderRegistry;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.List;

/**
 * The one way Engram builds engines: every command, the server and the library entry points go through an injector
 * made here from {@link EngramModule} (plus the caller's own modules, e.g. the server's session store), with the
 * caller's overrides laid over it by {@code Modules.override}, so a binding (the execution provider, the provider
 * registry, the server's session store) is replaced in one place for everything the injector builds.
 *
 * <pre>{@code
 * EngineFactory engines = EngineFactory.create(binder -> binder.bind(ExecutionProvider.class).toInstance(myProvider));
 * try (Engine engine = engines.loader().config(Path.of("engram.yaml")).load(Path.of("models/demo"))) { ... }
 * }</pre>
 */
public final class EngineFactory {
    private final Injector injector;
    private final ProviderRegistry registry;

    @Inject
    EngineFactory(Injector injector, ProviderRegistry registry) {
        this.injector = injector;
        this.registry = registry;
    }

    /** The engine wiring ({@link EngramModule}) with {@code overrides} laid over it. */
    public static EngineFactory create(Module... overrides) {
        return injector(new EngramModule(), overrides).getInstance(EngineFactory.class);
    }

    /**
     * An injector of {@code base} (which should include {@link EngramModule}) with {@code overrides} laid over it: a
     * binding an override gives replaces the base's.
     */
    public static Injector injector(Module base, Module... overrides) {
        return Guice.createInjector(overrides.length == 0 ? base : Modules.override(base).with(overrides));
    }

    /** A new loader (config file, overrides, device: its builder methods), wired by this factory's injector. */
    public EngineLoader loader() {
        return injector.getInstance(EngineLoader.class);
    }

    /** The attentions and memories on the class path. */
    public ProviderRegistry registry() {
        return registry;
    }

    /**
     * Sequences of a YAML config's plan over given layers and weights, without a model package: for a plan on
     * synthetic weights ({@code engram plan}) and tests of the layer stack.
     */
    public SequenceFactory sequences(Path configFile, List<LayerSpec> layerSpecs, WeightSource weights) {
        return new SequenceFactory(registry, new ConfigLoader(registry).load(configFile, layerSpecs.size()), layerSpecs, weights);
    }
}
