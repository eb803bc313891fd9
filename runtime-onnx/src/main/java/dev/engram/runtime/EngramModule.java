package dev.engram.runtime;

import dev.engram.runtime.model.WeightSource;
import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.engram.api.LayerSpec;
import dev.engram.runtime.config.ConfigLoader;
import dev.engram.runtime.config.EnginePlan;
import dev.engram.spi.ProviderRegistry;
import java.nio.file.Path;
import java.util.List;

/**
 * Turns a config file into a wired engine. Providers are discovered with ServiceLoader and chosen by
 * name only: this module never names a plugin class, so a jar on the class path is all a plugin needs.
 */
public final class EngramModule extends AbstractModule {
    private final Path configFile;
    private final List<LayerSpec> layerSpecs;
    private final WeightSource weights;

    public EngramModule(Path configFile, List<LayerSpec> layerSpecs, WeightSource weights) {
        this.configFile = configFile;
        this.layerSpecs = List.copyOf(layerSpecs);
        this.weights = weights;
    }

    @Override
    protected void configure() {
        bind(WeightSource.class).toInstance(weights);
        bind(new com.google.inject.TypeLiteral<List<LayerSpec>>() { }).toInstance(layerSpecs);
        bind(SequenceFactory.class).in(Singleton.class);
    }

    @Provides
    @Singleton
    ProviderRegistry registry() {
        return ProviderRegistry.load(Thread.currentThread().getContextClassLoader());
    }

    @Provides
    @Singleton
    EnginePlan plan(ProviderRegistry registry) {
        return new ConfigLoader(registry).load(configFile, layerSpecs.size());
    }
}
