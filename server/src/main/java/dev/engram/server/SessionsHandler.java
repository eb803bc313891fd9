package dev.engram.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.runtime.Engine;
import dev.engram.runtime.ModelSequence;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpHeader;

/**
 * {@code /v1/sessions}: create, list, get, delete, append; and {@link #onSession}, which runs any work on a session's
 * state (an append, a completion that continues from it) on its strategy's worker, under its write lease when it
 * changes the state.
 */
final class SessionsHandler {
    private final ServeOptions options;
    private final Metrics metrics;
    private final Engines engines;
    private final SessionStore store;
    private final Jobs jobs;
    private final String modelName;
    /** Set when the first request is queued for a model; ends the kernel warm-up. */
    private final AtomicBoolean modelWorkStarted;

    SessionsHandler(ServeOptions options, Metrics metrics, Engines engines, SessionStore store, Jobs jobs, String modelName,
                    AtomicBoolean modelWorkStarted) {
        this.options = options;
        this.metrics = metrics;
        this.engines = engines;
        this.store = store;
        this.jobs = jobs;
        this.modelName = modelName;
        this.modelWorkStarted = modelWorkStarted;
    }

    /** Routes {@code /v1/sessions} and {@code /v1/sessions/...}. */
    void handle(Exchange ex, String owner) throws Exception {
        String p = ex.path;
        String m = ex.request.getMethod();
        if (p.equals("/v1/sessions")) {
            ex.route = p;
            ex.method(m, "GET", "POST");
            if (m.equals("GET")) {
                List<Map<String, Object>> list = new ArrayList<>();
                store.list(owner).stream()
                        .sorted(Comparator.comparingLong((Session s) -> s.createdEpochSeconds).thenComparing(s -> s.id))
                        .forEach(s -> list.add(sessionObject(s)));
                ex.json(200, Map.of("object", "list", "data", list));
            } else {
                create(ex, owner);
            }
            return;
        }
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
    }

    /** The caller's session {@code id}; 404 naming {@code param} when there is none (or it is another key's). */
    Session session(String id, String owner, String param) {
        Session s = SessionStore.ID.matcher(id).matches() ? store.find(id) : null;
        if (s == null || s.deleted || !s.owner.equals(owner)) {
            throw ApiError.notFound(param, "no session '" + id + "'");
        }
        return s;
    }

    Map<String, Object> sessionObject(Session s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", s.id);
        m.put("object", "session");
        m.put("model", modelName);
        m.put("tokens", s.tokens);
        ModelWorker w = engines.loaded(s.strategyKey);
        m.put("strategy", w != null ? w.describe() : Map.of("overrides", s.strategy));
        m.put("footprint_bytes", s.stateBytes);
        m.put("snapshot_bytes", s.snapshotBytes);
        m.put("resident", s.resident);
        m.put("damaged", s.damage != null);
        if (s.damage != null) {
            m.put("damage", store.damageSummary(s));
        }
        m.put("created", s.createdEpochSeconds);
        m.put("last_used", s.lastUsedMillis / 1000);
        return m;
    }

    private void create(Exchange ex, String owner) throws Exception {
        Map<String, String> strategy = Requests.strategy(Requests.object(ex.body(options.maxBodyBytes()), true));
        store.checkRoom(options.maxSessions());
        jobs.ensureAccepting();
        ModelWorker w = engines.worker(strategy);
        Session s = new Session(store.newId(), owner, strategy, Engines.strategyKey(strategy), Instant.now().getEpochSecond());
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        modelWorkStarted.set(true);
        jobs.await(w.submit(() -> {
            cancel.check();
            s.lock.lock();
            try {
                if (!cancel.start()) {
                    throw new Generation.Cancelled();
                }
                store.create(s, w.engine.newSequence(), options.maxSessions());
            } finally {
                s.lock.unlock();
            }
            return null;
        }), cancel);
        ex.json(200, sessionObject(s));
    }

    /** Work on a session's state; {@code lease} is what {@link SessionStore#persist} needs to store a change. */
    interface SessionJob<T> {
        T run(ModelSequence seq, SessionStore.Lease lease);
    }

