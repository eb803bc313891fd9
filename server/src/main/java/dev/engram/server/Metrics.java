package dev.engram.server;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;

/** Counters and histograms in the Prometheus text exposition format (version 0.0.4). Label values are bounded (route templates). */
final class Metrics {
    static final double[] LATENCY_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

    private final Map<String, AtomicLong> requests = new ConcurrentHashMap<>();
    private final Map<String, Histogram> latency = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> tokens = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> rejections = new ConcurrentHashMap<>();
    final AtomicLong inFlight = new AtomicLong();
    /** Session lifecycle events by kind ({@link #SESSION_EVENTS}); a store may register its own counter (expired). */
    final Map<String, AtomicLong> sessionEvents = new ConcurrentHashMap<>();
    static final java.util.List<String> SESSION_EVENTS = java.util.List.of("created", "forked", "imported", "exported", "checkpointed",
            "rolled_back", "expired");

    private static final java.util.Set<String> METHODS = java.util.Set.of("GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS");

    void request(String method, String route, int status, double seconds) {
        String m = METHODS.contains(method) ? method : "other"; // a client may send any token as the method
        requests.computeIfAbsent("method=\"" + m + "\",route=\"" + route + "\",status=\"" + status + "\"", k -> new AtomicLong())
                .incrementAndGet();
        latency.computeIfAbsent("route=\"" + route + "\"", k -> new Histogram()).observe(seconds);
    }

    void tokens(String kind, long n) {
        tokens.computeIfAbsent(kind, k -> new AtomicLong()).addAndGet(n);
    }

    void sessionEvent(String kind) {
        sessionEvents.computeIfAbsent(kind, k -> new AtomicLong()).incrementAndGet();
    }

    void rejected(String reason) {
        rejections.computeIfAbsent(reason, k -> new AtomicLong()).incrementAndGet();
    }

    /** {@code gauges} writes extra gauge families (queue depth, sessions, memory) as (name+labels, value). */
    String render(java.util.function.Consumer<Gauges> gauges) {
        StringBuilder sb = new StringBuilder();
        family(sb, "engram_http_requests_total", "counter", "HTTP requests answered, by method, route template and status");
        new TreeMap<>(requests).forEach((k, v) -> sb.append("engram_http_requests_total{").append(k).append("} ").append(v.get()).append('\n'));
        family(sb, "engram_http_request_duration_seconds", "histogram", "HTTP request latency (until the last byte is written)");
        new TreeMap<>(latency).forEach((k, h) -> h.render(sb, "engram_http_request_duration_seconds", k));
        family(sb, "engram_tokens_total", "counter", "tokens processed: prompt, completion, append (rate() gives tokens/s)");
        for (String kind : new String[] {"prompt", "completion", "append"}) {
            sb.append("engram_tokens_total{kind=\"").append(kind).append("\"} ")
                    .append(tokens.getOrDefault(kind, new AtomicLong()).get()).append('\n');
        }
        family(sb, "engram_rejected_requests_total", "counter", "requests refused before running: queue_full, timeout, shutting_down");
        new TreeMap<>(rejections).forEach((k, v) -> sb.append("engram_rejected_requests_total{reason=\"").append(k).append("\"} ")
                .append(v.get()).append('\n'));
        family(sb, "engram_session_events_total", "counter", "session lifecycle events: created, forked, imported, exported,"
                + " checkpointed, rolled_back, expired (deleted when their time to live ran out)");
        for (String kind : SESSION_EVENTS) {
            sb.append("engram_session_events_total{event=\"").append(kind).append("\"} ")
                    .append(sessionEvents.getOrDefault(kind, new AtomicLong()).get()).append('\n');
        }
        family(sb, "engram_http_requests_in_flight", "gauge", "HTTP requests being handled");
        sb.append("engram_http_requests_in_flight ").append(inFlight.get()).append('\n');
        Map<String, StringBuilder> byFamily = new TreeMap<>();
        gauges.accept((nameAndLabels, value) -> {
            int brace = nameAndLabels.indexOf('{');
            String name = brace < 0 ? nameAndLabels : nameAndLabels.substring(0, brace);
            if (!GAUGE_HELP.containsKey(name)) {
                throw new IllegalStateException("gauge " + name + " has no HELP text in Metrics.GAUGE_HELP");
            }
            byFamily.computeIfAbsent(name, n -> new StringBuilder()).append(nameAndLabels).append(' ').append(format(value)).append('\n');
        });
        byFamily.forEach((name, lines) -> {
            family(sb, name, "gauge", GAUGE_HELP.get(name));
            sb.append(lines);
        });
        return sb.toString();
    }

    /** What each gauge family reports; a gauge without an entry here fails the scrape in tests (and never ships). */
    static final Map<String, String> GAUGE_HELP = Map.of(
            "engram_queue_depth", "requests waiting or running, per loaded strategy",
            "engram_batch_size", "completions and appends being stepped together (continuous batching), per loaded strategy",
            "engram_sessions", "sessions by state: on_disk (every stored session: its file or Redis record is written before any answer; NaN while Redis does not answer), resident"
                    + " (also held in memory), damaged (its file fails its checksum or cannot be restored)",
            "engram_session_files_skipped", "files in the sessions folder not indexed at start: unreadable, or another model's (the log names them)",
            "engram_session_memory_bytes", "state bytes of the resident sessions (the budget --session-memory-bytes applies to)",
            "engram_session_stored_bytes", "bytes of every stored session record and checkpoint (NaN while Redis does not answer)",
            "engram_jvm_memory_bytes", "JVM heap: heap_used and heap_max",
            "engram_session_store_up", "1 while the session store answered its last request (always for a directory), 0 while Redis does not",
            "engram_ready", "1 while accepting work, 0 while shutting down");

    /** One gauge value; {@code nameAndLabels} as "name{label=\"v\"}". */
    interface Gauges {
        void gauge(String nameAndLabels, double value);
    }

    private static void family(StringBuilder sb, String name, String type, String help) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    static String format(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    static final class Histogram {
        private final AtomicLongArray counts = new AtomicLongArray(LATENCY_BUCKETS.length);
        private final AtomicLong count = new AtomicLong();
        private final DoubleAdder sum = new DoubleAdder();

        void observe(double seconds) {
            for (int i = 0; i < LATENCY_BUCKETS.length; i++) {
                if (seconds <= LATENCY_BUCKETS[i]) {
                    counts.incrementAndGet(i);
                }
            }
            count.incrementAndGet();
            sum.add(seconds);
        }

        void render(StringBuilder sb, String name, String labels) {
            for (int i = 0; i < LATENCY_BUCKETS.length; i++) {
                sb.append(name).append("_bucket{").append(labels).append(",le=\"").append(LATENCY_BUCKETS[i]).append("\"} ")
                        .append(counts.get(i)).append('\n');
            }
            sb.append(name).append("_bucket{").append(labels).append(",le=\"+Inf\"} ").append(count.get()).append('\n');
            sb.append(name).append("_sum{").append(labels).append("} ").append(sum.sum()).append('\n');
            sb.append(name).append("_count{").append(labels).append("} ").append(count.get()).append('\n');
        }
    }
}
