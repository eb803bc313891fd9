package dev.engram.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.runtime.Engine;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.Generator;
import dev.engram.runtime.ModelSequence;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Fields;

/**
 * {@code /v1/sessions}: create, list, get, delete, append; and {@link #onSession}, which runs any work on a session's
 * state (an append, a completion that continues from it) on its strategy's worker, under its write lease when it
 * changes the state.
 */
final class SessionsHandler {
    private static final System.Logger LOG = System.getLogger(SessionsHandler.class.getName());
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
        store.policy(options.sessionPolicy());
        metrics.sessionEvents.put("expired", store.expiredCount);
    }

    /** Routes {@code /v1/sessions} and {@code /v1/sessions/...}. */
    void handle(Exchange ex, String owner) throws Exception {
        String p = ex.path;
        String m = ex.request.getMethod();
        if (p.equals("/v1/sessions")) {
            ex.route = p;
            ex.method(m, "GET", "POST");
            if (m.equals("GET")) {
                list(ex, owner);
            } else {
                create(ex, owner);
            }
            return;
        }
        if (p.equals("/v1/sessions/import")) {
            ex.route = p;
            ex.method(m, "POST");
            importSession(ex, owner);
            return;
        }
        String[] parts = p.substring("/v1/sessions/".length()).split("/", -1);
        String id = parts[0];
        String action = parts.length > 1 ? parts[1] : null;
        if (parts.length == 1) {
            ex.route = "/v1/sessions/{id}";
            ex.method(m, "GET", "DELETE");
        } else if (parts.length == 2 && Set.of("append", "fork", "rollback").contains(action)) {
            ex.route = "/v1/sessions/{id}/" + action;
            ex.method(m, "POST");
        } else if (parts.length == 2 && action.equals("export")) {
            ex.route = "/v1/sessions/{id}/export";
            ex.method(m, "GET");
        } else if (parts.length == 2 && action.equals("checkpoints")) {
            ex.route = "/v1/sessions/{id}/checkpoints";
            ex.method(m, "GET", "POST");
        } else if (parts.length == 3 && action.equals("checkpoints")) {
            ex.route = "/v1/sessions/{id}/checkpoints/{name}";
            ex.method(m, "DELETE");
        } else {
            ex.route = "other";
            throw ApiError.notFound(null, "no route " + m + " " + p + "; session routes: /v1/sessions/{id}, .../append, .../fork,"
                    + " .../export, .../checkpoints, .../checkpoints/{name}, .../rollback, and /v1/sessions/import");
        }
        Session s = session(id, owner, "id");
        if (action == null) {
            if (m.equals("GET")) {
                ex.json(200, sessionObject(s));
            } else {
                store.delete(s);
                ex.json(200, Map.of("id", s.id, "object", "session.deleted", "deleted", true));
            }
            return;
        }
        switch (action) {
            case "append" -> append(ex, s);
            case "fork" -> fork(ex, s, owner);
            case "export" -> export(ex, s);
            case "rollback" -> rollback(ex, s);
            default -> {
                if (parts.length == 3) {
                    deleteCheckpoint(ex, s, parts[2]);
                } else if (m.equals("GET")) {
                    listCheckpoints(ex, s);
                } else {
                    checkpoint(ex, s, owner);
                }
            }
        }
    }

    /**
     * The caller's session {@code id}; 404 naming {@code param} when there is none (or it is another key's, or its time
     * to live ran out: then it is deleted now). Finding it is a use: its time to live starts again.
     */
    Session session(String id, String owner, String param) {
        Session s = SessionStore.ID.matcher(id).matches() ? store.find(id) : null;
        if (s == null || s.deleted || !s.owner.equals(owner)) {
            throw ApiError.notFound(param, "no session '" + id + "'");
        }
        if (store.expired(s, s.lastUsedMillis) && !s.lock.isLocked()) { // a job running on it is a use
            store.delete(s);
            store.expiredCount.incrementAndGet();
            throw ApiError.notFound(param, "no session '" + id + "': it expired, unused for more than its time to live ("
                    + store.ttlMillis(s) / 1000 + " s), and was deleted");
        }
        store.touch(s);
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
        m.put("checkpoint_bytes", s.checkpointBytes);
        m.put("resident", s.resident);
        m.put("damaged", s.damage != null);
        if (s.damage != null) {
            m.put("damage", store.damageSummary(s));
        }
        m.put("created", s.createdEpochSeconds);
        m.put("last_used", s.lastUsedMillis / 1000);
        long ttl = store.ttlMillis(s);
        m.put("pinned", s.pinned);
        m.put("ttl_s", ttl == 0 ? null : ttl / 1000);
        m.put("expires_at", ttl == 0 ? null : (s.lastUsedMillis + ttl) / 1000);
        return m;
    }

    /** {@code GET /v1/sessions?limit=N&after=ID}: the caller's sessions, oldest first, a page at a time. */
    private void list(Exchange ex, String owner) throws Exception {
        Fields query = Request.extractQueryParameters(ex.request);
        for (Fields.Field f : query) {
            if (!Set.of("limit", "after").contains(f.getName())) {
                throw ApiError.invalid(f.getName(), "unknown query parameter '" + f.getName() + "'; valid: limit, after");
            }
        }
        int limit = queryInt(query, "limit", 100, 1, 1000);
        String after = query.getValue("after");
        store.expireDue();
        List<Session> all = store.list(owner).stream().filter(s -> !s.deleted)
                .sorted(Comparator.comparingLong((Session s) -> s.createdEpochSeconds).thenComparing(s -> s.id)).toList();
        int from = 0;
        if (after != null) {
            int at = -1;
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).id.equals(after)) {
                    at = i;
                }
            }
            if (at < 0) {
                throw ApiError.invalid("after", "after is '" + after + "', which is none of your sessions; valid: the last_id of the"
                        + " previous page");
            }
            from = at + 1;
        }
        List<Map<String, Object>> page = new ArrayList<>();
        for (int i = from; i < Math.min(all.size(), from + limit); i++) {
            page.add(sessionObject(all.get(i)));
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("object", "list");
        r.put("data", page);
        r.put("has_more", from + limit < all.size());
        r.put("first_id", page.isEmpty() ? null : page.get(0).get("id"));
        r.put("last_id", page.isEmpty() ? null : page.get(page.size() - 1).get("id"));
        ex.json(200, r);
    }

    private static int queryInt(Fields query, String name, int dflt, int min, int max) {
        String v = query.getValue(name);
        if (v == null) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // answered below
        }
        throw ApiError.invalid(name, name + " is '" + v + "'; valid: an integer in [" + min + ", " + max + "]");
    }

    /** A session's lifecycle settings as a request gives them ({@code ttl_s}, {@code pinned}), or null where it gives none. */
    private record Lifecycle(Long ttlSeconds, Boolean pinned) {
        void applyTo(Session s, Session from) {
            s.ttlSeconds = ttlSeconds != null ? ttlSeconds : pinned != null && pinned ? 0 : from == null ? 0 : from.ttlSeconds;
            s.pinned = pinned != null ? pinned : ttlSeconds == null && from != null && from.pinned;
        }
    }

    /** Reads and removes {@code ttl_s} and {@code pinned} from a request body. */
    private Lifecycle lifecycle(ObjectNode o) {
        var ttl = o.remove("ttl_s");
        var pinned = o.remove("pinned");
        return lifecycle(ttl == null ? null : ttl.isIntegralNumber() && ttl.canConvertToLong() ? (Object) ttl.asLong() : ttl.toString(),
                pinned == null ? null : pinned.isBoolean() ? (Object) pinned.asBoolean() : pinned.toString());
    }

    private Lifecycle lifecycle(Object ttl, Object pinned) {
        long maxTtl = options.sessionPolicy().maxTtl().toSeconds();
        long bound = maxTtl > 0 ? maxTtl : Integer.MAX_VALUE;
        if (ttl != null && !(ttl instanceof Long l && l >= 1 && l <= bound)) {
            throw ApiError.invalid("ttl_s", "ttl_s is " + ttl + "; valid: an integer number of seconds in [1, " + bound + "]"
                    + (maxTtl > 0 ? " (maxTtl)" : ""));
        }
        if (pinned != null && !(pinned instanceof Boolean)) {
            throw ApiError.invalid("pinned", "pinned is " + pinned + "; valid: true or false");
        }
        if (ttl != null && Boolean.TRUE.equals(pinned)) {
            throw ApiError.invalid("pinned", "a pinned session never expires: give ttl_s or pinned: true, not both");
        }
        return new Lifecycle((Long) ttl, (Boolean) pinned);
    }

    /** An imported session's own ttl_s / pinned, clamped to --max-session-ttl-s (the upload is not trusted). */
    private Lifecycle exportedLifecycle(SessionRecord.Metadata meta) {
        long maxTtl = options.sessionPolicy().maxTtl().toSeconds();
        long bound = maxTtl > 0 ? maxTtl : Integer.MAX_VALUE;
        Long ttl = meta.ttlSeconds() > 0 ? Math.min(meta.ttlSeconds(), bound) : null;
        return new Lifecycle(ttl, meta.pinned() && ttl == null ? Boolean.TRUE : null);
    }

    private void create(Exchange ex, String owner) throws Exception {
        ObjectNode body = Requests.object(ex.body(options.maxBodyBytes()), true);
        Lifecycle lifecycle = lifecycle(body);
        Map<String, String> strategy = Requests.strategy(body);
        store.checkRoom(options.maxSessions());
        store.checkQuota(owner, 1, 0);
        jobs.ensureAccepting();
        ModelWorker w = engines.worker(strategy);
        Session s = newSession(owner, strategy, lifecycle, null);
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
        metrics.sessionEvent("created");
        ex.json(200, sessionObject(s));
    }

    private Session newSession(String owner, Map<String, String> strategy, Lifecycle lifecycle, Session from) {
        Session s = new Session(store.newId(), owner, strategy, Engines.strategyKey(strategy), Instant.now().getEpochSecond(),
                store.nowMillis());
        lifecycle.applyTo(s, from);
        return s;
    }

    /**
     * {@code POST /v1/sessions/{id}/fork}: a new session with the source's state, copied in memory
     * ({@link ModelSequence#fork()}: the providers' arrays, no serialisation) on the source's worker, then stored. The
     * two diverge from then on; the fork starts without checkpoints and, unless the body says otherwise, with the
     * source's ttl_s and pinned.
     */
    private void fork(Exchange ex, Session source, String owner) throws Exception {
        ObjectNode body = Requests.object(ex.body(options.maxBodyBytes()), true);
        Lifecycle lifecycle = lifecycle(body);
        Requests.onlyKnown(body, Set.of(), Set.of());
        store.checkRoom(options.maxSessions());
        store.checkQuota(owner, 1, source.snapshotBytes);
        jobs.ensureAccepting();
        Session fork = newSession(owner, source.strategy, lifecycle, source);
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        jobs.await(onSession(source, cancel, false, (seq, lease) -> {
            ModelSequence copy = seq.fork();
            fork.lock.lock();
            try {
                store.create(fork, copy, options.maxSessions());
            } finally {
                fork.lock.unlock();
            }
            return null;
        }), cancel);
        metrics.sessionEvent("forked");
        Map<String, Object> r = sessionObject(fork);
        r.put("forked_from", source.id);
        ex.json(200, r);
    }

    /**
     * {@code GET /v1/sessions/{id}/export}: the session's stored record ({@link SessionRecord}: one state stream with the
     * model, every layer's strategy, the format versions and one checksum), which {@code POST /v1/sessions/import}
     * takes on any server of the same model.
     */
    private void export(Exchange ex, Session s) {
        byte[] record = store.record(s);
        metrics.sessionEvent("exported");
        ex.status = 200;
        ex.response.setStatus(200);
        ex.response.getHeaders().put(HttpHeader.CONTENT_TYPE, EXPORT_TYPE);
        ex.response.getHeaders().put("Content-Disposition", "attachment; filename=\"" + s.id + ".session\"");
        ex.response.getHeaders().put("Engram-State-Format", Integer.toString(dev.engram.api.StateStream.FORMAT_VERSION));
        ex.response.getHeaders().put("Engram-Session-Layout", Integer.toString(SessionRecord.LAYOUT));
        ex.finished = true;
        ex.response.write(true, java.nio.ByteBuffer.wrap(record), ex.callback);
    }

    /** The media type of an exported session. */
    static final String EXPORT_TYPE = "application/vnd.engram.session";

    /**
     * {@code POST /v1/sessions/import} (the body an export): a new session of the caller's, with a new id, after the whole
     * snapshot has been read and checked (model, strategy of every layer, format versions, checksum). Anything that
     * does not fit is a 400 naming it, and nothing is stored.
     */
    private void importSession(Exchange ex, String owner) throws Exception {
        Fields query = Request.extractQueryParameters(ex.request);
        for (Fields.Field f : query) {
            if (!Set.of("ttl_s", "pinned").contains(f.getName())) {
                throw ApiError.invalid(f.getName(), "unknown query parameter '" + f.getName() + "'; valid: ttl_s, pinned");
            }
        }
        String ttlText = query.getValue("ttl_s");
        String pinnedText = query.getValue("pinned");
        Object ttl = ttlText == null ? null : ttlText.matches("[0-9]{1,18}") ? (Object) Long.parseLong(ttlText) : ttlText;
        Object pinned = pinnedText == null ? null : pinnedText.equals("true") || pinnedText.equals("false")
                ? (Object) Boolean.parseBoolean(pinnedText) : pinnedText;
        Lifecycle given = lifecycle(ttl, pinned);
        byte[] bytes = ex.body(options.maxAppendBytes());
        SessionRecord.Metadata meta;
        try {
            meta = SessionRecord.uploaded(bytes);
        } catch (dev.engram.api.SnapshotException e) {
            throw snapshotRefused(e);
        }
        if (!modelName.equals(meta.model())) {
            throw new ApiError(400, "invalid_request_error", "snapshot", "snapshot_mismatch", "the snapshot belongs to model '"
                    + meta.model() + "'; this server runs model '" + modelName + "': import it into a server of that model", null);
        }
        store.checkRoom(options.maxSessions());
        store.checkQuota(owner, 1, bytes.length);
        jobs.ensureAccepting();
        ModelWorker w;
        try {
            w = engines.worker(meta.strategy());
        } catch (ApiError e) {
            if (e.status != 400) {
                throw e; // the server's own state (shutting down, busy), not the snapshot's
            }
            throw new ApiError(400, "invalid_request_error", "snapshot", "snapshot_mismatch", "the snapshot's strategy "
                    + meta.strategy() + " cannot run here: " + e.getMessage(), null);
        } catch (RuntimeException e) {
            throw new ApiError(400, "invalid_request_error", "snapshot", "snapshot_mismatch", "the snapshot's strategy "
                    + meta.strategy() + " cannot run here: " + e.getMessage(), null);
        }
        // the request's ttl_s / pinned, else the exported session's, held to this server's bounds like a request's
        Lifecycle lifecycle = given.ttlSeconds() != null || given.pinned() != null ? given
                : exportedLifecycle(meta);
        Session s = newSession(owner, meta.strategy(), lifecycle, null);
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        modelWorkStarted.set(true);
        jobs.await(w.submit(() -> {
            cancel.check();
            ModelSequence seq = w.engine.newSequence();
            try {
                SessionRecord.load(bytes, seq);
            } catch (dev.engram.api.SnapshotException e) {
                throw snapshotRefused(e);
            }
            s.lock.lock();
            try {
                if (!cancel.start()) {
                    throw new Generation.Cancelled();
                }
                store.create(s, seq, options.maxSessions());
            } finally {
                s.lock.unlock();
            }
            return null;
        }), cancel);
        metrics.sessionEvent("imported");
        Map<String, Object> r = sessionObject(s);
        r.put("imported_from", meta.id());
        ex.json(200, r);
    }

    /** 400 naming what in an uploaded snapshot does not fit (another model, strategy, version; truncated; damaged). */
    private static ApiError snapshotRefused(dev.engram.api.SnapshotException e) {
        String msg = e.getMessage();
        boolean damaged = msg.contains("truncated") || msg.contains("damaged") || msg.contains("checksum");
        return new ApiError(400, "invalid_request_error", "snapshot", damaged ? "snapshot_damaged" : "snapshot_mismatch",
                "the snapshot cannot be imported: " + msg + "; nothing was stored", null);
    }

    /** {@code POST /v1/sessions/{id}/checkpoints} {"name": "..."}: the session's current state, stored under that name. */
    private void checkpoint(Exchange ex, Session s, String owner) throws Exception {
        ObjectNode body = Requests.object(ex.body(options.maxBodyBytes()), false);
        Requests.onlyKnown(body, Set.of("name"), Set.of());
        String name = checkpointName(Requests.field(body, "name"), "name");
        if (name.equals(SessionStore.PREVIOUS)) {
            throw ApiError.invalid("name", "'" + SessionStore.PREVIOUS + "' is the checkpoint the server keeps itself (the state"
                    + " before the last change); choose another name");
        }
        store.checkQuota(owner, 0, s.snapshotBytes);
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        Map<String, Object> r = jobs.await(onSession(s, cancel, false, (seq, lease) -> {
            long bytes = store.saveCheckpoint(s, name, seq);
            if (!store.shared()) {
                s.memoryCheckpoints.put(name, seq.checkpoint());
            }
            return checkpointObject(new SessionStore.CheckpointInfo(name, seq.position(), store.nowMillis() / 1000, bytes));
        }), cancel);
        metrics.sessionEvent("checkpointed");
        ex.json(200, r);
    }

    private static String checkpointName(com.fasterxml.jackson.databind.JsonNode n, String param) {
        if (n == null || !n.isTextual() || !SessionStore.CHECKPOINT_NAME.matcher(n.asText()).matches()) {
            throw ApiError.invalid(param, param + " is " + n + "; valid: 1 to 64 letters, digits, '_' or '-'");
        }
        return n.asText();
    }

    private static Map<String, Object> checkpointObject(SessionStore.CheckpointInfo c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", c.name());
        m.put("object", "session.checkpoint");
        m.put("tokens", c.tokens());
        m.put("created", c.createdEpochSeconds());
        m.put("bytes", c.bytes());
        return m;
    }

    private void listCheckpoints(Exchange ex, Session s) throws Exception {
        List<Map<String, Object>> data = new ArrayList<>();
        store.checkpoints(s).stream().sorted(Comparator.comparing(SessionStore.CheckpointInfo::name))
                .forEach(c -> data.add(checkpointObject(c)));
        ex.json(200, Map.of("object", "list", "data", data));
    }

    private void deleteCheckpoint(Exchange ex, Session s, String name) throws Exception {
        if (!SessionStore.CHECKPOINT_NAME.matcher(name).matches() || !store.deleteCheckpoint(s, name)) {
            throw ApiError.notFound("name", "session '" + s.id + "' has no checkpoint '" + name + "'");
        }
        s.memoryCheckpoints.remove(name);
        ex.json(200, Map.of("name", name, "object", "session.checkpoint.deleted", "deleted", true));
    }

    /**
     * {@code POST /v1/sessions/{id}/rollback} {"checkpoint": NAME}: the session's state becomes the checkpoint's, bit for
     * bit. Without a name, {@value SessionStore#PREVIOUS}: the state before the session's last change (an append, a
     * session-appending completion, a rollback), so one rollback undoes the last turn and a second undoes the
     * rollback. A change like any other: it is stored before the answer, under the session's write lease.
     */
    private void rollback(Exchange ex, Session s) throws Exception {
        ObjectNode body = Requests.object(ex.body(options.maxBodyBytes()), true);
        Requests.onlyKnown(body, Set.of("checkpoint"), Set.of());
        var given = Requests.field(body, "checkpoint");
        String name = given == null ? SessionStore.PREVIOUS : checkpointName(given, "checkpoint");
        jobs.ensureAccepting();
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        jobs.await(onSession(s, cancel, true, (seq, lease) -> {
            ModelSequence.Checkpoint inMemory = store.shared() ? null : s.memoryCheckpoints.get(name);
            if (inMemory != null) {
                seq.rollback(inMemory); // the decode rows of the segment in progress too
            } else {
                byte[] record = store.checkpointRecord(s, name);
                if (record == null) {
                    throw ApiError.notFound("checkpoint", "session '" + s.id + "' has no checkpoint '" + name + "'"
                            + (name.equals(SessionStore.PREVIOUS) ? " (it has not changed since it was created or imported)" : ""));
                }
                String problem = SessionRecord.problem(record);
                try {
                    if (problem != null) {
                        throw new dev.engram.api.SnapshotException("it " + problem);
                    }
                    SessionRecord.load(record, seq);
                } catch (dev.engram.api.SnapshotException e) {
                    throw new ApiError(500, "server_error", "checkpoint", "checkpoint_damaged", "checkpoint '" + name + "' of session '"
                            + s.id + "' cannot be restored: " + e.getMessage() + "; the session is unchanged; delete the checkpoint", null);
                }
            }
            cancel.check();
            store.persist(s, seq, lease);
            return null;
        }), cancel);
        metrics.sessionEvent("rolled_back");
        Map<String, Object> r = sessionObject(s);
        r.put("rolled_back_to", name);
        ex.json(200, r);
    }

    /** Work on a session's state; {@code lease} is what {@link SessionStore#persist} needs to store a change. */
    interface SessionJob<T> {
        T run(ModelSequence seq, SessionStore.Lease lease);
    }

    /**
     * Runs {@code job} with the session's current state resident (restored when evicted, or when another server stored
     * a newer version), alone on its strategy's worker, in order with the session's other jobs. A job that
     * {@code writes} first takes the session's lease (waiting while another server holds it), which is released when
     * the job ends.
     */
    <T> CompletableFuture<T> onSession(Session s, Generation.Cancel cancel, boolean writes, SessionJob<T> job) {
        ModelWorker w = engines.worker(s.strategy);
        SessionStore.Lease lease = writes ? store.lease(s, cancel.remainingMillis()) : SessionStore.Lease.LOCAL;
        modelWorkStarted.set(true);
        CompletableFuture<T> f;
        try {
            f = w.submit(s.id, () -> {
                Claimed c = claim(s, w, cancel, writes);
                return settle(s, c.before(), () -> job.run(c.seq(), lease));
            });
        } catch (RuntimeException e) {
            lease.close();
            throw e;
        }
        // released before the answer goes out, so the client's next append finds the session free
        return f.whenComplete((v, t) -> lease.close());
    }

    /** Stores what a batched work did to a session's state {@code seq}, once it finished with {@code result}. */
    interface Commit<T> {
        void store(ModelSequence seq, SessionStore.Lease lease, T result);
    }

    /**
     * Like {@link #onSession}, but the work {@code start} makes joins the worker's batch, stepped with the other
     * generations and appends. One that does not {@code write} runs on a fork of the session's state, taken under the
     * lock, which is released at once (questions to one session run together, their forks within the memory budget).
     * One that writes runs on the state itself and keeps the session locked, its later jobs waiting, until it has
     * finished; then, if neither the client left nor the deadline passed, {@code commit} stores it (before that point a
     * failure leaves the session as it was).
     */
    <T> CompletableFuture<T> joinSession(Session s, Generation.Cancel cancel, boolean writes,
                                         java.util.function.Function<ModelSequence, ModelWorker.Work<T>> start, Commit<T> commit) {
        ModelWorker w = engines.worker(s.strategy);
        SessionStore.Lease lease = writes ? store.lease(s, cancel.remainingMillis()) : SessionStore.Lease.LOCAL;
        modelWorkStarted.set(true);
        CompletableFuture<T> f;
        try {
            // a question holds its fork's bytes while it runs (the memory budget bounds the forks running together)
            f = w.join(s.id, writes ? 0 : s.stateBytes, () -> {
                Claimed c = claim(s, w, cancel, writes);
                if (!writes) {
                    try {
                        return new SessionWork<>(start.apply(c.seq().fork()), false, question -> {
                            try {
                                return question.finish();
                            } finally {
                                s.lastUsedMillis = store.nowMillis(); // used until answered: its time to live counts from here
                            }
                        });
                    } finally {
                        release(s);
                    }
                }
                ModelWorker.Work<T> work;
                try {
                    work = start.apply(c.seq());
                } catch (Throwable t) {
                    s.dropLive();
                    release(s);
                    throw t;
                }
                return new SessionWork<>(work, true, writer -> settle(s, c.before(), () -> {
                    T result = writer.finish();
                    cancel.check(); // the last point where a timeout or a departed client leaves the session as it was
                    commit.store(c.seq(), lease, result);
                    return result;
                }));
            });
        } catch (RuntimeException e) {
            lease.close();
            throw e;
        }
        return f.whenComplete((v, t) -> lease.close());
    }

    /** A session's work: the inner work's steps, its own finish around the inner one's, holding the session's key or not. */
    private static final class SessionWork<T> implements ModelWorker.Work<T> {
        private final ModelWorker.Work<T> inner;
        private final boolean holdsKey;
        private final java.util.function.Function<ModelWorker.Work<T>, T> finish;

        SessionWork(ModelWorker.Work<T> inner, boolean holdsKey, java.util.function.Function<ModelWorker.Work<T>, T> finish) {
            this.inner = inner;
            this.holdsKey = holdsKey;
            this.finish = finish;
        }

        @Override
        public Generator generator() {
            return inner.generator();
        }

        @Override
        public void beforeStep() {
            inner.beforeStep();
        }

        @Override
        public void afterStep() {
            inner.afterStep();
        }

        @Override
        public T finish() {
            return finish.apply(inner);
        }

        @Override
        public boolean holdsKey() {
            return holdsKey;
        }
    }

    /** A claimed session's state, and (for a write) the state before it, for a rollback to "previous". */
    private record Claimed(ModelSequence seq, ModelSequence.Checkpoint before) {
    }

    /**
     * On the worker thread: locks the session and makes its state resident (for a job that {@code writes}, with its
     * state before the change: a single server's own copy for a bit-exact rollback to "previous"; the store keeps the
     * same state as the stored checkpoint "previous"); fails (unlocked again) when it was deleted or the request was
     * given up before this job began. The caller {@link #release}s it.
     */
    private Claimed claim(Session s, ModelWorker w, Generation.Cancel cancel, boolean writes) {
        cancel.check();
        s.lock.lock();
        try {
            if (s.deleted) {
                throw ApiError.notFound("session", "no session '" + s.id + "' (deleted)");
            }
            if (!cancel.start()) {
                throw new Generation.Cancelled(); // the request timed out before this job began; it changes nothing
            }
            s.lastUsedMillis = store.nowMillis();
            store.makeLive(s, w.engine);
            return new Claimed(s.live, writes && !store.shared() ? s.live.checkpoint() : null);
        } catch (Throwable t) { // an Error too (restoring a large state may run out of memory): never keep the lock
            s.lock.unlock();
            throw t;
        }
    }

    /**
     * Ends work on a claimed session: runs {@code body}; keeps {@code before} as the "previous" checkpoint when it
     * succeeds, drops the live state when it fails (the store holds the last acknowledged state: it is reloaded next
     * time); releases the session either way.
     */
    private <T> T settle(Session s, ModelSequence.Checkpoint before, java.util.function.Supplier<T> body) {
        try {
            T result = body.get();
            if (before != null) {
                s.memoryCheckpoints.put(SessionStore.PREVIOUS, before);
            }
            return result;
        } catch (Throwable t) {
            s.dropLive();
            throw t;
        } finally {
            release(s);
        }
    }

    /** Unlocks a claimed session, then evicts and expires what is due (housekeeping that never fails the job). */
    private void release(Session s) {
        s.lastUsedMillis = store.nowMillis();
        s.lock.unlock();
        try {
            store.evict(options.idleSessionTimeout().toMillis(), options.sessionMemoryBudget());
        } catch (RuntimeException e) {
            // housekeeping for other sessions: it must not turn this job's stored result into a failure
            LOG.log(System.Logger.Level.WARNING, "session eviction/expiry failed (retried later): " + e);
        }
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
        store.checkQuota(s.owner, 0, 0); // an owner already above the byte quota stores no more
        String inputField = textInput == null ? "tokens" : "text";
        engines.worker(s.strategy).engine.requireRoom(s.tokens, tokens.length, inputField); // learned positions: before any work
        jobs.ensureAccepting();
        final int[] checked = tokens;
        final String text = textInput;
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        ex.request.addFailureListener(t -> cancel.clientGone.set(true));
        // it joins the batch: its chunks are fed with the other works' rows, --step-tokens a step
        CompletableFuture<long[]> done = joinSession(s, cancel, true, seq -> {
            boolean startNow = seq.position() == 0;
            int[] all = text == null || startNow == atStart ? checked : dw.tokenizer.encode(text, startNow);
            if (all.length == 0) {
                throw ApiError.invalid("text", "nothing to append: the text has no tokens");
            }
            Engine engine = engines.worker(s.strategy).engine;
            engine.requireRoom(seq.position(), all.length, inputField); // again under the lock: another append may have run
            long unknown = text == null ? 0 : dw.tokenizer.unknownTokens(all);
            Generator feeding = engine.generator(seq, all, GenerationParams.greedy(0), null, null);
            return new ModelWorker.Work<long[]>() {
                private int reported;

                @Override
                public Generator generator() {
                    return feeding;
                }

                @Override
                public void beforeStep() {
                    cancel.check();
                }

                @Override
                public void afterStep() {
                    int fed = all.length - feeding.promptLeft();
                    if (fed > reported) {
                        reported = fed;
                        events.add(new long[] {fed, all.length});
                    }
                }

                @Override
                public long[] finish() {
                    if (feeding.failure() != null) {
                        throw feeding.failure();
                    }
                    return new long[] {all.length, unknown};
                }
            };
        }, (seq, lease, appended) -> {
            store.persist(s, seq, lease);
            metrics.tokens("append", appended[0]);
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
