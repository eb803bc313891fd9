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
 * <p>Generations are <b>batched</b> (continuous batching): completions with or without a session, and session
 * appends, each join the worker's running {@link Work} between steps, and every step feeds all of them at once
 * ({@link Engine#step}: one decode token each, plus up to {@link ServeOptions#stepTokens()} prompt or append tokens of those
 * still reading their input), so their rows share each ONNX Runtime call; a finished one leaves at once, a cancelled
 * or timed-out one before the next step. At most {@link #MAX_BATCH} run together; the rest wait, in order of arrival.
 * Other jobs (snapshots, forks, checkpoints) run alone between steps, in order of arrival, whether the batch is full
 * or not; each round runs only the jobs already waiting when it began, so neither kind can hold the other off.
 *
 * <p>A job may name a <b>key</b> (a session's id): it waits while a running work holds that key (one that changes
 * the session, until it has finished and stored it) and while an earlier job with the key waits, so the jobs on one
 * session run in order of arrival while other sessions' go on.
 */
final class ModelWorker implements AutoCloseable {
    /** Generations stepped together at most. */
    static final int MAX_BATCH = ServeOptions.MAX_BATCH;
    /** Prompt and append tokens fed per step, all works together (decode tokens come on top): bounds a step's latency. */
    private final int stepTokens;

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
    private final List<Running<?>> running = new ArrayList<>();
    private volatile boolean shutdown;
    private volatile boolean stopped;
    /** 1 while a job runs alone, for {@link #depth()}. */
    private volatile int exclusive;
    private volatile int batchSize;
    /** Steps that fed more than one generation: batching happened (tests, metrics). */
    private final java.util.concurrent.atomic.AtomicLong sharedSteps = new java.util.concurrent.atomic.AtomicLong();
    /** The most works one step has fed. */
    private volatile int widestStep;

    /**
     * What joins the batch: a generator stepped with the others, and what to do around its steps. Called on the
     * worker thread only.
     */
    interface Work<T> {
        Generator generator();

        /** Before each step: throws to end it there (a client gone, a deadline passed). */
        void beforeStep();

        /** After each step (for progress); the generator may be done. */
        default void afterStep() {
        }

        /** Once its generator is done, exactly once (also when the server stops first): the result, or what ended it. */
        T finish();

        /** Whether it holds its job's key until finished: later jobs with that key wait for it. */
        default boolean holdsKey() {
            return false;
        }
    }

    /** A work being stepped, its answer, the key it holds (null: none), and the memory it holds (a fork's state bytes). */
    private record Running<T>(Work<T> work, CompletableFuture<T> result, Object key, long bytes) {
    }

    /**
     * A waiting job: what runs on the worker thread, the future that answers it if it never runs, whether it joins
     * the batch (a work) or runs alone, its key (null: none), and the memory its work will hold while it runs.
     */
    private record Job(Runnable run, CompletableFuture<?> result, boolean joinsBatch, Object key, long bytes) {
    }

    /**
     * Jobs taken from the queue that wait, in order of arrival, for room in the batch or for their key; counted in the
     * capacity. The worker thread's only, but read for {@link #depth()}.
     */
    private final java.util.concurrent.ConcurrentLinkedDeque<Job> pending = new java.util.concurrent.ConcurrentLinkedDeque<>();
    /** Keys held by running works; the worker thread's only. */
    private final java.util.Set<Object> heldKeys = new java.util.HashSet<>();
    /** The generators of the step being run: one list for every step (the worker thread's only). */
    private final List<Generator> stepGenerators = new ArrayList<>(MAX_BATCH);
    /** Bytes the running works hold (the forks that session questions run on); the worker thread's only. */
    private long runningBytes;
    /** What the running works may hold together ({@link ServeOptions#sessionMemoryBudget()}); one runs whatever its size. */
    private final long memoryBudget;

    /** Takes its queue's capacity, the memory budget and the tokens per step from {@code options}. */
    ModelWorker(String key, Map<String, String> overrides, Engine engine, ServeOptions options) {
        this.key = key;
        this.memoryBudget = options.sessionMemoryBudget();
        this.stepTokens = options.stepTokens();
        this.overrides = Map.copyOf(overrides);
        this.engine = engine;
        this.tokenizer = engine.tokenizer();
        this.chatTemplate = engine.modelPackage().tokenizerConfig().flatMap(ChatTemplate::read);
        this.capacity = options.queueCapacity();
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.thread = new Thread(this::loop, "engram-model-" + key);
        thread.setDaemon(true);
        thread.start();
    }

    /** Runs {@code job} alone on this engine's thread; throws 429 when {@link ServeOptions#queueCapacity()} jobs already wait. */
    <T> CompletableFuture<T> submit(Callable<T> job) {
        return submit(null, job);
    }

    /** {@link #submit(Callable)} in order with the other jobs on {@code jobKey} (a session's id; null: none). */
    <T> CompletableFuture<T> submit(Object jobKey, Callable<T> job) {
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
        }, f, false, jobKey, 0);
        return f;
    }

    /** A completion on a new sequence joins the batch ({@link #join}). */
    CompletableFuture<Generation.Outcome> generate(Supplier<Generation.Task> start) {
        return join(null, 0, start);
    }

    /**
     * Joins the batch with the work {@code start} makes on this engine's thread, once room, {@code jobKey} (null:
     * none) and memory allow ({@code bytes}: what the work holds while it runs, such as a fork of a session's state;
     * it waits while the running works' bytes and its own would pass the memory budget, unless none runs); its result
     * once finished. 429 as {@link #submit}.
     */
    <T> CompletableFuture<T> join(Object jobKey, long bytes, Supplier<? extends Work<T>> start) {
        CompletableFuture<T> f = new CompletableFuture<>();
        enqueue(() -> {
            Work<T> work;
            try {
                work = start.get();
            } catch (Throwable t) {
                f.completeExceptionally(t);
                return;
            }
            Object held = jobKey != null && work.holdsKey() ? jobKey : null;
            if (held != null) {
                heldKeys.add(held);
            }
            runningBytes += bytes;
            running.add(new Running<>(work, f, held, bytes));
            batchSize = running.size();
        }, f, true, jobKey, bytes);
        return f;
    }

    private void enqueue(Runnable run, CompletableFuture<?> f, boolean joinsBatch, Object jobKey, long bytes) {
        Job job = new Job(run, f, joinsBatch, jobKey, bytes);
        if (shutdown || queue.size() + pending.size() >= capacity || !queue.offer(job)) {
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
     * Each round: the jobs waiting when it began (those that run alone run now; works join while the batch has room,
     * in order of arrival; either waits while its key is held), then one step of the batch; until shut down and drained.
     */
    private void loop() {
        try {
            rounds();
        } finally { // also after an Error: the running works release their sessions, and everyone waiting is answered
            failAll();
        }
    }

    private void rounds() {
        while (!stopped) {
            if (running.isEmpty() && pending.isEmpty()) {
                try {
                    Job first = queue.poll(50, TimeUnit.MILLISECONDS);
                    if (first != null) {
                        pending.add(first);
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
                pending.add(job);
            }
            runPending();
            if (!running.isEmpty()) {
                step();
                runPending();
            } else if (shutdown && queue.isEmpty() && pending.isEmpty()) {
                return;
            }
        }
    }

    /**
     * Runs the pending jobs that may run now, in order of arrival: one that runs alone unless its key is held or an
     * earlier pending job has it; a work also only while the batch has room and no earlier work waits for room.
     */
    private void runPending() {
        if (pending.isEmpty()) {
            return; // the usual case between decode steps: nothing to allocate
        }
        java.util.Set<Object> keysWaiting = new java.util.HashSet<>();
        boolean roomTaken = false;
        for (Iterator<Job> it = pending.iterator(); it.hasNext(); ) {
            Job job = it.next();
            boolean keyBusy = job.key() != null && (heldKeys.contains(job.key()) || keysWaiting.contains(job.key()));
            boolean noRoom = job.joinsBatch() && (roomTaken || running.size() >= MAX_BATCH
                    || runningBytes > 0 && runningBytes + job.bytes() > memoryBudget);
            if (keyBusy || noRoom) {
                if (job.key() != null) {
                    keysWaiting.add(job.key());
                }
                roomTaken |= noRoom;
                continue;
            }
            it.remove();
            job.run().run();
        }
    }

    private void step() {
        List<Generator> generators = stepGenerators;
        generators.clear();
        for (Running<?> r : running) {
            try { // a client gone or a deadline passed: it leaves before the step
                r.work().beforeStep();
            } catch (Throwable t) {
                r.work().generator().cancel(asRuntime(t));
            }
            generators.add(r.work().generator());
        }
        batchSize = running.size();
        try {
            int width = 0; // a loop, not a stream: this runs for every decoded token
            for (Generator g : generators) {
                width += g.done() ? 0 : 1;
            }
            if (width > 1) {
                sharedSteps.incrementAndGet();
            }
            widestStep = Math.max(widestStep, width);
            engine.step(generators, stepTokens);
        } catch (RuntimeException e) {
            // Engine.step fails every generator of the step with it; one it did not reach fails here, not step again
            generators.stream().filter(g -> !g.done()).forEach(g -> g.cancel(e));
        } catch (Throwable t) { // an Error: the worker thread goes on, the running requests are answered with it
            RuntimeException failed = asRuntime(t);
            generators.forEach(g -> g.cancel(failed));
        }
        for (Iterator<Running<?>> it = running.iterator(); it.hasNext(); ) {
            Running<?> r = it.next();
            try {
                r.work().afterStep();
            } catch (Throwable t) {
                r.work().generator().cancel(asRuntime(t));
            }
            if (r.work().generator().done()) {
                it.remove();
                batchSize = running.size(); // before its answer goes out: a client that then reads the depth sees it gone
                finish(r);
            }
        }
    }

    /** An Error (say, out of memory) as what a generator is cancelled with: the worker thread goes on. */
    private static RuntimeException asRuntime(Throwable t) {
        return t instanceof RuntimeException e ? e : new IllegalStateException("the model failed: " + t, t);
    }

    /** Answers a work that is done and releases its key and memory (after it finished: it stores a session under the key). */
    private void finish(Running<?> r) {
        try {
            complete(r);
        } finally {
            runningBytes -= r.bytes();
            if (r.key() != null) {
                heldKeys.remove(r.key());
            }
        }
    }

    private static <T> void complete(Running<T> r) {
        try {
            r.result().complete(r.work().finish());
        } catch (Throwable t) {
            r.result().completeExceptionally(t);
        }
    }

    /** After close(): nothing more runs; what waited or ran is answered as unavailable (a running work finishes with it). */
    private void failAll() {
        ApiError gone = ApiError.unavailable("the server is shutting down");
        for (Running<?> r : running) {
            r.work().generator().cancel(gone);
            finish(r);
        }
        running.clear();
        batchSize = 0;
        for (Job j; (j = queue.poll()) != null || (j = pending.poll()) != null; ) {
            j.result().completeExceptionally(gone);
        }
    }

    /** Waiting plus running jobs (each generation of the batch counts). */
    int depth() {
        return queue.size() + pending.size() + exclusive + batchSize;
    }

    /** Generations in the batch now; only for a job running on this worker's thread (tests). */
    int generationsRunningNow() {
        return running.size();
    }

    /** Works (completions and appends) being stepped together now. */
    int batchSize() {
        return batchSize;
    }

    /** Steps that fed more than one generation. */
    long sharedSteps() {
        return sharedSteps.get();
    }

    /** The most works (generations and appends) one step has fed so far. */
    int widestStep() {
        return widestStep;
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
