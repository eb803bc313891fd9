package dev.engram.server;

import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import redis.clients.jedis.ConnectionPoolConfig;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.SslOptions;
import redis.clients.jedis.SslVerifyMode;
import redis.clients.jedis.exceptions.JedisException;

/**
 * Sessions in Redis, shared by any number of servers (server README, "Sessions in Redis"). Keys, under
 * {@code engram:MODEL:}:
 * <ul>
 *   <li>{@code session:ID}: a hash with {@code record} (the {@link SessionRecord}: metadata, snapshot, CRC32C), {@code meta}
 *       (its metadata JSON alone, for listing without the state), {@code version} and {@code bytes} (the record's size);
 *       every write replaces the four fields at once, in one script;</li>
 *   <li>{@code sessions} and {@code owner:HASH}: sets of ids, for the session limit and the listing per API key;</li>
 *   <li>{@code lease:ID}: the write lease, {@code SET NX PX} with a fencing token from the counter {@code fence}.</li>
 * </ul>
 * A change of a session's state takes its lease (waiting while another server holds it), and the write script stores it
 * only if that lease still holds this token and the stored version is the one the change started from: a server that
 * lost its lease (expired during a pause, then taken) writes nothing and answers 409. A server keeps the sessions it
 * used in memory, at the version it last stored or read, and checks that version before each use. Every Redis call
 * has the location's timeout; a call that fails answers 503 and changes nothing here (reads are retried once, on a
 * fresh connection, because the first after a Redis restart finds its pooled connection closed).
 */
final class RedisSessionStore extends SessionStore {
    private static final System.Logger LOG = System.getLogger(RedisSessionStore.class.getName());
    private static final byte[] RECORD = bytes("record");
    private static final byte[] META = bytes("meta");
    private static final byte[] VERSION = bytes("version");
    private static final byte[] SIZE = bytes("bytes");
    private static final byte[] USED = bytes("used");
    private static final byte[] CHECKPOINT_BYTES = bytes("ckpt_bytes");

