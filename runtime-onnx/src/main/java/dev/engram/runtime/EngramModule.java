package dev.engram.runtime;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.engram.runtime.onnx.ExecutionProvider;
import dev.engram.spi.ProviderRegistry;

/**
 * The bindings every engine is built from: the provider registry (attentions and memories discovered with
 * ServiceLoader on the context class path and chosen by name only: this module never names a plugin class, so a jar
 * on the class path is all a plugin needs) and the ONNX Runtime execution provider. The config, the plan and the
 * graphs' sessions are made from these by {@link EngineLoader#load}, which the injector creates; get one through
 * {@link EngineFactory}, which also takes the overriding modules.
 */
public final class EngramModule extends AbstractModule {
    @Override
    protected void configure() {
        bind(ExecutionProvider.class).toInstance(ExecutionProvider.CPU_OR_CUDA);
    }

    @Provides
    @Singleton
    ProviderRegistry registry() {
        return ProviderRegistry.load(Thread.currentThread().getContextClassLoader());
    }
}
