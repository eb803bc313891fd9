package dev.engram.server;

import java.util.Map;

/** {@code GET /health}, {@code GET /ready} and {@code GET /metrics}: open to probes and scrapers (no API key). */
final class ProbesHandler {
    private final Metrics metrics;
    private final Engines engines;
    private final SessionStore store;
    private final String modelName;

    ProbesHandler(Metrics metrics, Engines engines, SessionStore store, String modelName) {
        this.metrics = metrics;
        this.engines = engines;
        this.store = store;
        this.modelName = modelName;
    }

    /** Answers the request when its path is a probe's; false otherwise. */
    boolean handle(Exchange ex) throws Exception {
        String m = ex.request.getMethod();
        switch (ex.path) {
            case "/health" -> {
                ex.route = ex.path;
                ex.method(m, "GET");
                ex.json(200, Map.of("status", "ok"));
            }
            case "/ready" -> {
                ex.route = ex.path;
                ex.method(m, "GET");
                if (engines.accepting()) {
                    ex.json(200, Map.of("status", "ready", "model", modelName));
                } else {
                    ex.json(503, Map.of("status", "shutting_down"));
                }
            }
            case "/metrics" -> {
                ex.route = ex.path;
                ex.method(m, "GET");
                ex.text(200, "text/plain; version=0.0.4; charset=utf-8", render());
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    String render() {
        return metrics.render(g -> {
            for (ModelWorker w : engines.all()) {
                String strategy = "{strategy=\"" + w.key.replace("\\", "\\\\").replace("\"", "\\\"") + "\"}";
                g.gauge("engram_queue_depth" + strategy, w.depth());
                g.gauge("engram_batch_size" + strategy, w.batchSize());
            }
            // Every session is stored (its file or Redis record is written before any answer); some are also resident in memory.
            long stored;
            try {
                stored = store.count();
            } catch (ApiError unreachable) {
                stored = -1; // Redis did not answer: the scrape still succeeds, engram_session_store_up says why
            }
            g.gauge("engram_sessions{state=\"on_disk\"}", stored < 0 ? Double.NaN : stored);
            double storedBytes;
            try {
                storedBytes = stored < 0 ? Double.NaN : store.storedBytes();
            } catch (ApiError unreachable) {
                storedBytes = Double.NaN;
            }
            g.gauge("engram_session_stored_bytes", storedBytes);
            g.gauge("engram_sessions{state=\"resident\"}", store.residentCount());
            g.gauge("engram_sessions{state=\"damaged\"}", store.damagedCount());
            g.gauge("engram_session_files_skipped", store.skippedFiles());
            g.gauge("engram_session_memory_bytes", store.residentBytes());
            g.gauge("engram_session_store_up", store.reachable() ? 1 : 0);
            Runtime rt = Runtime.getRuntime();
            g.gauge("engram_jvm_memory_bytes{area=\"heap_used\"}", rt.totalMemory() - rt.freeMemory());
            g.gauge("engram_jvm_memory_bytes{area=\"heap_max\"}", rt.maxMemory());
            g.gauge("engram_ready", engines.accepting() ? 1 : 0);
        });
    }
}
