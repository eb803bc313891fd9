package dev.engram.server;

import dev.engram.runtime.Engine;
import dev.engram.runtime.text.Tokenizer;
import dev.engram.runtime.config.LayerPlan;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * One loaded engine (the default strategy or one session strategy) with its single worker thread and
 * a bounded queue: an {@link Engine} runs one batch at a time, so every job touching this engine or its
 * sequences runs here, in order. A full queue refuses the job (429 upstream).
 */
final class ModelWorker implements AutoCloseable {
    final String key;
    final Map<String, String> overrides;
    final Engine engine;
    final Tokenizer tokenizer;
    /** The package's chat template (tokenizer_config.json), if it has one. */
    final java.util.Optional<ChatTemplate> chatTemplate;
    private final ThreadPoolExecutor executor;
    private final int capacity;

    ModelWorker(String key, Map<String, String> overrides, Engine engine, int capacity) {
        this.key = key;
        this.overrides = Map.copyOf(overrides);
        this.engine = engine;
        this.tokenizer = engine.tokenizer();
        this.chatTemplate = engine.modelPackage().tokenizerConfig().flatMap(ChatTemplate::read);
        this.capacity = capacity;
        this.executor = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(capacity), r -> {
            Thread t = new Thread(r, "engram-model-" + key);
            t.setDaemon(true);
            return t;
        });
    }

    /** Runs {@code job} on this engine's thread; throws 429 when {@link ServeOptions#queueCapacity()} jobs already wait. */
    <T> CompletableFuture<T> submit(Callable<T> job) {
        CompletableFuture<T> f = new CompletableFuture<>();
        try {
            executor.execute(() -> {
                try {
                    f.complete(job.call());
                } catch (Throwable t) {
                    f.completeExceptionally(t);
                }
            });
        } catch (RejectedExecutionException e) {
            if (executor.isShutdown()) {
                throw ApiError.unavailable("the server is shutting down");
            }
            throw ApiError.busy("model '" + engine.manifest().name() + "' (strategy " + key + ") has " + capacity
                    + " requests waiting (queueCapacity); retry later", 1);
        }
        return f;
    }

    /** Waiting plus running jobs. */
    int depth() {
        return executor.getQueue().size() + executor.getActiveCount();
    }

    void shutdown() {
        executor.shutdown();
    }

    boolean awaitTermination(long millis) throws InterruptedException {
        return executor.awaitTermination(millis, TimeUnit.MILLISECONDS);
    }

    /** The overrides and what each layer runs. */
    Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("overrides", overrides);
        List<Map<String, Object>> layers = new ArrayList<>();
        for (LayerPlan lp : engine.plan().layers()) {
            Map<String, Object> l = new LinkedHashMap<>();
            l.put("layer", lp.layer());
            l.put("attention", lp.attention().toString());
            l.put("memory", lp.memory().map(Object::toString).orElse(null));
            layers.add(l);
        }
        m.put("layers", layers);
        return m;
    }

    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        engine.close();
    }
}
