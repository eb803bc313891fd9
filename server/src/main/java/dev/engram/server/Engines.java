package dev.engram.server;

import dev.engram.api.ConfigException;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineFactory;
import dev.engram.runtime.EngineLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The loaded engines: the default strategy's, loaded at start, and one per distinct session strategy, loaded on first
 * use (at most {@link ServeOptions#maxStrategies()}), each with its {@link ModelWorker}. Also whether the server still
 * accepts work: a worker is never added once shutdown began.
 */
final class Engines {
    private static final System.Logger LOG = System.getLogger(Engines.class.getName());
    static final String DEFAULT_STRATEGY = "default";

    private final EngineFactory factory;
    private final Path modelDir;
    private final ServeOptions options;
    final ModelWorker defaultWorker;
    private final Map<String, ModelWorker> workers = new LinkedHashMap<>();
    /**
     * Strategies whose engine is being loaded, guarded by {@code workers}: a load (seconds for a large model) runs
     * outside the lock, so requests for other strategies, session answers and /metrics go on meanwhile, and a
     * second request for the same strategy waits for the first one's load instead of starting another.
     */
    private final Map<String, CompletableFuture<ModelWorker>> loading = new HashMap<>();
    /** Engines loaded for strategies since start (the default one included), for tests of the loading logic. */
    private final AtomicInteger loads = new AtomicInteger();
    private volatile boolean accepting = true;

    /** Loads the default engine (failing fast with every package problem in one {@link ConfigException}). */
    Engines(EngineFactory factory, Path modelDir, ServeOptions options) {
        this.factory = factory;
        this.modelDir = modelDir;
        this.options = options;
        this.defaultWorker = new ModelWorker(DEFAULT_STRATEGY, Map.of(), load(Map.of()), options);
        workers.put(DEFAULT_STRATEGY, defaultWorker);
    }

    int loads() {
        return loads.get();
    }

    boolean accepting() {
        return accepting;
    }

    /** No new work from now on; returns every worker, to be shut down. */
    List<ModelWorker> stopAccepting() {
        accepting = false;
        return all();
    }

    List<ModelWorker> all() {
        synchronized (workers) {
            return new ArrayList<>(workers.values());
        }
    }

    ModelWorker loaded(String key) {
        synchronized (workers) {
            return workers.get(key);
        }
    }

    private Engine load(Map<String, String> strategy) {
        loads.incrementAndGet();
        EngineLoader loader = factory.loader();
        if (options.config() != null) {
            loader.config(options.config());
        }
        Map<List<String>, String> overrides = new LinkedHashMap<>();
        strategy.forEach((k, v) -> overrides.put(List.of(k.split("\\.")), v));
        Engine engine = loader.overrides(overrides).load(modelDir);
        // one channel, once per engine: the log (a strategy's engine too, not only the default one)
        engine.warnings().forEach(w -> LOG.log(System.Logger.Level.WARNING, (strategy.isEmpty() ? "" : "strategy " + strategy + ": ") + w));
        return engine;
    }

    static String strategyKey(Map<String, String> strategy) {
        return strategy.isEmpty() ? DEFAULT_STRATEGY : new TreeMap<>(strategy).toString();
    }

    /** The worker of this strategy, loading its engine on first use (400 naming strategy when it cannot be loaded). */
    ModelWorker worker(Map<String, String> strategy) {
        String key = strategyKey(strategy);
        CompletableFuture<ModelWorker> pending;
        boolean loadHere = false;
        synchronized (workers) {
            ModelWorker w = workers.get(key);
            if (w != null) {
                return w;
            }
            if (!accepting) {
                throw ApiError.unavailable("the server is shutting down");
            }
            pending = loading.get(key);
            if (pending == null) {
                int running = workers.size() + loading.size();
                if (running >= options.maxStrategies()) {
                    throw ApiError.invalid("strategy", "this server already runs " + running + " strategies (maxStrategies "
                            + options.maxStrategies() + "); use one of " + workers.keySet());
                }
                pending = new CompletableFuture<>();
                loading.put(key, pending);
                loadHere = true;
            }
        }
        if (!loadHere) {
            try {
                return pending.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof Error err) {
                    throw err;
                }
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
        }
        ModelWorker w = null;
        try {
            Engine engine;
            try {
                engine = load(strategy);
            } catch (ConfigException e) {
                // the problems without the exception's context (the model's path); any path left is scrubbed by errorBody
                LOG.log(System.Logger.Level.INFO, "strategy " + strategy + " refused: " + e.getMessage());
                throw ApiError.invalid("strategy", "strategy " + strategy + " cannot be loaded: " + String.join("; ", e.problems()));
            }
            w = new ModelWorker(key, strategy, engine, options);
            boolean added;
            synchronized (workers) {
                loading.remove(key);
                // close() stops accepting before it collects the workers, so one added here is always shut down by it
                added = accepting;
                if (added) {
                    workers.put(key, w);
                }
            }
            if (!added) {
                w.shutdown();
                w.close();
                throw ApiError.unavailable("the server is shutting down");
            }
            pending.complete(w);
            return w;
        } catch (RuntimeException | Error e) {
            synchronized (workers) {
                loading.remove(key);
            }
            pending.completeExceptionally(e);
            throw e;
        }
    }
}
