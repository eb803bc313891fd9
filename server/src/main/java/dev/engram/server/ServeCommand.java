package dev.engram.server;

import dev.engram.runtime.StepSharing;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a model package over HTTP: OpenAI-compatible /v1/completions and /v1/chat/completions",
                "(streaming as server-sent events), /v1/models, and memory sessions (/v1/sessions) persisted as",
                "snapshots under --data-dir, or in Redis shared by many replicas (--session-store redis://...), so a",
                "restart loses no acknowledged append. Also /health, /ready,",
                "/metrics (Prometheus). Stops gracefully on SIGINT/SIGTERM. See server/README.md."})
/**
 * The one command line of the server: {@code engram serve} (the CLI lists this command) and {@link ServerMain} (the
 * server on its own) both parse their arguments here and start it with {@link Server#serve}.
 */
public final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "The model package (a folder with engram.json). Required.")
    Path model;

    @Option(names = "--port", defaultValue = "8080", description = "TCP port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    /** Where sessions live: exactly one of --data-dir and --session-store. */
    static final class SessionsAt {
        @Option(names = "--data-dir", required = true, paramLabel = "DIR",
                description = "Where sessions live (created if missing). One server per data dir. Same as --session-store DIR.")
        Path dataDir;

        @Option(names = "--session-store", required = true, paramLabel = "DIR|URL",
                description = {"Where sessions live: a directory (as --data-dir), or Redis shared by many replicas:",
                        SessionStoreLocation.REDIS_FORM + ". See server/README.md."})
        String sessionStore;
    }

    /** Checked in {@link #call} with --model, so that one message names everything missing. */
    @ArgGroup(exclusive = true, multiplicity = "0..1")
    SessionsAt sessionsAt;

    @Option(names = "--host", defaultValue = "127.0.0.1",
            description = "Interface to bind (default: ${DEFAULT-VALUE}; 0.0.0.0 for every interface).")
    String host;

    @Option(names = "--config", paramLabel = "FILE", description = "Engram YAML config for the model (layers, device, threads).")
    Path config;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "Require 'Authorization: Bearer KEY' (repeatable; also " + ServeOptions.API_KEY_ENV
                    + ", comma-separated). Sessions are visible only to the key that created them.")
    java.util.List<String> apiKeys = new java.util.ArrayList<>();

    @Option(names = "--max-tokens", defaultValue = "1024", description = "Largest max_tokens a request may ask for (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--default-max-tokens", defaultValue = "64", description = "max_tokens when a request gives none (default: ${DEFAULT-VALUE}).")
    int defaultMaxTokens;

    @Option(names = "--queue", defaultValue = "32",
            description = "Requests waiting per loaded model before 429 with Retry-After (default: ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--timeout-s", defaultValue = "120", description = "Request timeout in seconds, queue wait included (default: ${DEFAULT-VALUE}).")
    long timeoutSeconds;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "Largest request body except appends (default: ${DEFAULT-VALUE}).")
    long maxBodyBytes;

    @Option(names = "--max-append-bytes", defaultValue = "67108864", description = "Largest append body (default: ${DEFAULT-VALUE}).")
    long maxAppendBytes;

    @Option(names = "--idle-session-s", defaultValue = "600",
            description = "A session unused this long leaves memory; it stays on disk (default: ${DEFAULT-VALUE}).")
    long idleSessionSeconds;

    @Option(names = "--session-memory-bytes", defaultValue = "1073741824",
            description = "Resident sessions' state above this evicts the least recently used to disk (default: ${DEFAULT-VALUE}).")
    long sessionMemoryBytes;

    @Option(names = "--max-sessions", defaultValue = "10000", description = "Sessions on disk at most (default: ${DEFAULT-VALUE}).")
    int maxSessions;

    @Option(names = "--session-ttl-s", defaultValue = "0",
            description = "A session unused this long is deleted with its checkpoints, unless pinned or created with its own ttl_s;"
                    + " 0: sessions live until deleted (default: ${DEFAULT-VALUE}).")
    long sessionTtlSeconds;

    @Option(names = "--max-session-ttl-s", defaultValue = "0", description = "Largest ttl_s a request may give; 0: no bound (default: ${DEFAULT-VALUE}).")
    long maxSessionTtlSeconds;

    @Option(names = "--max-sessions-per-key", defaultValue = "0", description = "Sessions one API key may hold; 0: no quota (default: ${DEFAULT-VALUE}).")
    int maxSessionsPerKey;

    @Option(names = "--max-session-bytes-per-key", defaultValue = "0",
            description = "Stored bytes (sessions and checkpoints) one API key may hold; 0: no quota (default: ${DEFAULT-VALUE}).")
    long maxSessionBytesPerKey;

    @Option(names = "--step-tokens", defaultValue = "" + StepSharing.DEFAULT_STEP_TOKENS,
            description = "Prompt and append tokens fed per batch step, all requests together (decode tokens on top): lower keeps"
                    + " the other requests' time between tokens short while a long prompt or append is read, higher reads it"
                    + " faster (1 to " + ServeOptions.MAX_STEP_TOKENS + "; default: ${DEFAULT-VALUE}).")
    int stepTokens;

    @Option(names = "--no-access-log", negatable = false, description = "Do not log one JSON line per request.")
    boolean noAccessLog;

    @Spec
    CommandSpec spec;

    /** The options as the server takes them; a bad value is reported by the option's own name. */
    ServeOptions options() {
        atLeast("--max-tokens", maxTokens, 1);
        atLeast("--default-max-tokens", defaultMaxTokens, 0);
        atLeast("--queue", queue, 1);
        atLeast("--timeout-s", timeoutSeconds, 1);
        atLeast("--max-body-bytes", maxBodyBytes, 1);
        atLeast("--max-append-bytes", maxAppendBytes, 1);
        atLeast("--idle-session-s", idleSessionSeconds, 1);
        atLeast("--session-memory-bytes", sessionMemoryBytes, 1);
        atLeast("--max-sessions", maxSessions, 1);
        atLeast("--session-ttl-s", sessionTtlSeconds, 0);
        atLeast("--max-session-ttl-s", maxSessionTtlSeconds, 0);
        atLeast("--max-sessions-per-key", maxSessionsPerKey, 0);
        atLeast("--max-session-bytes-per-key", maxSessionBytesPerKey, 0);
        if (stepTokens < 1 || stepTokens > ServeOptions.MAX_STEP_TOKENS) {
            throw new ParameterException(spec.commandLine(), "--step-tokens is " + stepTokens + "; valid: 1 to "
                    + ServeOptions.MAX_STEP_TOKENS);
        }
        try {
            return ServeOptions.defaults().withHost(host).withApiKeys(apiKeys).withApiKeysFromEnvironment(System.getenv())
                    .withConfig(config).withMaxTokens(maxTokens, Math.min(defaultMaxTokens, maxTokens))
                    .withQueueCapacity(queue).withRequestTimeout(Duration.ofSeconds(timeoutSeconds))
                    .withMaxBodyBytes(maxBodyBytes).withMaxAppendBytes(maxAppendBytes)
                    .withIdleSessionTimeout(Duration.ofSeconds(idleSessionSeconds)).withSessionMemoryBudget(sessionMemoryBytes)
                    .withMaxSessions(maxSessions).withAccessLog(!noAccessLog).withStepTokens(stepTokens)
                    .withSessionPolicy(SessionPolicy.defaults().withDefaultTtl(Duration.ofSeconds(sessionTtlSeconds))
                            .withMaxTtl(Duration.ofSeconds(maxSessionTtlSeconds)).withQuotas(maxSessionsPerKey, maxSessionBytesPerKey));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "engram serve: " + e.getMessage());
        }
    }

    /** --session-store, or --data-dir (picocli has checked that at most one is given; {@link #call}, that one is). */
    SessionStoreLocation sessions() {
        if (sessionsAt.dataDir != null) {
            return new SessionStoreLocation.Directory(sessionsAt.dataDir);
        }
        try {
            return SessionStoreLocation.parse(sessionsAt.sessionStore);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    private void atLeast(String option, long value, long min) {
        if (value < min) {
            throw new ParameterException(spec.commandLine(), option + " is " + value + "; valid: >= " + min);
        }
    }

    @Override
    public Integer call() throws InterruptedException {
        java.util.List<String> missing = new java.util.ArrayList<>();
        if (model == null) {
            missing.add("'--model=DIR'");
        }
        if (sessionsAt == null) {
            missing.add("'--data-dir=DIR' (or '--session-store=DIR|URL')");
        }
        if (!missing.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "Missing required option" + (missing.size() > 1 ? "s: " : ": ")
                    + String.join(", ", missing));
        }
        if (port < 0 || port > 65535) {
            throw new ParameterException(spec.commandLine(), "--port is " + port + "; valid: 0 (any free port) to 65535");
        }
        ServeOptions o = options();
        SessionStoreLocation sessions = sessions();
        try {
            return Server.serve(model, port, sessions, o);
        } catch (java.io.UncheckedIOException | IllegalStateException e) {
            spec.commandLine().getErr().println("engram serve: " + e.getMessage());
            return 2;
        }
    }
}
