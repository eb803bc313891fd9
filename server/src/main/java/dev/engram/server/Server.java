package dev.engram.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.api.ConfigException;
import dev.engram.api.InvalidInputException;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * {@code engram serve}: OpenAI-compatible completions and memory sessions over HTTP (Jetty 12 core).
 * Start with {@link #start(Path, int, Path, ServeOptions)}; {@link #close()} shuts down gracefully
 * (no new work, queued and running requests finish within {@link ServeOptions#shutdownGrace()}).
 * {@link #serve(Path, int, Path, ServeOptions)} is the blocking entry the CLI calls.
 */
public final class Server implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Server.class.getName());
    private static final System.Logger ACCESS = System.getLogger("dev.engram.server.access");
    static final String DEFAULT_STRATEGY = "default";

    private final Path modelDir;
    private final ServeOptions options;
    private final Metrics metrics = new Metrics();
    private final ModelWorker defaultWorker;
    private final Map<String, ModelWorker> workers = new LinkedHashMap<>();
    /**
     * Strategies whose engine is being loaded, guarded by {@code workers}: a load (seconds for a large model) runs
     * outside the lock, so requests for other strategies, session answers and /metrics go on meanwhile, and a
     * second request for the same strategy waits for the first one's load instead of starting another.
     */
    private final Map<String, java.util.concurrent.CompletableFuture<ModelWorker>> loading = new java.util.HashMap<>();
    private final SessionStore store;
    private final String modelName;
    private final long createdEpoch = Instant.now().getEpochSecond();
    private final List<byte[]> keyHashes = new ArrayList<>();
    private final org.eclipse.jetty.server.Server jetty;
    private final ServerConnector connector;
    private final ScheduledExecutorService sweeper;
    private volatile boolean accepting = true;
    /** The server's own paths (absolute and as given), longest first: never shown in an HTTP answer, only in the log. */
    private final List<String[]> privatePaths;
    private volatile boolean closed;

    private Server(Path modelDir, int port, Path dataDir, ServeOptions options) throws Exception {
        this.modelDir = modelDir;
        this.options = options;
        this.privatePaths = privatePaths(modelDir, dataDir, options.config());
        for (String k : options.apiKeys()) {
            keyHashes.add(sha256(k));
        }
        long t0 = System.nanoTime();
        Engine engine = load(Map.of());
        long tEngine = System.nanoTime();
        this.defaultWorker = new ModelWorker(DEFAULT_STRATEGY, Map.of(), engine, options.queueCapacity());
        workers.put(DEFAULT_STRATEGY, defaultWorker);
        this.modelName = engine.manifest().name();
        SessionStore opened;
        try {
            opened = new SessionStore(dataDir, modelName);
        } catch (RuntimeException e) {
            defaultWorker.close();
            throw e;
        }
        try {
            opened.loadIndex();
        } catch (RuntimeException e) {
            opened.close(); // the data-dir lock, so a retry is not told the dir is in use
            defaultWorker.close();
            throw e;
        }
        this.store = opened;
        long tIndex = System.nanoTime();

        QueuedThreadPool threads = new QueuedThreadPool(256, 8);
        threads.setName("engram-http");
        threads.setDaemon(true);
        jetty = new org.eclipse.jetty.server.Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(true);
        connector = new ServerConnector(jetty, new HttpConnectionFactory(http));
        connector.setHost(options.host());
        connector.setPort(port);
        connector.setIdleTimeout(options.requestTimeout().toMillis() + 30_000);
        jetty.addConnector(connector);
        jetty.setHandler(new GracefulHandler(new Api()));
        jetty.setErrorHandler(new JsonErrors());
        jetty.setStopTimeout(Math.max(1, options.shutdownGrace().toMillis()));
        jetty.setStopAtShutdown(false);
        sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "engram-session-sweeper");
            t.setDaemon(true);
            return t;
        });
        long every = Math.max(200, Math.min(options.idleSessionTimeout().toMillis() / 4, 30_000));
        sweeper.scheduleWithFixedDelay(() -> {
            try {
                store.evict(options.idleSessionTimeout().toMillis(), options.sessionMemoryBudget());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "session eviction failed: " + e);
            }
        }, every, every, TimeUnit.MILLISECONDS);
        try {
            jetty.start();
        } catch (Exception e) {
            sweeper.shutdownNow();
            defaultWorker.close();
            store.close();
            throw e;
        }
        long tListen = System.nanoTime();
        // Where a restart's time goes (server README, "Restart"): one line, so an operator can see it too.
        LOG.log(System.Logger.Level.INFO, String.format("engram serve: ready %d ms after the JVM started: engine %d ms,"
                        + " session index %d ms (%d sessions), listener %d ms", java.lang.management.ManagementFactory.getRuntimeMXBean()
                        .getUptime(), (tEngine - t0) / 1_000_000, (tIndex - tEngine) / 1_000_000, store.sessions.size(),
                (tListen - tIndex) / 1_000_000));
        startKernelWarmUp();
        if (store.hasUnverified()) {
            Thread verify = new Thread(store::verifyRest, "engram-session-verify");
            verify.setDaemon(true);
            verify.start();
        }
    }

    /**
     * Loads the model (failing fast with every package problem in one {@link ConfigException}), opens
     * or creates {@code dataDir}, and listens on {@code options.host():port} (0 = an ephemeral port).
     */
    public static Server start(Path modelDir, int port, Path dataDir, ServeOptions options) {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port is " + port + "; valid: 0 (any free port) to 65535");
        }
        try {
            return new Server(modelDir, port, dataDir, options);
        } catch (RuntimeException e) {
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen on " + options.host() + ":" + port + ": " + e.getMessage(), e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the server: " + e.getMessage(), e);
        }
    }

    /**
     * The CLI entry: starts, prints one line "engram serve: listening on http://host:port (model NAME)"
     * to standard output, and blocks until the JVM is asked to stop (SIGINT/SIGTERM), then shuts down
     * gracefully. Returns the exit code (0).
     */
    public static int serve(Path modelDir, int port, Path dataDir, ServeOptions options) throws InterruptedException {
        Server server = start(modelDir, port, dataDir, options);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "engram-serve-shutdown"));
        System.out.println("engram serve: listening on " + server.uri() + " (model " + server.modelName() + ", data "
                + dataDir.toAbsolutePath() + (options.apiKeys().isEmpty() ? "" : ", API key required") + ")");
        System.out.flush();
        stopped.await();
        return 0;
    }

    public int port() {
        return connector.getLocalPort();
    }

    public URI uri() {
        String h = options.host().equals("0.0.0.0") ? "127.0.0.1" : options.host();
        return URI.create("http://" + (h.contains(":") ? "[" + h + "]" : h) + ":" + port());
    }

    public String modelName() {
        return modelName;
    }

    /** Graceful: /ready turns 503, new work is refused, queued and running work finishes (within shutdownGrace), then the listener closes. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        accepting = false;
        long deadline = System.nanoTime() + options.shutdownGrace().toNanos();
        List<ModelWorker> all;
        synchronized (workers) {
            all = new ArrayList<>(workers.values());
        }
        all.forEach(ModelWorker::shutdown);
        for (ModelWorker w : all) {
            try {
                w.awaitTermination(Math.max(0, (deadline - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            // What is left of the one grace period, so the whole shutdown stays within shutdownGrace (plus 1 ms).
            jetty.setStopTimeout(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            jetty.stop();
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "stopping the HTTP listener: " + e);
        }
        sweeper.shutdownNow();
        all.forEach(ModelWorker::close);
        store.close();
        LOG.log(System.Logger.Level.INFO, "engram serve stopped");
    }

    /** Rounds of {@link dev.engram.spi.kernel.KernelWarmUp} after start; 0 turns it off (-Dengram.serve.warmUpRounds). */
    static final int WARM_UP_ROUNDS = Integer.getInteger("engram.serve.warmUpRounds", 4_000);

    /** Set when the first request is queued for a model; ends the kernel warm-up. */
    private volatile boolean modelWorkStarted;

    /**
     * Compiles the attention and memory kernels once /ready answers, on a daemon thread, so that the first append
     * after a restart is not run by the interpreter (server README, "Restart"). It stops as soon as a request reaches
     * a model (that work warms the same code), so it never competes with one for the cores; run during the engine
     * load instead, it delayed /ready by about what it saved, on 2 busy cores.
     */
    private void startKernelWarmUp() {
        if (WARM_UP_ROUNDS <= 0) {
            return;
        }
        Thread t = new Thread(() -> {
            long start = System.nanoTime();
            dev.engram.spi.kernel.KernelWarmUp.run(WARM_UP_ROUNDS, () -> modelWorkStarted || closed);
            LOG.log(System.Logger.Level.INFO, "kernel warm-up: " + (System.nanoTime() - start) / 1_000_000 + " ms"
                    + (modelWorkStarted ? " (stopped by the first request)" : ""));
        }, "engram-kernel-warm-up");
        t.setDaemon(true);
        t.start();
    }

    // ---------------------------------------------------------------- engines and strategies

    /** Engines loaded for strategies since start (the default one included), for tests of the loading logic. */
    private final java.util.concurrent.atomic.AtomicInteger engineLoads = new java.util.concurrent.atomic.AtomicInteger();

    int engineLoads() {
        return engineLoads.get();
    }

    private Engine load(Map<String, String> strategy) {
        engineLoads.incrementAndGet();
        EngineLoader loader = new EngineLoader();
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

    private ModelWorker worker(Map<String, String> strategy) {
        String key = strategyKey(strategy);
        java.util.concurrent.CompletableFuture<ModelWorker> pending;
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
                pending = new java.util.concurrent.CompletableFuture<>();
                loading.put(key, pending);
                loadHere = true;
            }
        }
        if (!loadHere) {
            try {
                return pending.join();
            } catch (java.util.concurrent.CompletionException e) {
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
            w = new ModelWorker(key, strategy, engine, options.queueCapacity());
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

    // ---------------------------------------------------------------- HTTP

    private final class Api extends Handler.Abstract {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            long start = System.nanoTime();
            metrics.inFlight.incrementAndGet();
            Exchange ex = new Exchange(request, response, callback);
            try {
                route(ex);
            } catch (ApiError e) {
                ex.error(e);
            } catch (Generation.Cancelled e) {
                ex.status = 499;
                ex.abort(e);
            } catch (Throwable t) {
                LOG.log(System.Logger.Level.ERROR, "internal error on " + request.getMethod() + " " + ex.path, t);
                ex.error(ApiError.internal("internal error: " + t));
            } finally {
                metrics.inFlight.decrementAndGet();
                double seconds = (System.nanoTime() - start) / 1e9;
                metrics.request(request.getMethod(), ex.route, ex.status, seconds);
                if (options.accessLog()) {
                    ACCESS.log(System.Logger.Level.INFO, "{\"ts\":\"" + Instant.now() + "\",\"method\":\"" + request.getMethod()
                            + "\",\"route\":\"" + ex.route + "\",\"status\":" + ex.status + ",\"ms\":"
                            + Math.round(seconds * 1000) + ",\"remote\":\"" + Request.getRemoteAddr(request) + "\"}");
                }
            }
            return true;
        }
    }

    private void route(Exchange ex) throws Exception {
        String p = ex.path;
        String m = ex.request.getMethod();
        switch (p) {
            case "/health" -> {
                ex.route = p;
                ex.method(m, "GET");
                ex.json(200, Map.of("status", "ok"));
                return;
            }
            case "/ready" -> {
                ex.route = p;
                ex.method(m, "GET");
                if (accepting) {
                    ex.json(200, Map.of("status", "ready", "model", modelName));
                } else {
                    ex.json(503, Map.of("status", "shutting_down"));
                }
                return;
            }
            case "/metrics" -> {
                ex.route = p;
                ex.method(m, "GET");
                ex.text(200, "text/plain; version=0.0.4; charset=utf-8", renderMetrics());
                return;
            }
            default -> { }
        }
        if (!p.startsWith("/v1/")) {
            ex.route = "other";
            throw ApiError.notFound(null, "no route " + m + " " + p);
        }
        String owner = authenticate(ex.request);
        if (p.equals("/v1/models")) {
            ex.route = p;
            ex.method(m, "GET");
            ex.json(200, Map.of("object", "list", "data", List.of(modelObject())));
        } else if (p.startsWith("/v1/models/")) {
            ex.route = "/v1/models/{id}";
            ex.method(m, "GET");
            if (!p.substring("/v1/models/".length()).equals(modelName)) {
                throw new ApiError(404, "invalid_request_error", "model", "model_not_found", "The model '"
                        + p.substring("/v1/models/".length()) + "' does not exist; this server serves '" + modelName + "'", null);
            }
            ex.json(200, modelObject());
        } else if (p.equals("/v1/completions") || p.equals("/v1/chat/completions")) {
            ex.route = p;
            ex.method(m, "POST");
            completion(ex, owner, p.equals("/v1/chat/completions"));
        } else if (p.equals("/v1/sessions")) {
            ex.route = p;
            ex.method(m, "GET", "POST");
            if (m.equals("GET")) {
                List<Map<String, Object>> list = new ArrayList<>();
                store.sessions.values().stream().filter(s -> s.owner.equals(owner))
                        .sorted(java.util.Comparator.comparingLong((Session s) -> s.createdEpochSeconds).thenComparing(s -> s.id))
                        .forEach(s -> list.add(sessionObject(s)));
                ex.json(200, Map.of("object", "list", "data", list));
            } else {
                createSession(ex, owner);
            }
        } else if (p.startsWith("/v1/sessions/")) {
            String rest = p.substring("/v1/sessions/".length());
            boolean append = rest.endsWith("/append");
            String id = append ? rest.substring(0, rest.length() - "/append".length()) : rest;
            ex.route = append ? "/v1/sessions/{id}/append" : "/v1/sessions/{id}";
            if (append) {
                ex.method(m, "POST");
            } else {
                ex.method(m, "GET", "DELETE");
            }
            Session s = session(id, owner, "id");
            if (append) {
                append(ex, s);
            } else if (m.equals("GET")) {
                ex.json(200, sessionObject(s));
            } else {
                store.delete(s);
                ex.json(200, Map.of("id", s.id, "object", "session.deleted", "deleted", true));
            }
        } else {
            ex.route = "other";
            throw ApiError.notFound(null, "no route " + m + " " + p);
        }
    }

    /** The caller's owner tag: "" without authentication, else a hash of the key; 401 for a missing or wrong key. */
    private String authenticate(Request request) {
        if (keyHashes.isEmpty()) {
            return "";
        }
        String h = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw ApiError.unauthorized("an API key is required: send the header 'Authorization: Bearer <key>'");
        }
        byte[] given = sha256(h.substring(7).strip());
        boolean ok = false;
        for (byte[] k : keyHashes) {
            ok |= MessageDigest.isEqual(k, given);
        }
        if (!ok) {
            throw ApiError.unauthorized("Incorrect API key provided");
        }
        return HexFormat.of().formatHex(given, 0, 16);
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private Map<String, Object> modelObject() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", modelName);
        m.put("object", "model");
        m.put("created", createdEpoch);
        m.put("owned_by", "engram");
        m.put("vocab_size", defaultWorker.engine.vocabSize());
        m.put("segment_length", defaultWorker.engine.segmentLength());
        m.put("tokenizer", defaultWorker.tokenizer.description());
        return m;
    }

    private Session session(String id, String owner, String param) {
        Session s = SessionStore.ID.matcher(id).matches() ? store.sessions.get(id) : null;
        if (s == null || s.deleted || !s.owner.equals(owner)) {
            throw ApiError.notFound(param, "no session '" + id + "'");
        }
        return s;
    }

    private Map<String, Object> sessionObject(Session s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", s.id);
        m.put("object", "session");
        m.put("model", modelName);
        m.put("tokens", s.tokens);
        ModelWorker w;
        synchronized (workers) {
            w = workers.get(s.strategyKey);
        }
        m.put("strategy", w != null ? w.describe() : Map.of("overrides", s.strategy));
        m.put("footprint_bytes", s.stateBytes);
        m.put("snapshot_bytes", s.snapshotBytes);
        m.put("resident", s.resident);
        m.put("damaged", s.damage != null);
        if (s.damage != null) {
            m.put("damage", "its file " + s.damage + "; delete the session, or restore its file from a backup and restart the server (the check is made once)");
        }
        m.put("created", s.createdEpochSeconds);
        m.put("last_used", s.lastUsedMillis / 1000);
        return m;
    }

    private String renderMetrics() {
        return metrics.render(g -> {
            List<ModelWorker> all;
            synchronized (workers) {
                all = new ArrayList<>(workers.values());
            }
            for (ModelWorker w : all) {
                g.gauge("engram_queue_depth{strategy=\"" + w.key.replace("\\", "\\\\").replace("\"", "\\\"") + "\"}", w.depth());
            }
            // Every session has its file on disk (written before any answer); some are also resident in memory.
            long onDisk = store.sessions.size();
            long resident = store.sessions.values().stream().filter(s -> s.resident).count();
            g.gauge("engram_sessions{state=\"on_disk\"}", onDisk);
            g.gauge("engram_sessions{state=\"resident\"}", resident);
            g.gauge("engram_sessions{state=\"damaged\"}", store.damagedCount());
            g.gauge("engram_session_files_skipped", store.skippedFiles);
            g.gauge("engram_session_memory_bytes", store.residentBytes());
            Runtime rt = Runtime.getRuntime();
            g.gauge("engram_jvm_memory_bytes{area=\"heap_used\"}", rt.totalMemory() - rt.freeMemory());
            g.gauge("engram_jvm_memory_bytes{area=\"heap_max\"}", rt.maxMemory());
            g.gauge("engram_ready", accepting ? 1 : 0);
        });
    }

    // ---------------------------------------------------------------- sessions

    private void createSession(Exchange ex, String owner) throws Exception {
        Map<String, String> strategy = Requests.strategy(Requests.object(ex.body(options.maxBodyBytes()), true));
        if (store.sessions.size() >= options.maxSessions()) {
            throw new ApiError(429, "rate_limit_error", null, "too_many_sessions", "this server holds " + store.sessions.size()
                    + " sessions (maxSessions " + options.maxSessions() + "); delete some", null);
        }
        ensureAccepting();
        ModelWorker w = worker(strategy);
        Session s = new Session(store.newId(), owner, strategy, strategyKey(strategy), Instant.now().getEpochSecond());
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        modelWorkStarted = true;
        await(ex, w.submit(() -> {
            cancel.check();
            s.lock.lock();
            try {
                if (!cancel.start()) {
                    throw new Generation.Cancelled();
                }
                ModelSequence seq = w.engine.newSequence();
                store.persist(s, seq);
                s.setLive(seq);
                store.sessions.put(s.id, s);
            } finally {
                s.lock.unlock();
            }
            return null;
        }), cancel);
        ex.json(200, sessionObject(s));
    }

    /** Runs {@code op} with the session's sequence resident (restored from disk when evicted), on its strategy's worker. */
    private <T> CompletableFuture<T> onSession(Session s, Generation.Cancel cancel, java.util.function.Function<ModelSequence, T> op) {
        ModelWorker w = worker(s.strategy);
        modelWorkStarted = true;
        return w.submit(() -> {
            cancel.check();
            s.lock.lock();
            try {
                if (s.deleted) {
                    throw ApiError.notFound("session", "no session '" + s.id + "' (deleted)");
                }
                if (!cancel.start()) {
                    throw new Generation.Cancelled(); // the request timed out before this job began; it changes nothing
                }
                s.lastUsedMillis = System.currentTimeMillis();
                if (s.live == null) {
                    ModelSequence seq = w.engine.newSequence();
                    try {
                        seq.restore(store.readState(s));
                    } catch (dev.engram.api.SnapshotException e) {
                        store.markDamaged(s, "holds a state this model cannot restore: " + e.getMessage());
                        throw SessionStore.damaged(s);
                    }
                    s.setLive(seq);
                }
                try {
                    return op.apply(s.live);
                } catch (RuntimeException e) {
                    s.dropLive(); // the disk holds the last acknowledged state; reload it next time
                    throw e;
                }
            } finally {
                s.lastUsedMillis = System.currentTimeMillis();
                s.lock.unlock();
                store.evict(options.idleSessionTimeout().toMillis(), options.sessionMemoryBudget());
            }
        });
    }

    private void append(Exchange ex, Session s) throws Exception {
        byte[] body = ex.body(options.maxAppendBytes());
        String type = ex.request.getHeaders().get(HttpHeader.CONTENT_TYPE);
        int[] tokens;
        String textInput = null;
        // Special tokens (a BOS) only at a sequence's start. Decided here for the checks below, and again in the job,
        // under the session's lock, where another first append may have got there first.
        boolean atStart = s.tokens == 0;
        boolean stream = false;
        ModelWorker dw = defaultWorker;
        if (type != null && type.toLowerCase().startsWith("text/plain")) {
            textInput = Requests.utf8Text(body, "text");
            tokens = dw.tokenizer.encode(textInput, atStart);
        } else {
            ObjectNode o = Requests.object(body, false);
            Requests.onlyKnown(o, java.util.Set.of("text", "tokens", "stream"), java.util.Set.of());
            stream = Requests.bool(o, "stream", false);
            var text = Requests.field(o, "text");
            var ids = Requests.field(o, "tokens");
            if ((text == null) == (ids == null)) {
                throw ApiError.invalid(text == null ? "text" : "tokens", "give exactly one of 'text' (a string) or 'tokens' (token ids)");
            }
            if (text != null) {
                if (!text.isTextual()) {
                    throw ApiError.invalid("text", "text must be a string");
                }
                textInput = text.asText();
                tokens = dw.tokenizer.encode(textInput, atStart);
            } else {
                if (!ids.isArray()) {
                    throw ApiError.invalid("tokens", "tokens must be an array of token ids");
                }
                tokens = Requests.tokenIds(ids, "tokens", dw.engine.vocabSize());
            }
        }
        if (tokens.length == 0) {
            throw ApiError.invalid("text", "nothing to append: the text has no tokens");
        }
        ensureAccepting();
        final int[] checked = tokens;
        final String text = textInput;
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        ex.request.addFailureListener(t -> cancel.clientGone.set(true));
        CompletableFuture<long[]> done = onSession(s, cancel, seq -> {
            boolean startNow = seq.position() == 0;
            int[] all = text == null || startNow == atStart ? checked : dw.tokenizer.encode(text, startNow);
            if (all.length == 0) {
                throw ApiError.invalid("text", "nothing to append: the text has no tokens");
            }
            Engine engine = worker(s.strategy).engine;
            int segment = engine.segmentLength();
            int chunk = segment * Math.max(1, 256 / segment);
            int fed = 0;
            engine.setSegmentListener((n, t, ns) -> cancel.check());
            try {
                while (fed < all.length) {
                    cancel.check();
                    int len = Math.min(all.length - fed, chunk - (int) (seq.position() % segment));
                    engine.ingest(seq, Arrays.copyOfRange(all, fed, fed + len));
                    fed += len;
                    events.add(new long[] {fed, all.length});
                }
            } finally {
                engine.setSegmentListener(null);
            }
            cancel.check(); // the last point where a timeout or a departed client still leaves the session as it was
            store.persist(s, seq);
            metrics.tokens("append", all.length);
            return new long[] {all.length, text == null ? 0 : dw.tokenizer.unknownTokens(all)};
        });
        if (!stream) {
            long[] appended = await(ex, done, cancel);
            Map<String, Object> r = sessionObject(s);
            r.put("appended_tokens", appended[0]);
            r.put("unknown_tokens", appended[1]);
            ex.json(200, r);
            return;
        }
        // Server-sent progress events, then the session, then [DONE].
        Object first = nextEvent(events, done, cancel);
        if (first instanceof Throwable t) {
            throw unwrap(t);
        }
        ex.startSse();
        Object e = first;
        while (true) {
            if (e instanceof long[] progress) {
                ex.sse(Map.of("object", "session.append.progress", "id", s.id, "tokens_done", progress[0],
                        "tokens_total", progress[1]), cancel);
            } else if (e == DONE) {
                Map<String, Object> r = sessionObject(s);
                r.put("appended_tokens", done.join()[0]);
                r.put("unknown_tokens", done.join()[1]);
                ex.sse(r, cancel);
                ex.endSse(cancel);
                return;
            } else if (e instanceof Throwable t) {
                ex.failSse(unwrap(t), cancel);
                return;
            }
            e = nextEvent(events, done, cancel);
        }
    }

    private static final Object DONE = new Object();

    /** The next progress event, or DONE / the failure once the job finished and no events remain. */
    private static Object nextEvent(LinkedBlockingQueue<Object> events, CompletableFuture<?> job, Generation.Cancel cancel)
            throws InterruptedException {
        while (true) {
            Object e = events.poll(20, TimeUnit.MILLISECONDS);
            if (e != null) {
                return e;
            }
            if (job.isDone() && events.isEmpty()) {
                try {
                    job.join();
                    return DONE;
                } catch (Throwable t) {
                    return t;
                }
            }
            // Past the deadline a job that has not started is given up; one that has started ends at its own next
            // check (which throws the timeout), and what it did is what the stream reports.
            if (cancel.remainingMillis() == 0 && !job.isDone() && cancel.abandon()) {
                return ApiError.timeout("the request did not finish within " + cancel.timeoutMillis + " ms (requestTimeout)");
            }
        }
    }

    // ---------------------------------------------------------------- completions

    /** The header that names a session for clients that cannot add a body field; the body's "session" must agree. */
    static final String SESSION_HEADER = "Engram-Session";

    private void completion(Exchange ex, String owner, boolean chat) throws Exception {
        ObjectNode body = Requests.object(ex.body(options.maxBodyBytes()), false);
        String fromHeader = ex.request.getHeaders().get(SESSION_HEADER);
        if (fromHeader != null) {
            com.fasterxml.jackson.databind.JsonNode inBody = Requests.field(body, "session");
            if (inBody != null && !(inBody.isTextual() && inBody.asText().equals(fromHeader.strip()))) {
                throw ApiError.invalid("session", "the body's session " + inBody + " and the " + SESSION_HEADER
                        + " header '" + fromHeader.strip() + "' differ; give one, or the same in both");
            }
            body.put("session", fromHeader.strip());
        }
        Requests.Completion r = Requests.completion(body, chat, modelName, defaultWorker.tokenizer, defaultWorker.engine.vocabSize(),
                options, defaultWorker.chatTemplate);
        Session s = r.session() == null ? null : session(r.session(), owner, "session");
        (s == null ? defaultWorker : worker(s.strategy)).engine.requireRoom(s == null ? 0 : s.tokens,
                (long) r.prompt().length + r.maxTokens(), chat && body.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens");
        ensureAccepting();
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        ex.request.addFailureListener(t -> cancel.clientGone.set(true));
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        Consumer<String> onText = r.stream() ? events::add : t -> { };
        CompletableFuture<Generation.Outcome> job;
        if (s == null) {
            modelWorkStarted = true;
            job = defaultWorker.submit(() -> Generation.run(defaultWorker.engine, defaultWorker.tokenizer,
                    defaultWorker.engine.newSequence(), r, cancel, onText));
        } else {
            ModelWorker w = worker(s.strategy);
            job = onSession(s, cancel, seq -> {
                byte[] before = r.sessionAppend() ? null : seq.snapshot();
                Generation.Outcome out = Generation.run(w.engine, w.tokenizer, seq, r, cancel, onText);
                if (r.sessionAppend()) {
                    cancel.check();
                    store.persist(s, seq);
                } else {
                    seq.restore(before);
                }
                return out;
            });
        }
        job = job.whenComplete((out, t) -> {
            if (out != null) {
                metrics.tokens("prompt", out.promptTokens());
                metrics.tokens("completion", out.tokens().length);
            }
        });
        String id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes());
        long created = Instant.now().getEpochSecond();
        if (!r.stream()) {
            Generation.Outcome out = await(ex, job, cancel);
            dev.engram.runtime.text.Tokenizer tok = s == null ? defaultWorker.tokenizer : worker(s.strategy).tokenizer;
            Map<String, Object> choice = new LinkedHashMap<>();
            choice.put("index", 0);
            if (chat) {
                choice.put("message", Map.of("role", "assistant", "content", out.text()));
            } else {
                choice.put("text", r.echo() ? tok.decode(r.prompt()) + out.text() : out.text());
            }
            choice.put("logprobs", r.logprobs() < 0 ? null : chat ? chatLogprobs(tok, out.scores())
                    : completionLogprobs(tok, out.promptScores(), out.scores()));
            choice.put("finish_reason", out.finishReason());
            choice.put("token_ids", out.tokens());
            Map<String, Object> resp = head(id, chat ? "chat.completion" : "text_completion", created);
            resp.put("choices", List.of(choice));
            resp.put("usage", usage(out));
            if (s != null) {
                resp.put("session", s.id);
            }
            ex.json(200, resp);
            return;
        }
        Object first = nextEvent(events, job, cancel);
        if (first instanceof Throwable t) {
            throw unwrap(t);
        }
        ex.startSse();
        String object = chat ? "chat.completion.chunk" : "text_completion";
        if (chat) {
            ex.sse(chunk(id, object, created, Map.of("role", "assistant", "content", ""), null, true), cancel);
        }
        Object e = first;
        while (true) {
            if (e instanceof String text) {
                ex.sse(chunk(id, object, created, chat ? Map.of("content", text) : text, null, chat), cancel);
            } else if (e == DONE) {
                Generation.Outcome out = job.join();
                ex.sse(chunk(id, object, created, chat ? Map.of() : "", out.finishReason(), chat), cancel);
                if (r.includeUsage()) {
                    Map<String, Object> u = head(id, object, created);
                    u.put("choices", List.of());
                    u.put("usage", usage(out));
                    ex.sse(u, cancel);
                }
                ex.endSse(cancel);
                return;
            } else if (e instanceof Throwable t) {
                ex.failSse(unwrap(t), cancel);
                return;
            }
            e = nextEvent(events, job, cancel);
        }
    }

    /**
     * Legacy completions' shape: parallel lists of token strings, their log-probabilities (null for a prompt's first
     * token), the top alternatives as {token: logprob} (null there too), and each token's character offset in the text.
     */
    private static Map<String, Object> completionLogprobs(dev.engram.runtime.text.Tokenizer tok,
                                                          List<Generation.Scored> prompt, List<Generation.Scored> generated) {
        List<Object> tokens = new ArrayList<>();
        List<Object> logprobs = new ArrayList<>();
        List<Object> tops = new ArrayList<>();
        List<Object> offsets = new ArrayList<>();
        int offset = 0;
        List<Generation.Scored> all = new ArrayList<>(prompt);
        all.addAll(generated);
        for (Generation.Scored sc : all) {
            String text = tok.decode(new int[] {sc.token()});
            tokens.add(text);
            offsets.add(offset);
            offset += text.length();
            if (Double.isNaN(sc.logprob())) {
                logprobs.add(null);
                tops.add(null);
                continue;
            }
            logprobs.add(sc.logprob());
            Map<String, Object> top = new LinkedHashMap<>();
            for (int i = 0; i < sc.topIds().length; i++) {
                top.putIfAbsent(tok.decode(new int[] {sc.topIds()[i]}), sc.topLogprobs()[i]);
            }
            tops.add(top);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tokens", tokens);
        m.put("token_logprobs", logprobs);
        m.put("top_logprobs", tops);
        m.put("text_offset", offsets);
        return m;
    }

    /** Chat's shape: {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal: null}. */
    private static Map<String, Object> chatLogprobs(dev.engram.runtime.text.Tokenizer tok, List<Generation.Scored> generated) {
        List<Object> content = new ArrayList<>();
        for (Generation.Scored sc : generated) {
            Map<String, Object> entry = tokenEntry(tok, sc.token(), sc.logprob());
            List<Object> top = new ArrayList<>();
            for (int i = 0; i < sc.topIds().length; i++) {
                top.add(tokenEntry(tok, sc.topIds()[i], sc.topLogprobs()[i]));
            }
            entry.put("top_logprobs", top);
            content.add(entry);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("content", content);
        m.put("refusal", null);
        return m;
    }

    private static Map<String, Object> tokenEntry(dev.engram.runtime.text.Tokenizer tok, int id, double logprob) {
        String text = tok.decode(new int[] {id});
        byte[] utf8 = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        List<Integer> bytes = new ArrayList<>(utf8.length);
        for (byte b : utf8) {
            bytes.add(b & 0xff);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("token", text);
        m.put("logprob", logprob);
        m.put("bytes", bytes);
        return m;
    }

    private Map<String, Object> head(String id, String object, long created) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("object", object);
        m.put("created", created);
        m.put("model", modelName);
        m.put("system_fingerprint", null);
        return m;
    }

    private Map<String, Object> chunk(String id, String object, long created, Object content, String finish, boolean chat) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        choice.put(chat ? "delta" : "text", content);
        choice.put("logprobs", null);
        choice.put("finish_reason", finish);
        Map<String, Object> m = head(id, object, created);
        m.put("choices", List.of(choice));
        return m;
    }

    private static Map<String, Object> usage(Generation.Outcome out) {
        return Map.of("prompt_tokens", out.promptTokens(), "completion_tokens", out.tokens().length,
                "total_tokens", out.promptTokens() + out.tokens().length);
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        java.util.concurrent.ThreadLocalRandom.current().nextBytes(b);
        return b;
    }

    private void ensureAccepting() {
        if (!accepting) {
            metrics.rejected("shutting_down");
            throw ApiError.unavailable("the server is shutting down");
        }
    }

    private <T> T await(Exchange ex, CompletableFuture<T> job, Generation.Cancel cancel) throws InterruptedException {
        try {
            return job.get(cancel.remainingMillis() + 50, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            if (cancel.abandon()) {
                metrics.rejected("timeout");
                throw ApiError.timeout("the request did not finish within " + cancel.timeoutMillis + " ms (requestTimeout)");
            }
            // The job started and may be committing: its own checks end it shortly; answer with what it did,
            // so a client is never told "timeout" for an append that was stored.
            try {
                return job.get();
            } catch (ExecutionException failed) {
                throw unwrap(failed.getCause());
            }
        } catch (ExecutionException e) {
            throw unwrap(e.getCause());
        }
    }

    private RuntimeException unwrap(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof java.util.concurrent.CompletionException) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof ApiError e) {
            if (e.status == 503 && "request_timeout".equals(e.code)) {
                metrics.rejected("timeout");
            }
            return e;
        }
        if (t instanceof Generation.Cancelled c) {
            return c;
        }
        if (t instanceof InvalidInputException e) {
            return ApiError.invalid(e.field(), e.getMessage());
        }
        LOG.log(System.Logger.Level.ERROR, "request failed", t);
        return ApiError.internal("the model failed: " + t.getMessage());
    }

    /** One request/response; tracks the status for metrics and logs. */
    private final class Exchange {
        final Request request;
        final Response response;
        final Callback callback;
        final String path;
        String route = "other";
        int status = 200;
        boolean sse;
        boolean finished;
        /** Whether the handler read the request body (or began to); an error answer drains it otherwise. */
        boolean bodyRead;

        Exchange(Request request, Response response, Callback callback) {
            this.request = request;
            this.response = response;
            this.callback = callback;
            String p = request.getHttpURI().getPath();
            this.path = p == null ? "/" : p;
        }

        void method(String actual, String... allowed) {
            for (String a : allowed) {
                if (a.equals(actual)) {
                    return;
                }
            }
            response.getHeaders().put(HttpHeader.ALLOW, String.join(", ", allowed));
            throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", "method " + actual + " is not allowed on "
                    + route + "; allowed: " + String.join(", ", allowed), null);
        }

        /** Bodies up to this size are read and dropped before a 413, so the client can read the answer. */
        private static final long DRAIN_LIMIT_BYTES = 16L << 20;

        byte[] body(long limit) throws IOException {
            bodyRead = true;
            long declared = request.getLength();
            if (declared > limit) {
                metrics.rejected("too_large");
                if (declared <= DRAIN_LIMIT_BYTES) {
                    // Read what the client is sending before answering: a 413 sent over a half-read body makes the
                    // connection close under the client's feet, and many clients then report a reset, not the 413.
                    try (InputStream in = Content.Source.asInputStream(request)) {
                        in.transferTo(java.io.OutputStream.nullOutputStream());
                    }
                }
                throw ApiError.tooLarge("the request body is " + declared + " bytes; the limit here is " + limit + " bytes");
            }
            try (InputStream in = Content.Source.asInputStream(request)) {
                byte[] b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
                if (b.length > limit) {
                    metrics.rejected("too_large");
                    throw ApiError.tooLarge("the request body is over the limit of " + limit + " bytes");
                }
                return b;
            }
        }

        void json(int code, Object body) throws IOException {
            text(code, "application/json", Requests.MAPPER.writeValueAsString(body));
        }

        void text(int code, String type, String body) {
            status = code;
            response.setStatus(code);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, type);
            finished = true;
            response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
        }

        void error(ApiError e) {
            if (finished) {
                return;
            }
            if (sse) {
                try {
                    sseError(e, null);
                    endSse(null);
                } catch (RuntimeException ignored) {
                    abort(ignored);
                }
                return;
            }
            if (e.retryAfterSeconds != null) {
                response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(e.retryAfterSeconds));
            }
            if (e.status == 429) {
                metrics.rejected("queue_full");
            }
            drainUnreadBody();
            try {
                json(e.status, errorBody(e));
            } catch (IOException io) {
                abort(io);
            }
        }

        /**
         * An error answered before the handler read the body (a 404 for an append, say) would leave the body unread,
         * and Jetty then closes the connection under a client that reuses it for its next request, which sees a
         * connection reset instead of an answer. So a body of up to DRAIN_LIMIT_BYTES is read and dropped first.
         */
        private void drainUnreadBody() {
            if (bodyRead) {
                return;
            }
            bodyRead = true;
            long declared = request.getLength();
            if (declared == 0 || declared > DRAIN_LIMIT_BYTES) {
                return;
            }
            try (InputStream in = Content.Source.asInputStream(request)) {
                long left = DRAIN_LIMIT_BYTES;
                byte[] scratch = new byte[8192];
                int n;
                while (left > 0 && (n = in.read(scratch, 0, (int) Math.min(scratch.length, left))) > 0) {
                    left -= n;
                }
            } catch (IOException | RuntimeException ignored) {
                // the answer goes out anyway; at worst the connection closes, as it would have
            }
        }

        void abort(Throwable t) {
            if (!finished) {
                finished = true;
                callback.failed(t);
            }
        }

        void startSse() {
            sse = true;
            status = 200;
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
            response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            response.getHeaders().put("X-Accel-Buffering", "no");
        }

        void sse(Object event, Generation.Cancel cancel) {
            try {
                write("data: " + Requests.MAPPER.writeValueAsString(event) + "\n\n", false, cancel);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new UncheckedIOException(e);
            }
        }

        void failSse(RuntimeException e, Generation.Cancel cancel) {
            if (!(e instanceof ApiError a)) {
                throw e;
            }
            sseError(a, cancel);
            endSse(cancel);
        }

        void sseError(ApiError e, Generation.Cancel cancel) {
            sse(errorBody(e), cancel);
        }

        void endSse(Generation.Cancel cancel) {
            write("data: [DONE]\n\n", true, cancel);
            finished = true;
            callback.succeeded();
        }

        private void write(String s, boolean last, Generation.Cancel cancel) {
            try {
                Content.Sink.write(response, last, ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)));
            } catch (IOException | RuntimeException e) {
                if (cancel != null) {
                    cancel.clientGone.set(true); // the client went away: stop generating
                }
                throw new Generation.Cancelled();
            }
        }
    }

    /** Errors Jetty answers itself (an unparsable request line, an ambiguous path, ...) in the same JSON shape. */
    private final class JsonErrors extends org.eclipse.jetty.server.handler.ErrorHandler {
        /** Jetty writes a body only for GET, POST and HEAD by default; a DELETE's error deserves the same JSON. */
        @Override
        public boolean errorPageForMethod(String method) {
            return true;
        }

        @Override
        protected void generateResponse(Request request, Response response, int code, String message, Throwable cause,
                                        Callback callback) throws IOException {
            String type = code >= 500 ? "server_error" : "invalid_request_error";
            ApiError e = new ApiError(code, type, null, null, message == null ? "HTTP " + code : message, null);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            // Jetty answers these before any handler read the body, and then closes the connection: saying so lets a
            // client open a new one for its next request instead of failing on this one (seen with java.net.http).
            response.getHeaders().put(HttpHeader.CONNECTION, "close");
            response.write(true, ByteBuffer.wrap(Requests.MAPPER.writeValueAsBytes(errorBody(e))), callback);
        }
    }

    private Map<String, Object> errorBody(ApiError e) {
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("message", scrub(e.getMessage()));
        err.put("type", e.type);
        err.put("param", e.param);
        err.put("code", e.code);
        return Map.of("error", err);
    }

    /** The model dir, data dir and config file, absolute and as given, each with the words that replace it in answers. */
    private static List<String[]> privatePaths(Path modelDir, Path dataDir, Path config) {
        List<String[]> out = new ArrayList<>();
        for (Object[] p : new Object[][] {{modelDir, "<model dir>"}, {dataDir, "<data dir>"}, {config, "<config file>"}}) {
            if (p[0] == null) {
                continue;
            }
            Path path = (Path) p[0];
            for (String form : new String[] {path.toAbsolutePath().normalize().toString(), path.toAbsolutePath().toString(),
                    path.toString()}) {
                // a bare relative name ("m") is no disclosure, and replacing it would mangle ordinary words
                if (form.contains(java.io.File.separator) && form.length() > 1) {
                    out.add(new String[] {form, (String) p[1]});
                }
            }
        }
        out.sort((a, b) -> Integer.compare(b[0].length(), a[0].length()));
        return out;
    }

    /** {@code message} with the server's own paths replaced by what they are: an answer never shows the file system. */
    String scrub(String message) {
        if (message == null) {
            return null;
        }
        for (String[] p : privatePaths) {
            message = message.replace(p[0], p[1]);
        }
        return message;
    }

    /** For tests: the queue depth of the default strategy. */
    int defaultQueueDepth() {
        return defaultWorker.depth();
    }

}
