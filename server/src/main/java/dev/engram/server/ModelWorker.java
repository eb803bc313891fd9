package dev.engram.server;

import dev.engram.runtime.Engine;
import dev.engram.runtime.Generator;
import dev.engram.runtime.text.Tokenizer;
import dev.engram.runtime.config.LayerPlan;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One loaded engine (the default strategy or one session strategy) with its single worker thread and a bounded
 * queue: an {@link Engine} runs one call at a time, so every job touching this engine or its sequences runs here.
 * A full queue refuses the job (429 upstream).
 *
 * <p>Completions without a session are <b>batched</b> (continuous batching): each joins the worker's running
 * generations between steps, and every step feeds all of them at once ({@link Engine#step}: one decode token each,
 * plus up to {@link #PROMPT_BUDGET} prompt tokens of those still reading their prompts), so their rows share each
 * ONNX Runtime call; a finished one leaves at once, a cancelled or timed-out one before the next step. At most
 * {@link #MAX_BATCH} run together; the rest wait, in order of arrival. Other jobs (sessions: appends, their
 * completions, snapshots) run alone between steps, in order of arrival, whether the batch is full or not; each round
 * runs only the jobs already waiting when it began, so neither kind can hold the other off.
 */
final class ModelWorker implements AutoCloseable {
    /** Generations stepped together at most. */
    static final int MAX_BATCH = ServeOptions.MAX_BATCH;
    /** Prompt tokens fed per step, all generations together (decode tokens come on top): bounds a step's latency. */
    static final int PROMPT_BUDGET = 256;

    final String key;
    final Map<String, String> overrides;
    final Engine engine;
    final Tokenizer tokenizer;
    /** The package's chat template (tokenizer_config.json), if it has one. */
    final java.util.Optional<ChatTemplate> chatTemplate;
    private final int capacity;
    private final ArrayBlockingQueue<Job> queue;
    private final Thread thread;
    /** The generations being stepped; the worker thread's only. */
    private final List<Running> running = new ArrayList<>();
    private volatile boolean shutdown;
    private volatile boolean stopped;
    /** 1 while a job runs alone, for {@link #depth()}. */
    private volatile int exclusive;
    private volatile int batchSize;
    /** Steps that fed more than one generation: batching happened (tests, metrics). */
    private final java.util.concurrent.atomic.AtomicLong sharedSteps = new java.util.concurrent.atomic.AtomicLong();

    private record Running(Generation.Task task, CompletableFuture<Generation.Outcome> result) {
    }

    /**
     * A waiting job: what runs on the worker thread, the future that answers it if it never runs, and whether it
     * joins the batch (a generation) or runs alone.
     */
    private record Job(Runnable run, CompletableFuture<?> result, boolean joinsBatch) {
    }

    /** Generations taken from the queue that wait for room in the batch, in order of arrival; counted in the capacity. */
    private final java.util.concurrent.ConcurrentLinkedDeque<Job> waitingForRoom = new java.util.concurrent.ConcurrentLinkedDeque<>();

    ModelWorker(String key, Map<String, String> overrides, Engine engine, int capacity) {
        this.key = key;
        this.overrides = Map.copyOf(overrides);
        this.engine = engine;
        this.tokenizer = engine.tokenizer();
        this.chatTemplate = engine.modelPackage().tokenizerConfig().flatMap(ChatTemplate::read);
        this.capacity = capacity;
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.thread = new Thread(this::loop, "engram-model-" + key);
        thread.setDaemon(true);
        thread.start();
    }

    /** Runs {@code job} alone on this engine's thread; throws 429 when {@link ServeOptions#queueCapacity()} jobs already wait. */
    <T> CompletableFuture<T> submit(Callable<T> job) {
        CompletableFuture<T> f = new CompletableFuture<>();
        enqueue(() -> {
            exclusive = 1;
            try {
                f.complete(job.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            } finally {
                exclusive = 0;
            }
        }, f, false);
        return f;
    }

    /**
     * Joins the batch with the completion {@code start} makes on this engine's thread (a new sequence's, never a
     * session's: other jobs run between steps); its result once done. 429 as {@link #submit}.
     */
    CompletableFuture<Generation.Outcome> generate(Supplier<Generation.Task> start) {
        CompletableFuture<Generation.Outcome> f = new CompletableFuture<>();
        enqueue(() -> {
            try {
                running.add(new Running(start.get(), f));
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        }, f, true);
        return f;
    }

    private void enqueue(Runnable run, CompletableFuture<?> f, boolean joinsBatch) {
        Job job = new Job(run, f, joinsBatch);
        if (shutdown || queue.size() + waitingForRoom.size() >= capacity || !queue.offer(job)) {
            if (shutdown) {
                throw ApiError.unavailable("the server is shutting down");
            }
            throw ApiError.busy("model '" + engine.manifest().name() + "' (strategy " + key + ") has " + capacity
                    + " requests waiting (queueCapacity); retry later", 1);
        }
        if (stopped && queue.remove(job)) { // close() drained the queue between the check and the offer
            throw ApiError.unavailable("the server is shutting down");
        }
    }

    /**
     * Each round: the jobs waiting when it began (those that run alone run now; generations join while the batch has
     * room, in order of arrival), then one step of the batch; until shut down and drained.
     */
    private void loop() {
        while (!stopped) {
            if (running.isEmpty() && waitingForRoom.isEmpty()) {
                try {
                    Job first = queue.poll(50, TimeUnit.MILLISECONDS);
                    if (first != null) {
                        take(first);
                    }
                } catch (InterruptedException e) {
                    continue; // close() sets stopped first
                }
            }
            for (int n = queue.size(); n > 0; n--) {
                Job job = queue.poll();
                if (job == null) {
                    break;
                }
                take(job);
            }
            admitWhileRoom();
            if (!running.isEmpty()) {
                step();
                admitWhileRoom();
            } else if (shutdown && queue.isEmpty() && waitingForRoom.isEmpty()) {
                return;
            }
        }
        failAll();
    }

    /** Runs a job that runs alone; a generation joins the batch if it has room and nobody waits before it. */
    private void take(Job job) {
        if (!job.joinsBatch()) {
            job.run().run();
        } else if (running.size() < MAX_BATCH && waitingForRoom.isEmpty()) {
            job.run().run();
        } else {
            waitingForRoom.add(job);
        }
    }

    private void admitWhileRoom() {
        while (running.size() < MAX_BATCH && !waitingForRoom.isEmpty()) {
            waitingForRoom.poll().run().run();
        }
    }

    private void step() {
        List<Generator> generators = new ArrayList<>(running.size());
        for (Running r : running) {
            try { // a client gone or a deadline passed: it leaves before the step
                r.task().cancel.check();
            } catch (RuntimeException e) {
                r.task().generator.cancel(e);
            }
            generators.add(r.task().generator);
        }
        batchSize = running.size();
        try {
            if (generators.stream().filter(g -> !g.done()).count() > 1) {
                sharedSteps.incrementAndGet();
            }
            engine.step(generators, PROMPT_BUDGET);
        } catch (RuntimeException e) {
            // Engine.step fails every generator of the step with it; one it did not reach fails here, not step again
            generators.stream().filter(g -> !g.done()).forEach(g -> g.cancel(e));
        } catch (Throwable t) { // an Error: the worker thread goes on, the running requests are answered with it
            IllegalStateException failed = new IllegalStateException("the model failed: " + t, t);
            generators.forEach(g -> g.cancel(failed));
        }
        for (Iterator<Running> it = running.iterator(); it.hasNext(); ) {
            Running r = it.next();
            if (r.task().generator.done()) {
                it.remove();
                try {
                    r.result().complete(r.task().finish());
                } catch (Throwable t) {
                    r.result().completeExceptionally(t);
                }
            }
        }
        batchSize = running.size();
    }

    /** After close(): nothing more runs; what waited or ran is answered as unavailable. */
    private void failAll() {
        ApiError gone = ApiError.unavailable("the server is shutting down");
        for (Running r : running) {
            r.result().completeExceptionally(gone);
        }
        running.clear();
        for (Job j; (j = queue.poll()) != null || (j = waitingForRoom.poll()) != null; ) {
            j.result().completeExceptionally(gone);
        }
    }

    /** Waiting plus running jobs (each generation of the batch counts). */
    int depth() {
        return queue.size() + waitingForRoom.size() + exclusive + batchSize;
    }

    /** Generations in the batch now; only for a job running on this worker's thread (tests). */
    int generationsRunningNow() {
        return running.size();
    }

    /** Steps that fed more than one generation. */
    long sharedSteps() {
        return sharedSteps.get();
    }

    void shutdown() {
        shutdown = true;
    }

    boolean awaitTermination(long millis) throws InterruptedException {
        thread.join(Math.max(1, millis));
        return !thread.isAlive();
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
        shutdown = true;
        stopped = true;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        engine.close();
    }
}
