package dev.engram.server;

import dev.engram.runtime.StepSharing;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Settings of {@code engram serve} beside the model directory, port and data directory. Immutable;
 * start from {@link #defaults()} and change with the {@code with...} methods.
 *
 * @param host                 interface to bind (default 127.0.0.1; "0.0.0.0" for all)
 * @param apiKeys              accepted API keys; empty = no authentication. Sessions belong to the key that created them
 * @param config               optional Engram YAML config for the model (layers, device, session settings), or null
 * @param maxBodyBytes         largest request body, except appends (default 1 MiB)
 * @param maxAppendBytes       largest body of {@code POST /v1/sessions/{id}/append} (default 64 MiB)
 * @param maxTokens            largest {@code max_tokens} a request may ask for (default 1024)
 * @param defaultMaxTokens     {@code max_tokens} when a request gives none (default 64)
 * @param queueCapacity        requests waiting per loaded model (strategy) before 429 (default 32); the up to
 *                             {@link #MAX_BATCH} completions being stepped together are running, not waiting
 * @param requestTimeout       a request not finished by then (queue wait included) ends with 503/timeout (default 120 s)
 * @param idleSessionTimeout   a session unused this long leaves memory (it stays on disk) (default 10 min)
 * @param sessionMemoryBudget  resident sessions' state bytes above this evict the least recently used to disk (default 1 GiB)
 * @param maxSessions          sessions on disk at most (default 10000)
 * @param maxStrategies        distinct per-session strategies (each loads another engine) at most, default included (default 4)
 * @param shutdownGrace        graceful shutdown waits this long for queued and running work (default 30 s)
 * @param accessLog            one JSON line per request on the System.Logger "dev.engram.server.access" (default true)
 * @param sessionPolicy        sessions' time to live and per-API-key quotas, and the clock they are measured by
 *                             ({@link SessionPolicy#defaults()}: no expiry, no quotas)
 * @param stepTokens           prompt and append tokens fed per batch step, all requests together, decode tokens on top
 *                             (default 256, at most {@link #MAX_STEP_TOKENS}): lower keeps the decoding requests'
 *                             time between tokens short while a long prompt or append is read; higher reads it faster
 */
public record ServeOptions(String host, List<String> apiKeys, Path config, long maxBodyBytes, long maxAppendBytes,
                           int maxTokens, int defaultMaxTokens, int queueCapacity, Duration requestTimeout,
                           Duration idleSessionTimeout, long sessionMemoryBudget, int maxSessions, int maxStrategies,
                           Duration shutdownGrace, boolean accessLog, SessionPolicy sessionPolicy, int stepTokens) {
    /** Completions without a session stepped together at most, per loaded model (continuous batching). */
    public static final int MAX_BATCH = 16;

    /** The most prompt and append tokens one batch step may feed. */
    public static final int MAX_STEP_TOKENS = StepSharing.MAX_STEP_TOKENS;

    /** Environment variable read by {@link #withApiKeysFromEnvironment(Map)}: one key, or several separated by commas. */
    public static final String API_KEY_ENV = "ENGRAM_API_KEY";

    public ServeOptions {
        Objects.requireNonNull(host, "host");
        apiKeys = List.copyOf(apiKeys);
        for (String k : apiKeys) {
            if (k.isBlank()) {
                throw new IllegalArgumentException("apiKeys: a key is blank; valid: non-empty strings");
            }
        }
        positive("maxBodyBytes", maxBodyBytes);
        positive("maxAppendBytes", maxAppendBytes);
        positive("maxTokens", maxTokens);
        if (defaultMaxTokens < 0 || defaultMaxTokens > maxTokens) {
            throw new IllegalArgumentException("defaultMaxTokens is " + defaultMaxTokens + "; valid: 0 to maxTokens (" + maxTokens + ")");
        }
        positive("queueCapacity", queueCapacity);
        positive("requestTimeout", requestTimeout.toMillis());
        positive("idleSessionTimeout", idleSessionTimeout.toMillis());
        positive("sessionMemoryBudget", sessionMemoryBudget);
        positive("maxSessions", maxSessions);
        positive("maxStrategies", maxStrategies);
        Objects.requireNonNull(sessionPolicy, "sessionPolicy");
        if (stepTokens < 1 || stepTokens > MAX_STEP_TOKENS) {
            throw new IllegalArgumentException("stepTokens is " + stepTokens + "; valid: 1 to " + MAX_STEP_TOKENS);
        }
        if (shutdownGrace.isNegative()) {
            throw new IllegalArgumentException("shutdownGrace is " + shutdownGrace + "; valid: >= 0");
        }
    }

    private static void positive(String name, long v) {
        if (v < 1) {
            throw new IllegalArgumentException(name + " is " + v + "; valid: >= 1");
        }
    }

    public static ServeOptions defaults() {
        return new ServeOptions("127.0.0.1", List.of(), null, 1 << 20, 64L << 20, 1024, 64, 32, Duration.ofSeconds(120),
                Duration.ofMinutes(10), 1L << 30, 10_000, 4, Duration.ofSeconds(30), true, SessionPolicy.defaults(),
                StepSharing.DEFAULT_STEP_TOKENS);
    }

    public ServeOptions withHost(String v) {
        return new ServeOptions(v, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    /** The accepted keys; a null or blank key means none (no authentication). */
    public ServeOptions withApiKey(String key) {
        return withApiKeys(key == null || key.isBlank() ? List.of() : splitKeys(key));
    }

    public ServeOptions withApiKeys(List<String> v) {
        return new ServeOptions(host, v, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    /** Keys from {@value #API_KEY_ENV} in {@code env} when no key is set yet (the --api-key flag wins). */
    public ServeOptions withApiKeysFromEnvironment(Map<String, String> env) {
        String v = env.get(API_KEY_ENV);
        return apiKeys.isEmpty() && v != null && !v.isBlank() ? withApiKeys(splitKeys(v)) : this;
    }

    private static List<String> splitKeys(String v) {
        List<String> keys = new ArrayList<>();
        Arrays.stream(v.split(",")).map(String::strip).filter(s -> !s.isEmpty()).forEach(keys::add);
        return keys;
    }

    public ServeOptions withConfig(Path v) {
        return new ServeOptions(host, apiKeys, v, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withMaxBodyBytes(long v) {
        return new ServeOptions(host, apiKeys, config, v, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withMaxAppendBytes(long v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, v, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withMaxTokens(int max, int byDefault) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, max, byDefault, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withQueueCapacity(int v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, v,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withRequestTimeout(Duration v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                v, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withIdleSessionTimeout(Duration v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, v, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withSessionMemoryBudget(long v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, v, maxSessions, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withMaxSessions(int v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, v, maxStrategies, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withMaxStrategies(int v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, v, shutdownGrace, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withShutdownGrace(Duration v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, v, accessLog, sessionPolicy, stepTokens);
    }

    public ServeOptions withAccessLog(boolean v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, v, sessionPolicy, stepTokens);
    }

    public ServeOptions withSessionPolicy(SessionPolicy v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog, v, stepTokens);
    }

    public ServeOptions withStepTokens(int v) {
        return new ServeOptions(host, apiKeys, config, maxBodyBytes, maxAppendBytes, maxTokens, defaultMaxTokens, queueCapacity,
                requestTimeout, idleSessionTimeout, sessionMemoryBudget, maxSessions, maxStrategies, shutdownGrace, accessLog,
                sessionPolicy, v);
    }

    @Override
    public String toString() {
        // never print the keys
        return "ServeOptions[host=" + host + ", apiKeys=" + apiKeys.size() + " key(s), config=" + config
                + ", maxBodyBytes=" + maxBodyBytes + ", maxAppendBytes=" + maxAppendBytes + ", maxTokens=" + maxTokens
                + ", defaultMaxTokens=" + defaultMaxTokens + ", queueCapacity=" + queueCapacity + ", requestTimeout="
                + requestTimeout + ", idleSessionTimeout=" + idleSessionTimeout + ", sessionMemoryBudget=" + sessionMemoryBudget
                + ", maxSessions=" + maxSessions + ", maxStrategies=" + maxStrategies + ", shutdownGrace=" + shutdownGrace + ", sessionPolicy=" + sessionPolicy + ", stepTokens=" + stepTokens + "]";
    }
}
