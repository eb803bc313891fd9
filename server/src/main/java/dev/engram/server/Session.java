package dev.engram.server;

import dev.engram.runtime.ModelSequence;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A memory session as this server sees it: a {@link ModelSequence} that lives across requests. Its stored snapshot
 * (a file, or Redis: {@link SessionStore}) is always the last acknowledged state; {@link #live} is a cache of it (null
 * when evicted), at {@link #liveVersion}. {@link #live} is only touched while holding {@link #lock}, and only on its
 * strategy's worker thread (eviction merely drops it, with {@link #tryLockIdle}). A batched write keeps the lock,
 * on the worker thread, from the step it joins until it has stored its result.
 */
final class Session {
    final String id;
    /** Hash of the API key that created it ("" without authentication). */
    final String owner;
    final Map<String, String> strategy;
    final String strategyKey;
    final long createdEpochSeconds;
    final ReentrantLock lock = new ReentrantLock();

    volatile long tokens;
    volatile long stateBytes;
    volatile long snapshotBytes;
    volatile long lastUsedMillis;
    /** The stored version as this server last saw it (SessionRecord.Metadata#version). */
    volatile long version;
    /** The version {@link #live} holds; guarded by {@link #lock}. */
    long liveVersion;
    volatile boolean deleted;
    /** Guarded by {@link #lock}. */
    ModelSequence live;
    volatile boolean resident;
    /** Why the session's file cannot be used (a failed checksum, a state the model cannot restore), or null when healthy. */
    volatile String damage;
    /** Its own time to live in seconds, as created ({@code ttl_s}; 0: the server's default). */
    volatile long ttlSeconds;
    /** Never expires. */
    volatile boolean pinned;
    /** Bytes of its stored checkpoints. */
    volatile long checkpointBytes;
    /**
     * Checkpoints held in memory, by name (a single server's own: with a shared store they are read from the store), for
     * a rollback that puts back the decode rows too. Guarded by {@link #lock}; dropped with {@link #live}.
     */
    final Map<String, ModelSequence.Checkpoint> memoryCheckpoints = new java.util.concurrent.ConcurrentHashMap<>();

    Session(String id, String owner, Map<String, String> strategy, String strategyKey, long createdEpochSeconds, long nowMillis) {
        this.id = id;
        this.owner = owner;
        this.strategy = Map.copyOf(strategy);
        this.strategyKey = strategyKey;
        this.createdEpochSeconds = createdEpochSeconds;
        this.lastUsedMillis = nowMillis;
    }

    /**
     * The lock for housekeeping (eviction, expiry), which skips a busy session: false while another thread holds it, and
     * while this thread does (a worker's batched write keeps its session locked across steps, and the same worker's
     * housekeeping after another job must not drop that state from under it).
     */
    boolean tryLockIdle() {
        return !lock.isHeldByCurrentThread() && lock.tryLock();
    }

    /** Drops the in-memory state (the stored snapshot stays authoritative). Caller holds the lock. */
    void dropLive() {
        live = null;
        memoryCheckpoints.clear();
        resident = false;
    }

    void setLive(ModelSequence sequence, long atVersion) {
        live = sequence;
        liveVersion = atVersion;
        version = Math.max(version, atVersion);
        resident = sequence != null;
    }
}