    /**
     * Runs {@code job} with the session's current state resident (restored when evicted, or when another server stored
     * a newer version), on its strategy's worker. A job that {@code writes} first takes the session's lease (waiting
     * while another server holds it), which is released when the job ends.
     */
    <T> CompletableFuture<T> onSession(Session s, Generation.Cancel cancel, boolean writes, SessionJob<T> job) {
        ModelWorker w = engines.worker(s.strategy);
        SessionStore.Lease lease = writes ? store.lease(s, cancel.remainingMillis()) : SessionStore.Lease.LOCAL;
        modelWorkStarted.set(true);
        CompletableFuture<T> f;
        try {
            f = w.submit(() -> {
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
                    store.makeLive(s, w.engine);
                    try {
                        return job.run(s.live, lease);
                    } catch (RuntimeException e) {
                        s.dropLive(); // the store holds the last acknowledged state; reload it next time
                        throw e;
                    }
                } finally {
                    s.lastUsedMillis = System.currentTimeMillis();
                    s.lock.unlock();
                    store.evict(options.idleSessionTimeout().toMillis(), options.sessionMemoryBudget());
                }
            });
        } catch (RuntimeException e) {
            lease.close();
            throw e;
        }
        // released before the answer goes out, so the client's next append finds the session free
        return f.whenComplete((v, t) -> lease.close());
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
        ModelWorker dw = engines.defaultWorker;
        if (type != null && type.toLowerCase().startsWith("text/plain")) {
            textInput = Requests.utf8Text(body, "text");
            tokens = dw.tokenizer.encode(textInput, atStart);
        } else {
            ObjectNode o = Requests.object(body, false);
            Requests.onlyKnown(o, Set.of("text", "tokens", "stream"), Set.of());
            stream = Requests.bool(o, "stream", false);
            var text = Requests.field(o, "text");
            var ids = Requests.field(o, "tokens");
            if ((text == null) == (ids == null)) {
                throw ApiError.invalid(text == null ? "text" : "tokens", "give exactly one of 'text' (a string) or 'tokens' (token ids)");
            }
            if (text != null) {
                if (!text.isTextual()) {
                    throw ApiError.invalid("text", "text must be a string; got " + text.getNodeType().name().toLowerCase(java.util.Locale.ROOT));
                }
                textInput = text.asText();
                tokens = dw.tokenizer.encode(textInput, atStart);
            } else {
                if (!ids.isArray()) {
                    throw ApiError.invalid("tokens", "tokens must be an array of token ids in [0, " + (dw.engine.vocabSize() - 1)
                            + "]; got " + ids.getNodeType().name().toLowerCase(java.util.Locale.ROOT));
                }
                tokens = Requests.tokenIds(ids, "tokens", dw.engine.vocabSize());
            }
        }
        if (tokens.length == 0) {
            throw ApiError.invalid("text", "nothing to append: the text has no tokens");
        }
        String inputField = textInput == null ? "tokens" : "text";
        engines.worker(s.strategy).engine.requireRoom(s.tokens, tokens.length, inputField); // learned positions: before any work
        jobs.ensureAccepting();
        final int[] checked = tokens;
        final String text = textInput;
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        ex.request.addFailureListener(t -> cancel.clientGone.set(true));
        CompletableFuture<long[]> done = onSession(s, cancel, true, (seq, lease) -> {
            boolean startNow = seq.position() == 0;
            int[] all = text == null || startNow == atStart ? checked : dw.tokenizer.encode(text, startNow);
            if (all.length == 0) {
                throw ApiError.invalid("text", "nothing to append: the text has no tokens");
            }
            Engine engine = engines.worker(s.strategy).engine;
            engine.requireRoom(seq.position(), all.length, inputField); // again under the lock: another append may have run
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
            store.persist(s, seq, lease);
            metrics.tokens("append", all.length);
            return new long[] {all.length, text == null ? 0 : dw.tokenizer.unknownTokens(all)};
        });
        if (!stream) {
            long[] appended = jobs.await(done, cancel);
            Map<String, Object> r = sessionObject(s);
            r.put("appended_tokens", appended[0]);
            r.put("unknown_tokens", appended[1]);
            ex.json(200, r);
            return;
        }
        // Server-sent progress events, then the session, then [DONE].
        Object first = Jobs.nextEvent(events, done, cancel);
        if (first instanceof Throwable t) {
            throw jobs.unwrap(t);
        }
        ex.startSse();
        Object e = first;
        while (true) {
            if (e instanceof long[] progress) {
                ex.sse(Map.of("object", "session.append.progress", "id", s.id, "tokens_done", progress[0],
                        "tokens_total", progress[1]), cancel);
            } else if (e == Jobs.DONE) {
                Map<String, Object> r = sessionObject(s);
                r.put("appended_tokens", done.join()[0]);
                r.put("unknown_tokens", done.join()[1]);
                ex.sse(r, cancel);
                ex.endSse(cancel);
                return;
            } else if (e instanceof Throwable t) {
                ex.failSse(jobs.unwrap(t), cancel);
                return;
            }
            e = Jobs.nextEvent(events, done, cancel);
        }
    }
}