    /**
     * KEYS: session, all ids, owner's ids. ARGV: max sessions, record, meta, id, now (ms), its own time to live (ms, 0:
     * the server's default), owner, pinned (1/0). -(count+1) when full, 0 when the id exists.
     */
    private static final byte[] CREATE = bytes("""
            local n = redis.call('SCARD', KEYS[2])
            if n >= tonumber(ARGV[1]) then return -n - 1 end
            if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
            redis.call('HSET', KEYS[1], 'version', '1', 'record', ARGV[2], 'meta', ARGV[3], 'bytes', string.len(ARGV[2]),
              'used', ARGV[5], 'ttl_ms', ARGV[6], 'owner', ARGV[7], 'pinned', ARGV[8], 'ckpt_bytes', '0')
            redis.call('SADD', KEYS[2], ARGV[4])
            redis.call('SADD', KEYS[3], ARGV[4])
            return 1""");
    /** KEYS: lease, fence counter. ARGV: lease ms. The fencing token, or 0 while another holds the lease. */
    private static final byte[] ACQUIRE = bytes("""
            local t = redis.call('INCR', KEYS[2])
            if redis.call('SET', KEYS[1], t, 'NX', 'PX', ARGV[1]) then return t end
            return 0""");
    /** KEYS: lease. ARGV: token, lease ms. 1 when still held (and extended). */
    private static final byte[] RENEW = bytes("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
            return 0""");
    /** KEYS: lease. ARGV: token. */
    private static final byte[] RELEASE = bytes("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
            return 0""");
    /**
     * KEYS: session, lease, checkpoints, checkpoint listing. ARGV: token, the version the change started from, record,
     * meta, now (ms), the replaced state's tokens. The new version; -2 when the session was deleted, -1 when the lease
     * is not (or no longer) this token's, -3 when another write came first. The replaced record becomes the checkpoint
     * "previous" (copied inside Redis).
     */
    private static final byte[] WRITE = bytes("""
            local v = redis.call('HGET', KEYS[1], 'version')
            if not v then return -2 end
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
            if v ~= ARGV[2] then return -3 end
            local nv = tonumber(v) + 1
            local old = redis.call('HGET', KEYS[1], 'record')
            local had = redis.call('HSTRLEN', KEYS[3], 'previous')
            redis.call('HSET', KEYS[3], 'previous', old)
            redis.call('HSET', KEYS[4], 'previous', ARGV[6] .. ',' .. math.floor(tonumber(ARGV[5]) / 1000) .. ',' .. string.len(old))
            redis.call('HINCRBY', KEYS[1], 'ckpt_bytes', string.len(old) - had)
            redis.call('HSET', KEYS[1], 'version', nv, 'record', ARGV[3], 'meta', ARGV[4], 'bytes', string.len(ARGV[3]), 'used', ARGV[5])
            return nv""");
    /** KEYS: session. ARGV: now (ms). Sets the last use of a session that exists. */
    private static final byte[] TOUCH = bytes("""
            if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'used', ARGV[1]) end
            return 0""");
    /**
     * KEYS: session, checkpoints, checkpoint listing. ARGV: name, record, "tokens,created s". The record's size; -2 when
     * the session was deleted.
     */
    private static final byte[] SAVE_CHECKPOINT = bytes("""
            if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
            local had = redis.call('HSTRLEN', KEYS[2], ARGV[1])
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
            redis.call('HSET', KEYS[3], ARGV[1], ARGV[3] .. ',' .. string.len(ARGV[2]))
            redis.call('HINCRBY', KEYS[1], 'ckpt_bytes', string.len(ARGV[2]) - had)
            return string.len(ARGV[2])""");
    /** KEYS: session, checkpoints, checkpoint listing. ARGV: name. 1 when it existed. */
    private static final byte[] DELETE_CHECKPOINT = bytes("""
            local had = redis.call('HSTRLEN', KEYS[2], ARGV[1])
            if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
            redis.call('HDEL', KEYS[3], ARGV[1])
            if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'ckpt_bytes', -had) end
            return 1""");
    /** KEYS: a set of ids. ARGV: session key prefix. {sessions, bytes of their records and checkpoints}. */
    private static final byte[] USAGE = bytes("""
            local n = 0
            local bytes = 0
            for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
              local m = redis.call('HMGET', ARGV[1] .. id, 'bytes', 'ckpt_bytes')
              if m[1] then n = n + 1; bytes = bytes + tonumber(m[1]) + tonumber(m[2] or '0') end
            end
            return {n, bytes}""");
    /**
     * KEYS: all ids. ARGV: key prefix, now (ms), the server's default time to live (ms, 0: never). Deletes every session
     * (with its checkpoints and lease) unused for longer than its time to live (its own, else the default; never when
     * pinned); returns their ids.
     */
    private static final byte[] EXPIRE = bytes("""
            local gone = {}
            local now = tonumber(ARGV[2])
            for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
              local key = ARGV[1] .. 'session:' .. id
              local m = redis.call('HMGET', key, 'used', 'ttl_ms', 'owner', 'pinned')
              local ttl = tonumber(m[2] or '0')
              if ttl == 0 then ttl = tonumber(ARGV[3]) end
              if m[4] == '1' then ttl = 0 end
              if redis.call('EXISTS', key) == 0 then
                redis.call('SREM', KEYS[1], id)
              elseif m[1] and ttl > 0 and now - tonumber(m[1]) > ttl then
                redis.call('DEL', key, ARGV[1] .. 'ckpt:' .. id, ARGV[1] .. 'ckptmeta:' .. id, ARGV[1] .. 'lease:' .. id)
                redis.call('SREM', KEYS[1], id)
                redis.call('SREM', ARGV[1] .. 'owner:' .. (m[3] or ''), id)
                gone[#gone + 1] = id
              end
            end
            return gone""");
    /** KEYS: session, all ids, owner's ids, lease, checkpoints, checkpoint listing. ARGV: id. */
    private static final byte[] DELETE = bytes("""
            local existed = redis.call('DEL', KEYS[1])
            redis.call('DEL', KEYS[5], KEYS[6])
            redis.call('SREM', KEYS[2], ARGV[1])
            redis.call('SREM', KEYS[3], ARGV[1])
            redis.call('DEL', KEYS[4])
            return existed""");
    /** KEYS: owner's ids. ARGV: session key prefix. meta, version, bytes, used, ckpt_bytes of each of the owner's sessions. */
    private static final byte[] LIST = bytes("""
            local out = {}
            for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
              local m = redis.call('HMGET', ARGV[1] .. id, 'meta', 'version', 'bytes', 'used', 'ckpt_bytes')
              if m[1] then
                out[#out + 1] = m[1]; out[#out + 1] = m[2]; out[#out + 1] = m[3]; out[#out + 1] = m[4] or '0'
                out[#out + 1] = m[5] or '0'
              end
            end
            return out""");

