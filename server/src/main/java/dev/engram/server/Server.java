package dev.engram.server;

import dev.engram.api.InvalidInputException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.ServerConnector;
import com.google.inject.Injector;
import com.google.inject.Module;
import com.google.inject.util.Modules;
import dev.engram.runtime.EngineFactory;
import dev.engram.runtime.EngramModule;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * {@code engram serve}: OpenAI-compatible completions and memory sessions over HTTP (Jetty 12 core).
 * Start with {@link #start(Path, int, SessionStoreLocation, ServeOptions)}; {@link #close()} shuts down gracefully
 * (no new work, queued and running requests finish within {@link ServeOptions#shutdownGrace()}).
 * {@link #serve} is the blocking entry the CLI calls. This class holds the lifecycle and the routing table; each
 * endpoint family reads in its own handler ({@link CompletionsHandler}, {@link SessionsHandler}, {@link ModelsHandler},
 * {@link ProbesHandler}), engines in {@link Engines}, sessions in a {@link SessionStore}.
 */
public final class Server implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Server.class.getName());
    private static final System.Logger ACCESS = System.getLogger("dev.engram.server.access");
    /** The header that names a session for clients that cannot add a body field ({@link CompletionsHandler}). */
    static final String SESSION_HEADER = CompletionsHandler.SESSION_HEADER;

    private final ServeOptions options;
    private final Metrics metrics = new Metrics();
    private final Engines engines;
    private final SessionStore store;
    private final String modelName;
    private final Auth auth;
    private final ProbesHandler probes;
    private final ModelsHandler models;
    private final SessionsHandler sessions;
    private final CompletionsHandler completions;
    private final org.eclipse.jetty.server.Server jetty;
    private final ServerConnector connector;
    private final ScheduledExecutorService sweeper;
    /** The server's own paths (absolute and as given), longest first: never shown in an HTTP answer, only in the log. */
    private final List<String[]> privatePaths;
    /** Set when the first request is queued for a model; ends the kernel warm-up. */
    private final AtomicBoolean modelWorkStarted = new AtomicBoolean();
    private volatile boolean closed;

    private Server(Path modelDir, int port, SessionStoreLocation location, ServeOptions options, Injector injector) throws Exception {
        this.options = options;
        this.privatePaths = privatePaths(modelDir, location instanceof SessionStoreLocation.Directory d ? d.dataDir() : null,
                options.config());
        this.auth = new Auth(options.apiKeys());
        long t0 = System.nanoTime();
        this.engines = new Engines(injector.getInstance(EngineFactory.class), modelDir, options);
        long tEngine = System.nanoTime();
        this.modelName = engines.defaultWorker.engine.manifest().name();
        try {
            this.store = injector.getInstance(ServerModule.SessionStoreOpener.class).open(location, modelName);
        } catch (RuntimeException e) {
            engines.defaultWorker.close();
            throw e;
        }
        long tIndex = System.nanoTime();
        Jobs jobs = new Jobs(metrics, engines);
        this.probes = new ProbesHandler(metrics, engines, store, modelName);
        this.models = new ModelsHandler(engines, modelName, Instant.now().getEpochSecond());
        this.sessions = new SessionsHandler(options, metrics, engines, store, jobs, modelName, modelWorkStarted);
        this.completions = new CompletionsHandler(options, metrics, engines, store, sessions, jobs, modelName, modelWorkStarted);

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
            engines.defaultWorker.close();
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
        if (store.hasWorkAfterReady()) {
            Thread verify = new Thread(store::afterReady, "engram-session-verify");
            verify.setDaemon(true);
            verify.start();
        }
    }

    /**
     * Loads the model (failing fast with every package problem in one {@link dev.engram.api.ConfigException}), opens
     * or creates {@code dataDir}, and listens on {@code options.host():port} (0 = an ephemeral port).
     */
    public static Server start(Path modelDir, int port, Path dataDir, ServeOptions options) {
        return start(modelDir, port, new SessionStoreLocation.Directory(dataDir), options);
    }

    /**
     * As {@link #start(Path, int, Path, ServeOptions)}, with sessions in a directory or in Redis. The engines and the
     * session store come from one injector ({@link EngramModule} and {@link ServerModule}); {@code overrides} replace
     * its bindings (another execution provider, another session store) for everything the server builds.
     */
    public static Server start(Path modelDir, int port, SessionStoreLocation sessions, ServeOptions options, Module... overrides) {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port is " + port + "; valid: 0 (any free port) to 65535");
        }
        try {
            return new Server(modelDir, port, sessions, options,
                    EngineFactory.injector(Modules.combine(new EngramModule(), new ServerModule()), overrides));
        } catch (RuntimeException e) {
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen on " + options.host() + ":" + port + ": " + e.getMessage(), e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the server: " + e.getMessage(), e);
        }
    }

    public static int serve(Path modelDir, int port, Path dataDir, ServeOptions options) throws InterruptedException {
        return serve(modelDir, port, new SessionStoreLocation.Directory(dataDir), options);
    }

    /**
     * The CLI entry: starts, prints one line "engram serve: listening on http://host:port (model NAME, ...)"
     * to standard output, and blocks until the JVM is asked to stop (SIGINT/SIGTERM), then shuts down
     * gracefully. Returns the exit code (0).
     */
    public static int serve(Path modelDir, int port, SessionStoreLocation sessions, ServeOptions options) throws InterruptedException {
        Server server = start(modelDir, port, sessions, options);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "engram-serve-shutdown"));
        System.out.println("engram serve: listening on " + server.uri() + " (model " + server.modelName() + ", "
                + server.store.describe() + (options.apiKeys().isEmpty() ? "" : ", API key required") + ")");
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
        long deadline = System.nanoTime() + options.shutdownGrace().toNanos();
        List<ModelWorker> all = engines.stopAccepting();
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
            dev.engram.spi.kernel.KernelWarmUp.run(WARM_UP_ROUNDS, () -> modelWorkStarted.get() || closed);
            LOG.log(System.Logger.Level.INFO, "kernel warm-up: " + (System.nanoTime() - start) / 1_000_000 + " ms"
                    + (modelWorkStarted.get() ? " (stopped by the first request)" : ""));
        }, "engram-kernel-warm-up");
        t.setDaemon(true);
        t.start();
    }

    /** Engines loaded for strategies since start (the default one included), for tests of the loading logic. */
    int engineLoads() {
        return engines.loads();
    }

    /** For tests: the queue depth of the default strategy. */
    int defaultQueueDepth() {
        return engines.defaultWorker.depth();
    }

    /** For tests: the default strategy's worker. */
    ModelWorker defaultWorker() {
        return engines.defaultWorker;
    }

    // ---------------------------------------------------------------- HTTP

    private final class Api extends Handler.Abstract {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            long start = System.nanoTime();
            metrics.inFlight.incrementAndGet();
            Exchange ex = new Exchange(request, response, callback, metrics, Server.this::errorBody);
            try {
                route(ex);
            } catch (ApiError e) {
                ex.error(e);
            } catch (InvalidInputException e) { // the engine's own checks (learned positions, ids) are the client's 400s
                ex.error(ApiError.invalid(e.field(), e.getMessage()));
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

    /** The routing table: probes (open), then the API behind the key check, one handler per endpoint family. */
    private void route(Exchange ex) throws Exception {
        if (probes.handle(ex)) {
            return;
        }
        String p = ex.path;
        String m = ex.request.getMethod();
        if (!p.startsWith("/v1/")) {
            ex.route = "other";
            throw ApiError.notFound(null, "no route " + m + " " + p);
        }
        String owner = auth.authenticate(ex.request);
        if (p.equals("/v1/models")) {
            ex.route = p;
            ex.method(m, "GET");
            models.list(ex);
        } else if (p.startsWith("/v1/models/")) {
            ex.route = "/v1/models/{id}";
            ex.method(m, "GET");
            models.get(ex, p.substring("/v1/models/".length()));
        } else if (p.equals("/v1/completions") || p.equals("/v1/chat/completions")) {
            ex.route = p;
            ex.method(m, "POST");
            completions.handle(ex, owner, p.equals("/v1/chat/completions"));
        } else if (p.equals("/v1/sessions") || p.startsWith("/v1/sessions/")) {
            sessions.handle(ex, owner);
        } else {
            ex.route = "other";
            throw ApiError.notFound(null, "no route " + m + " " + p);
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
}
