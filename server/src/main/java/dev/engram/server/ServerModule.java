package dev.engram.server;

import com.google.inject.AbstractModule;

/**
 * The server's bindings, next to {@link dev.engram.runtime.EngramModule}'s in the one injector a {@link Server} is
 * built from: how a {@link SessionStoreLocation} becomes the session store. Replace a binding (another store, another
 * execution provider) by passing an overriding module to {@link Server#start}.
 */
public final class ServerModule extends AbstractModule {
    /** Opens the session store of a location, for a model. */
    @FunctionalInterface
    interface SessionStoreOpener {
        SessionStore open(SessionStoreLocation location, String modelName);
    }

    @Override
    protected void configure() {
        bind(SessionStoreOpener.class).toInstance((location, modelName) -> switch (location) {
            case SessionStoreLocation.Directory d -> new DirectorySessionStore(d.dataDir(), modelName);
            case SessionStoreLocation.Redis r -> new RedisSessionStore(r, modelName);
        });
    }
}