    private final SessionStoreLocation.Redis location;
    private final RedisClient client;
    private final String prefix;
    private final ScheduledExecutorService renewals;
    private volatile boolean up = true;

    RedisSessionStore(SessionStoreLocation.Redis location, String model) {
        super(model);
        this.location = location;
        this.prefix = "engram:" + model + ":";
        int timeout = (int) location.timeout().toMillis();
        DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder().connectionTimeoutMillis(timeout)
                .socketTimeoutMillis(timeout).blockingSocketTimeoutMillis(timeout).user(location.user()).password(location.password())
                .database(location.database()).resp2().clientName("engram-serve");
        if (location.tls()) {
            // the JVM's trust store (javax.net.ssl.trustStore); the server's certificate chain and host name are verified
            config.sslOptions(SslOptions.builder().sslVerifyMode(SslVerifyMode.FULL).build());
        }
        ConnectionPoolConfig pool = new ConnectionPoolConfig();
        pool.setMaxTotal(location.poolSize());
        pool.setMaxIdle(location.poolSize());
        pool.setMinIdle(0);
        pool.setMaxWait(location.timeout());
        // idle connections are checked every second, so those a Redis restart closed are gone before a request needs one
        pool.setTestWhileIdle(true);
        pool.setTimeBetweenEvictionRuns(Duration.ofSeconds(1));
        pool.setNumTestsPerEvictionRun(-1); // all of them
        this.client = RedisClient.builder().hostAndPort(location.host(), location.port()).clientConfig(config.build()).poolConfig(pool).build();
        try {
            client.ping();
        } catch (JedisException e) {
            client.close();
            throw new IllegalStateException("--session-store " + location + ": Redis does not answer within timeout_ms ("
                    + timeout + " ms): " + e.getMessage() + "; start Redis there, or correct the URL (" + SessionStoreLocation.REDIS_FORM + ")");
        }
        this.renewals = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "engram-lease-renewal");
            t.setDaemon(true);
            return t;
        });
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private byte[] sessionKey(String id) {
        return bytes(prefix + "session:" + id);
    }

    private byte[] allKey() {
        return bytes(prefix + "sessions");
    }

    private byte[] ownerKey(String owner) {
        return bytes(prefix + "owner:" + owner);
    }

    private byte[] leaseKey(String id) {
        return bytes(prefix + "lease:" + id);
    }

    /** A hash of the session's checkpoint records by name. */
    private byte[] checkpointKey(String id) {
        return bytes(prefix + "ckpt:" + id);
    }

    /** A hash of "tokens,created s,bytes" by checkpoint name, for listing without the records. */
    private byte[] checkpointListKey(String id) {
        return bytes(prefix + "ckptmeta:" + id);
    }

    /** 503: Redis did not answer (down, slow, or refusing: loading after a restart, out of memory, cannot persist). */
    private ApiError unavailable(JedisException e) {
        up = false;
        forgetIdleConnections();
        LOG.log(System.Logger.Level.WARNING, "session store " + location + ": " + e);
        return new ApiError(503, "server_error", null, "session_store_unavailable", "the session store (Redis) is unavailable or did"
                + " not answer within " + location.timeout().toMillis() + " ms (timeout_ms); nothing was changed by this request;"
                + " retry later", 1);
    }

    /**
     * After a failure the pooled idle connections are likely dead too (Redis restarted, or the network broke): dropped, so
     * the next call opens a fresh one instead of failing on each stale one in turn.
     */
    private void forgetIdleConnections() {
        try {
            client.getPool().clear();
        } catch (RuntimeException ignored) {
            // the pool destroys them on their next use anyway
        }
    }

    /** A call that changes something: never repeated (it may have been applied before the connection failed). */
    private <T> T write(Function<RedisClient, T> call) {
        try {
            T v = call.apply(client);
            up = true;
            return v;
        } catch (JedisException e) {
            throw unavailable(e);
        }
    }

    /** A call that only reads: repeated once, on a fresh connection. */
    private <T> T read(Function<RedisClient, T> call) {
        try {
            T v = call.apply(client);
            up = true;
            return v;
        } catch (JedisException first) {
            forgetIdleConnections();
            return write(call);
        }
    }

    private static long number(Object o) {
        return o == null ? 0 : o instanceof Long l ? l : Long.parseLong(new String((byte[]) o, StandardCharsets.UTF_8));
    }

    /** This server's Session for stored metadata, its figures brought up to date. */
    private Session cached(byte[] metaJson, byte[] version, byte[] size, byte[] used, byte[] checkpointBytes) {
        SessionRecord.Metadata meta;
        try {
            meta = SessionRecord.Metadata.fromJson(metaJson);
        } catch (IOException e) {
            throw new IllegalStateException("a session's metadata in Redis cannot be read: " + e.getMessage(), e);
        }
        Session s = sessions.computeIfAbsent(meta.id(), id -> new Session(id, meta.owner(), meta.strategy(),
                Engines.strategyKey(meta.strategy()), meta.createdEpochSeconds(), number(used)));
        s.ttlSeconds = meta.ttlSeconds();
        s.pinned = meta.pinned();
        ownTtls |= meta.ttlSeconds() > 0;
        s.lastUsedMillis = Math.max(s.lastUsedMillis, number(used));
        s.checkpointBytes = number(checkpointBytes);
        s.tokens = meta.tokens();
        if (!s.resident) {
            s.stateBytes = meta.stateBytes();
        }
        s.snapshotBytes = size == null ? 0 : number(size);
        s.version = number(version);
        return s;
    }

    @Override
    Session find(String id) {
        List<byte[]> v = read(c -> c.hmget(sessionKey(id), META, VERSION, SIZE, USED, CHECKPOINT_BYTES));
        if (v.get(0) == null) {
            Session gone = sessions.remove(id);
            if (gone != null) {
                gone.deleted = true; // another server deleted it
            }
            return null;
        }
        return cached(v.get(0), v.get(1), v.get(2), v.get(3), v.get(4));
    }

    @Override
    List<Session> list(String owner) {
        Object r = read(c -> c.eval(LIST, List.of(ownerKey(owner)), List.of(bytes(prefix + "session:"))));
        List<Session> out = new ArrayList<>();
        List<?> flat = (List<?>) r;
        for (int i = 0; i + 4 < flat.size(); i += 5) {
            out.add(cached((byte[]) flat.get(i), (byte[]) flat.get(i + 1), (byte[]) flat.get(i + 2), (byte[]) flat.get(i + 3),
                    (byte[]) flat.get(i + 4)));
        }
        return out;
    }

    @Override
    long count() {
        return read(c -> c.scard(allKey()));
    }

    @Override
    boolean reachable() {
        return up;
    }

    @Override
    void create(Session s, ModelSequence seq, int maxSessions) {
        byte[] record = encode(s, seq, 1);
        byte[] meta = metadata(s, seq, 1).json();
        long now = nowMillis();
        ownTtls |= s.ttlSeconds > 0;
        long r = number(write(c -> c.eval(CREATE, List.of(sessionKey(s.id), allKey(), ownerKey(s.owner)),
                List.of(bytes(Integer.toString(maxSessions)), record, meta, bytes(s.id), bytes(Long.toString(now)),
                        bytes(Long.toString(s.ttlSeconds * 1000)), bytes(s.owner), bytes(s.pinned ? "1" : "0")))));
        if (r < 0) {
            throw new ApiError(429, "rate_limit_error", null, "too_many_sessions", "the session store holds " + (-r - 1)
                    + " sessions (maxSessions " + maxSessions + "); delete some", null);
        }
        if (r == 0) {
            throw ApiError.internal("session id " + s.id + " is taken; retry");
        }
        stored(s, seq, 1, record.length);
        s.lastUsedMillis = now;
        s.setLive(seq, 1);
        sessions.put(s.id, s);
    }

    /** A held lease: its fencing token, renewed every third of the lease time until closed. */
    private final class RedisLease implements Lease {
        final String id;
        final byte[] token;
        final ScheduledFuture<?> renewal;
        volatile boolean lost;
        private boolean closed;

        RedisLease(String id, long token) {
            this.id = id;
            this.token = bytes(Long.toString(token));
            long every = Math.max(50, location.lease().toMillis() / 3);
            this.renewal = renewals.scheduleAtFixedRate(this::renew, every, every, TimeUnit.MILLISECONDS);
        }

        private void renew() {
            try {
                Object r = client.eval(RENEW, List.of(leaseKey(id)), List.of(token, bytes(Long.toString(location.lease().toMillis()))));
                if (number(r) == 0) {
                    lost = true;
                    renewal.cancel(false);
                }
            } catch (JedisException e) {
                // not fatal yet: the lease lasts until its time runs out, and the write checks it then
                LOG.log(System.Logger.Level.WARNING, "renewing the lease of session '" + id + "': " + e);
            }
        }

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            renewal.cancel(false);
            try {
                client.eval(RELEASE, List.of(leaseKey(id)), List.of(token));
            } catch (JedisException e) {
                // it expires by itself after lease_ms
                LOG.log(System.Logger.Level.WARNING, "releasing the lease of session '" + id + "': " + e);
            }
        }
    }

    @Override
    Lease lease(Session s, long waitMillis) {
        long deadline = System.nanoTime() + waitMillis * 1_000_000;
        long pause = 2;
        while (true) {
            long token = number(write(c -> c.eval(ACQUIRE, List.of(leaseKey(s.id), bytes(prefix + "fence")),
                    List.of(bytes(Long.toString(location.lease().toMillis()))))));
            if (token > 0) {
                return new RedisLease(s.id, token);
            }
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                throw new ApiError(503, "timeout_error", "session", "session_busy", "session '" + s.id + "' is being changed by another"
                        + " request (through this or another server) and did not come free within " + waitMillis
                        + " ms (requestTimeout); nothing was changed; retry", 1);
            }
            try {
                Thread.sleep(Math.min(pause, left));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Generation.Cancelled();
            }
            pause = Math.min(50, pause * 2);
        }
    }

    private ApiError conflict(Session s, String why) {
        return new ApiError(409, "conflict_error", "session", "session_conflict", "session '" + s.id + "': " + why
                + "; nothing was written; the session is as it was before this request: retry", 1);
    }

    @Override
    void persist(Session s, ModelSequence seq, Lease lease) {
        RedisLease held = (RedisLease) lease;
        if (held.lost) {
            throw conflict(s, "this server lost its write lease (held past lease_ms " + location.lease().toMillis() + " ms without renewal)");
        }
        long from = s.liveVersion;
        SessionRecord.Metadata meta = metadata(s, seq, from + 1);
        byte[] record = SessionRecord.encode(meta, seq);
        long now = nowMillis();
        long tokensBefore = s.tokens;
        long r = number(write(c -> c.eval(WRITE, List.of(sessionKey(s.id), leaseKey(s.id), checkpointKey(s.id), checkpointListKey(s.id)),
                List.of(held.token, bytes(Long.toString(from)), record, meta.json(), bytes(Long.toString(now)),
                        bytes(Long.toString(tokensBefore))))));
        if (r == -2) {
            s.deleted = true;
            throw ApiError.notFound("session", "no session '" + s.id + "' (deleted while this request ran)");
        } else if (r == -1) {
            throw conflict(s, "this server's write lease expired and was taken by another request");
        } else if (r == -3) {
            throw conflict(s, "another write came first");
        }
        stored(s, seq, r, record.length);
        s.lastUsedMillis = now;
    }

    @Override
    State stateIfStale(Session s) {
        if (s.damage != null) {
            throw damaged(s);
        }
        List<byte[]> v = read(c -> c.hmget(sessionKey(s.id), VERSION));
        if (v.get(0) == null) {
            s.deleted = true;
            sessions.remove(s.id);
            throw ApiError.notFound("session", "no session '" + s.id + "' (deleted)");
        }
        if (s.live != null && s.liveVersion == number(v.get(0))) {
            return null;
        }
        List<byte[]> vr = read(c -> c.hmget(sessionKey(s.id), VERSION, RECORD));
        if (vr.get(0) == null || vr.get(1) == null) {
            s.deleted = true;
            sessions.remove(s.id);
            throw ApiError.notFound("session", "no session '" + s.id + "' (deleted)");
        }
        byte[] record = vr.get(1);
        String problem = SessionRecord.problem(record);
        if (problem != null) {
            markDamaged(s, problem);
            throw damaged(s);
        }
        return new State(record, number(vr.get(0)));
    }

    @Override
    byte[] record(Session s) {
        if (s.damage != null) {
            throw damaged(s);
        }
        byte[] record = read(c -> c.hget(sessionKey(s.id), RECORD));
        if (record == null) {
            s.deleted = true;
            sessions.remove(s.id);
            throw ApiError.notFound("session", "no session '" + s.id + "' (deleted)");
        }
        String problem = SessionRecord.problem(record);
        if (problem != null) {
            markDamaged(s, problem);
            throw damaged(s);
        }
        return record;
    }

    @Override
    void touch(Session s) {
        long now = nowMillis();
        s.lastUsedMillis = now;
        write(c -> c.eval(TOUCH, List.of(sessionKey(s.id)), List.of(bytes(Long.toString(now)))));
    }

    @Override
    long saveCheckpoint(Session s, String name, ModelSequence seq) {
        byte[] record = encode(s, seq, s.liveVersion);
        long r = number(write(c -> c.eval(SAVE_CHECKPOINT, List.of(sessionKey(s.id), checkpointKey(s.id), checkpointListKey(s.id)),
                List.of(bytes(name), record, bytes(seq.position() + "," + nowMillis() / 1000)))));
        if (r == -2) {
            s.deleted = true;
            throw ApiError.notFound("session", "no session '" + s.id + "' (deleted while this request ran)");
        }
        return r;
    }

    @Override
    byte[] checkpointRecord(Session s, String name) {
        return read(c -> c.hget(checkpointKey(s.id), bytes(name)));
    }

    @Override
    List<CheckpointInfo> checkpoints(Session s) {
        java.util.Map<byte[], byte[]> all = read(c -> c.hgetAll(checkpointListKey(s.id)));
        List<CheckpointInfo> out = new ArrayList<>();
        all.forEach((k, v) -> {
            String[] f = new String(v, StandardCharsets.UTF_8).split(",");
            out.add(new CheckpointInfo(new String(k, StandardCharsets.UTF_8), Long.parseLong(f[0]), Long.parseLong(f[1]),
                    Long.parseLong(f[2])));
        });
        return out;
    }

    @Override
    boolean deleteCheckpoint(Session s, String name) {
        return number(write(c -> c.eval(DELETE_CHECKPOINT, List.of(sessionKey(s.id), checkpointKey(s.id), checkpointListKey(s.id)),
                List.of(bytes(name))))) == 1;
    }

    @Override
    Usage usage(String owner) {
        List<?> r = (List<?>) read(c -> c.eval(USAGE, List.of(ownerKey(owner)), List.of(bytes(prefix + "session:"))));
        return new Usage(number(r.get(0)), number(r.get(1)));
    }

    @Override
    long storedBytes() {
        List<?> r = (List<?>) read(c -> c.eval(USAGE, List.of(allKey()), List.of(bytes(prefix + "session:"))));
        return number(r.get(1));
    }

    @Override
    int expireDue() {
        List<?> gone = (List<?>) write(c -> c.eval(EXPIRE, List.of(allKey()), List.of(bytes(prefix), bytes(Long.toString(nowMillis())),
                bytes(Long.toString(policy.defaultTtl().toMillis())))));
        for (Object o : gone) {
            Session s = sessions.remove(new String((byte[]) o, StandardCharsets.UTF_8));
            if (s != null) {
                s.deleted = true;
            }
        }
        expiredCount.addAndGet(gone.size());
        return gone.size();
    }

    @Override
    void delete(Session s) {
        s.lock.lock();
        try {
            write(c -> c.eval(DELETE, List.of(sessionKey(s.id), allKey(), ownerKey(s.owner), leaseKey(s.id), checkpointKey(s.id),
                    checkpointListKey(s.id)), List.of(bytes(s.id))));
            s.deleted = true;
            s.dropLive();
            sessions.remove(s.id);
        } finally {
            s.lock.unlock();
        }
    }

    /**
     * Always sweep (at most once a second): a session with its own ttl_s may have been created by another replica, or
     * before every replica restarted, so this one cannot know from what it has seen that none exists.
     */
    @Override
    protected boolean anyOwnTtl() {
        return true;
    }

    /** Also forgets idle sessions this server only had metadata of: Redis holds them, and every use reads them again. */
    @Override
    int evict(long idleMillis, long budget) {
        int evicted = super.evict(idleMillis, budget);
        long now = nowMillis();
        sessions.values().removeIf(s -> !s.resident && s.damage == null && now - s.lastUsedMillis > idleMillis && !s.lock.isLocked());
        return evicted;
    }

    @Override
    String damageLocation(Session s) {
        return "its record (Redis key " + prefix + "session:" + s.id + ")";
    }

    @Override
    String damageAdvice(Session s) {
        return "in the session store (its record " + s.damage + "); no other session is affected: delete the session";
    }

    @Override
    String damageSummary(Session s) {
        return "its record " + s.damage + "; delete the session";
    }

    @Override
    boolean shared() {
        return true;
    }

    @Override
    String describe() {
        return "sessions " + location;
    }

    @Override
    public void close() {
        renewals.shutdownNow();
        client.close();
    }
}
