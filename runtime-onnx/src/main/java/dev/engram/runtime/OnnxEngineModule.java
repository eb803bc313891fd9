package dev.engram.runtime;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.engram.spi.ProviderRegistry;
import java.nio.file.Path;

/**
 * Guice wiring for serving a model package: binds a singleton {@link Engine} loaded by
 * {@link EngineLoader} from {@code modelDirectory}, with an optional YAML config. Providers come from
 * the class path by name; close the Engine when done.
 */
public final class OnnxEngineModule extends AbstractModule {
    private final Path modelDirectory;
    private final Path configFile;

    /** @param configFile null to use the package's default memory configuration */
    public OnnxEngineModule(Path modelDirectory, Path configFile) {
        this.modelDirectory = modelDirectory;
        this.configFile = configFile;
    }

    @Provides
    @Singleton
    ProviderRegistry registry() {
        return ProviderRegistry.load(Thread.currentThread().getContextClassLoader());
    }

    @Provides
    @Singleton
    Engine engine(ProviderRegistry registry) {
        EngineLoader loader = new EngineLoader(registry);
        if (configFile != null) {
            loader.config(configFile);
        }
        return loader.load(modelDirectory);
    }
}
