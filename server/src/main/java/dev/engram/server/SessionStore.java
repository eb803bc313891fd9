package dev.engram.server;

import dev.engram.runtime.Engine;
import dev.engram.runtime.ModelSequence;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Where sessions are kept: one storage interface, a {@link SessionRecord} (metadata: owner key hash, tokens, strategy,
 * version; the snapshot bytes; a checksum) per session, with two implementations: {@link DirectorySessionStore} (one
 * file each under the data dir, one server) and {@link RedisSessionStore} (shared by many servers, with per-session
 * leases). This class holds what both share: this server's {@link Session} objects with their in-memory state (for a
 * directory every session; for Redis a cache of the sessions it used), memory eviction, and damage bookkeeping.
 *
 * <p>Writes happen under a {@link Lease}: every change of a session's state (an append, a session-appending completion)
 * takes one before it starts and hands it to {@link #persist}, which writes only while it is still held.
 */
abstract class SessionStore implements AutoCloseable {
    static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    /** The data dir's lock file ({@link DirectorySessionStore}). */
    static final String LOCK_FILE = DirectorySessionStore.LOCK_FILE;

    /**
     * Bytes of session files read and checked while a directory store opens; files beyond it are checked by
     * {@link #afterReady} (or when first used, whichever comes first), so a data dir of many large sessions does not
     * hold up a restart (-Dengram.serve.verifyAtStartBytes).
     */
    static volatile long verifyAtStartBytes = Long.getLong("engram.serve.verifyAtStartBytes", 256L << 20);

    protected final String model;
    private final SecureRandom random = new SecureRandom();
    /** Time to live, quotas and the clock ({@link #policy(SessionPolicy)}; no expiry and no quotas until set). */
    protected volatile SessionPolicy policy = SessionPolicy.defaults();
    /** Sessions deleted because their time to live ran out (by this server). */
    final java.util.concurrent.atomic.AtomicLong expiredCount = new java.util.concurrent.atomic.AtomicLong();
    /** The name of the checkpoint every change of a session's state leaves: the state before it. */
    static final String PREVIOUS = "previous";
    static final Pattern CHECKPOINT_NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    /** This server's sessions by id: with a directory, every session; with Redis, those it has seen (a cache). */
    final Map<String, Session> sessions = new ConcurrentHashMap<>();

    protected SessionStore(String model) {
        this.model = model;
    }

    /** An exclusive right to write one session's state, until closed (or, for Redis, lost). */
    interface Lease extends AutoCloseable {
        /** Nothing to serialize beyond this server's own worker (a directory has one server). */
        Lease LOCAL = () -> { };

        @Override
        void close();
    }

    /** A stored record (a {@link SessionRecord}) and the version it is. */
    record State(byte[] bytes, long version) {
    }

    /** A stored checkpoint as listed: its name, the tokens its state had seen, when it was taken, its record's size. */
    record CheckpointInfo(String name, long tokens, long createdEpochSeconds, long bytes) {
    }

    /** What one owner (API key) holds: sessions and stored bytes (records and checkpoints). */
    record Usage(long sessions, long bytes) {
    }

    // ---------------------------------------------------------------- what each store does

    /** The session with this id (metadata current), or null when there is none. */
    abstract Session find(String id);

    /** The sessions of this owner (metadata current), in any order. */
    abstract List<Session> list(String owner);

    /** How many sessions the store holds (every server's). */
    abstract long count();

    /** Stores a new session, initial state {@code seq}, unless the store already holds {@code maxSessions} (429). */
    abstract void create(Session s, ModelSequence seq, int maxSessions);

    /** Takes the session's write lease, waiting up to {@code waitMillis} for another holder (503 timeout after). */
    abstract Lease lease(Session s, long waitMillis);

    /** Writes the session's state as its next version, only while {@code lease} is held; returns once stored. Caller holds s.lock. */
    abstract void persist(Session s, ModelSequence seq, Lease lease);

    /** The stored state when {@link Session#live} is missing or older than what is stored, else null. Caller holds s.lock. */
    abstract State stateIfStale(Session s);

    /** Removes the session (memory and store). */
    abstract void delete(Session s);

    /** The session's stored record, current version (what an export sends); a damaged one is a 500. */
    abstract byte[] record(Session s);

    /**
     * Stores {@code seq}'s state as the session's checkpoint {@code name}, replacing one of that name; returns its
     * record's size. Caller holds s.lock.
     */
    abstract long saveCheckpoint(Session s, String name, ModelSequence seq);

    /** The stored record of the session's checkpoint {@code name}, or null when it has none of that name. */
    abstract byte[] checkpointRecord(Session s, String name);

    /** The session's stored checkpoints. */
    abstract List<CheckpointInfo> checkpoints(Session s);

    /** Deletes the session's checkpoint {@code name}; false when it had none of that name. */
    abstract boolean deleteCheckpoint(Session s, String name);

    /** Sessions and stored bytes of {@code owner} (every server's). */
    abstract Usage usage(String owner);

    /** Bytes of every stored session record and checkpoint (every server's). */
    abstract long storedBytes();

    /** Records that the session was used now (refreshing its time to live). */
    abstract void touch(Session s);

    /** Deletes the sessions (every server's) whose time to live ran out; returns how many. */
    abstract int expireDue();

    /** What a damaged session's error says about where it is and what to do. */
    abstract String damageAdvice(Session s);

    /** What {@code GET /v1/sessions/{id}} says of a damaged session ("damage"). */
    abstract String damageSummary(Session s);

    /** Whether other servers share this store (then a cached state is checked against the stored version before use). */
    abstract boolean shared();

    /** Work left for after the server is ready (a directory's unchecked files); runs on a background thread. */
    void afterReady() {
    }

    /** Whether {@link #afterReady} has work. */
    boolean hasWorkAfterReady() {
        return false;
    }

    /** Files not indexed at start (a directory's unreadable or foreign files). */
    int skippedFiles() {
        return 0;
    }

    /** Whether the store answered its last request (Redis); a directory always does. */
    boolean reachable() {
        return true;
    }

    /** For the start-up line: where the sessions are (no password). */
    abstract String describe();

    @Override
    public abstract void close();

    // ---------------------------------------------------------------- shared

    /** 429 when the store already holds {@code maxSessions}. */
    void checkRoom(long maxSessions) {
        long n = count();
        if (n >= maxSessions) {
            throw new ApiError(429, "rate_limit_error", null, "too_many_sessions", (shared() ? "the session store holds " : "this server holds ")
                    + n + " sessions (maxSessions " + maxSessions + "); delete some", null);
        }
    }

    String newId() {
        byte[] b = new byte[12];
        random.nextBytes(b);
        return "sess_" + HexFormat.of().formatHex(b);
    }

    /**
     * Makes {@link Session#live} the stored state: restored when evicted, or when another server wrote a newer version.
     * A state the model cannot restore marks the session damaged (500). Caller holds s.lock.
     */
    void makeLive(Session s, Engine engine) {
        State stored = stateIfStale(s);
        if (stored == null) {
            return;
        }
        s.dropLive();
        ModelSequence seq = engine.newSequence();
        try {
            SessionRecord.load(stored.bytes(), seq);
        } catch (dev.engram.api.SnapshotException e) {
            markDamaged(s, "holds a state this model cannot restore: " + e.getMessage());
            throw damaged(s);
        }
        s.setLive(seq, stored.version());
    }

    /** The metadata to store for the session's state {@code seq} as {@code version}. */
    SessionRecord.Metadata metadata(Session s, ModelSequence seq, long version) {
        return new SessionRecord.Metadata(s.id, model, s.owner, s.strategy, s.createdEpochSeconds, seq.position(), seq.stateBytes(),
                version, s.ttlSeconds, s.pinned);
    }

    /** The session's record bytes for its state {@code seq} as {@code version}. */
    byte[] encode(Session s, ModelSequence seq, long version) {
        return SessionRecord.encode(metadata(s, seq, version), seq);
    }

    void policy(SessionPolicy p) {
        this.policy = p;
    }

    long nowMillis() {
        return policy.clock().millis();
    }

    /** The session's time to live in ms; 0 when it never expires. */
    long ttlMillis(Session s) {
        return policy.ttlMillis(s.ttlSeconds, s.pinned);
    }

    /** Whether the session's time to live ran out (unused longer than it). */
    boolean expired(Session s, long lastUsedMillis) {
        long ttl = ttlMillis(s);
        return ttl > 0 && nowMillis() - lastUsedMillis > ttl;
    }

    /**
     * Refuses, before anything is written, a change that would take {@code owner} past a quota: 429 for the number of
     * sessions, 403 for the stored bytes ({@code addBytes} more).
     */
    void checkQuota(String owner, int addSessions, long addBytes) {
        SessionPolicy p = policy;
        if (p.maxSessionsPerKey() == 0 && p.maxBytesPerKey() == 0) {
            return;
        }
        Usage u = usage(owner);
        if (p.maxSessionsPerKey() > 0 && addSessions > 0 && u.sessions() + addSessions > p.maxSessionsPerKey()) {
            throw new ApiError(403, "permission_error", null, "session_quota_exceeded", "this API key holds " + u.sessions()
                    + " sessions, its quota (maxSessionsPerKey) is " + p.maxSessionsPerKey() + "; delete some", null);
        }
        if (p.maxBytesPerKey() > 0 && (u.bytes() + addBytes > p.maxBytesPerKey() || (addBytes == 0 && u.bytes() > p.maxBytesPerKey()))) {
            throw new ApiError(403, "permission_error", null, "storage_quota_exceeded", "this API key stores " + u.bytes()
                    + " bytes of sessions and checkpoints" + (addBytes > 0 ? " and this request adds about " + addBytes : "")
                    + "; its quota (maxBytesPerKey) is " + p.maxBytesPerKey() + "; delete sessions or checkpoints", null);
        }
    }

    /** After a write: the session's figures as stored. */
    static void stored(Session s, ModelSequence seq, long version, long recordBytes) {
        s.tokens = seq.position();
        s.stateBytes = seq.residentBytes(); // the memory budget counts the decode cache too
        s.snapshotBytes = recordBytes;
        s.version = version;
        s.liveVersion = version;
    }

    /** Records why the session cannot be used; the log says where it is, answers to clients do not. */
    void markDamaged(Session s, String what) {
        if (s.damage == null) {
            System.getLogger(getClass().getName()).log(System.Logger.Level.WARNING, "session '" + s.id + "' is damaged: "
                    + damageLocation(s) + " " + what);
        }
        s.damage = what;
    }

    /** For the log: where the session's record is (a file path, a Redis key). */
    abstract String damageLocation(Session s);

    /**
     * A 500 naming the session and what is wrong with its record, not where it is (the log says that); the session stays
     * listed (as damaged) and every other session is untouched.
     */
    ApiError damaged(Session s) {
        return new ApiError(500, "server_error", "session", "session_damaged", "session '" + s.id + "' is damaged "
                + damageAdvice(s), null);
    }

    long damagedCount() {
        return sessions.values().stream().filter(s -> s.damage != null).count();
    }

    long residentCount() {
        return sessions.values().stream().filter(s -> s.resident).count();
    }

    /** State bytes in memory: every resident session's, and a copy of it per checkpoint it holds in memory. */
    long residentBytes() {
        long sum = 0;
        for (Session s : sessions.values()) {
            if (s.resident) {
                sum += s.stateBytes * (1L + s.memoryCheckpoints.size());
            }
        }
        return sum;
    }

    /** Whether a session of this server's chose its own time to live (then expiry runs without a default one). */
    protected boolean anyOwnTtl() {
        return ownTtls;
    }

    private volatile long lastExpirySweep;

    /** Set once a session with its own ttl_s is created or seen. */
    protected volatile boolean ownTtls;

    /**
     * Deletes the sessions whose time to live ran out, then evicts (drops the memory copy; the store keeps it) sessions
     * idle longer than {@code idleMillis}, then LRU ones above {@code budget}.
     */
    int evict(long idleMillis, long budget) {
        long now = nowMillis();
        if ((policy.defaultTtl().toMillis() > 0 || anyOwnTtl()) && Math.abs(now - lastExpirySweep) >= 1000) {
            lastExpirySweep = now; // at most once a second: with Redis a sweep reads every session's last use
            expireDue();
        }
        int evicted = 0;
        List<Session> resident = new ArrayList<>();
        for (Session s : sessions.values()) {
            if (s.resident) {
                if (now - s.lastUsedMillis > idleMillis) {
                    evicted += tryDrop(s) ? 1 : 0;
                } else {
                    resident.add(s);
                }
            }
        }
        long total = residentBytes();
        if (total > budget) {
            resident.sort(Comparator.comparingLong(s -> s.lastUsedMillis));
            for (Session s : resident) {
                if (total <= budget) {
                    break;
                }
                long bytes = s.stateBytes * (1L + s.memoryCheckpoints.size()); // as residentBytes counts it
                if (tryDrop(s)) {
                    total -= bytes;
                    evicted++;
                }
            }
        }
        return evicted;
    }

    private static boolean tryDrop(Session s) {
        if (!s.tryLockIdle()) {
            return false;
        }
        try {
            s.dropLive();
            return true;
        } finally {
            s.lock.unlock();
        }
    }
}
