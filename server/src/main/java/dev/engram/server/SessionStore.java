package dev.engram.server;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.SnapshotFiles;
import dev.engram.runtime.ModelSequence;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;

/**
 * Sessions on disk under {@code dataDir/sessions/{id}.session}, one file each, written atomically
 * ({@link SnapshotFiles#writeAtomically}) before any append or committing completion is acknowledged.
 * File: "ENGRAMSV", int format 1, int metadata length, metadata JSON (UTF-8), the
 * {@link ModelSequence#snapshot()} bytes, CRC32C of everything before it.
 */
final class SessionStore {
    private static final System.Logger LOG = System.getLogger(SessionStore.class.getName());
    private static final byte[] MAGIC = "ENGRAMSV".getBytes(StandardCharsets.US_ASCII);
    private static final int FORMAT = 1;
    static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final String model;
    private final SecureRandom random = new SecureRandom();
    final Map<String, Session> sessions = new ConcurrentHashMap<>();
    /** Files in the sessions folder that were not indexed at start: unreadable, or another model's (see the log). */
    volatile int skippedFiles;

    private final FileChannel lockChannel;

    /** Opens the data dir and locks it: two servers writing one dir would lose each other's appends. */
    SessionStore(Path dataDir, String model) {
        this.dir = dataDir.resolve("sessions");
        this.model = model;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the session directory " + dir, e);
        }
        Path lockFile = dataDir.resolve(LOCK_FILE);
        FileChannel channel = null;
        try {
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            if (channel.tryLock() == null) {
                throw new OverlappingFileLockException();
            }
        } catch (OverlappingFileLockException e) {
            closeQuietly(channel);
            throw new IllegalStateException("--data-dir " + dataDir.toAbsolutePath() + " is in use by another engram serve ("
                    + lockFile.getFileName() + " is locked); give each server its own data dir");
        } catch (IOException e) {
            closeQuietly(channel);
            throw new UncheckedIOException("cannot lock " + lockFile, e);
        }
        this.lockChannel = channel;
    }

    static final String LOCK_FILE = "engram-serve.lock";

    private static void closeQuietly(FileChannel c) {
        try {
            if (c != null) {
                c.close();
            }
        } catch (IOException ignored) {
            // nothing was locked through it
        }
    }

    /** Releases the data dir for the next server. */
    void close() {
        closeQuietly(lockChannel);
    }

    /**
     * Reads every session file and checks its checksum, so a damaged session is known (listed as damaged, counted in
     * /metrics) before anyone uses it. A file whose header cannot be read at all is logged and skipped; neither
     * stops the server.
     */
    void loadIndex() {
        int skipped = 0;
        long budget = verifyAtStartBytes;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.session")) {
            for (Path f : files) {
                try {
                    long size = Files.size(f);
                    boolean verifyNow = size <= budget;
                    budget -= verifyNow ? size : 0;
                    Session s = verifyNow ? readIndexed(f) : readHeaderOnly(f, size);
                    if (s != null && !verifyNow) {
                        unverified.add(s);
                    }
                    if (s != null) {
                        sessions.put(s.id, s);
                    } else {
                        skipped++;
                    }
                } catch (IOException | RuntimeException e) {
                    skipped++;
                    LOG.log(System.Logger.Level.WARNING, "skipping session file " + f + ": " + e.getMessage());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
        skippedFiles = skipped;
    }

    /**
     * Bytes of session files read and checked while the store opens; files beyond it are checked by {@link #verifyRest}
     * after the server is ready (or when first used, whichever comes first), so a data dir of many large sessions
     * does not hold up a restart (-Dengram.serve.verifyAtStartBytes).
     */
    static volatile long verifyAtStartBytes = Long.getLong("engram.serve.verifyAtStartBytes", 256L << 20);

    /** Sessions indexed from their header only, to be checked by {@link #verifyRest}. */
    private final List<Session> unverified = new ArrayList<>();

    /** Checks the files {@link #loadIndex} left unchecked (damage is recorded on the session); for a background thread. */
    void verifyRest() {
        for (Session s : unverified) {
            if (s.deleted || s.damage != null) {
                continue;
            }
            s.lock.lock();
            try {
                if (!s.deleted && s.live == null) {
                    String problem = checkWhole(Files.readAllBytes(file(s.id)));
                    if (problem != null) {
                        markDamaged(s, problem);
                    }
                }
            } catch (IOException e) {
                markDamaged(s, "cannot be read (" + e.getMessage() + ")");
            } finally {
                s.lock.unlock();
            }
        }
        unverified.clear();
    }

    /** Whether some files were indexed unchecked (then {@link #verifyRest} has work). */
    boolean hasUnverified() {
        return !unverified.isEmpty();
    }

    private Session readHeaderOnly(Path f, long size) throws IOException {
        byte[] head;
        try (InputStream in = Files.newInputStream(f)) {
            byte[] fixed = in.readNBytes(MAGIC.length + 8);
            int len = fixed.length < MAGIC.length + 8 ? 0 : ByteBuffer.wrap(fixed).getInt(MAGIC.length + 4);
            byte[] meta = len > 0 && len <= (1 << 20) ? in.readNBytes(len) : new byte[0];
            head = ByteBuffer.allocate(fixed.length + meta.length).put(fixed).put(meta).array();
        }
        Session s = readHeader(f, head);
        if (s != null) {
            s.snapshotBytes = size;
        }
        return s;
    }

    /** The session a file holds, with {@link Session#damage} set when its checksum fails; null for another model's. */
    private Session readIndexed(Path f) throws IOException {
        byte[] all = Files.readAllBytes(f);
        Session s = readHeader(f, all);
        if (s != null) {
            String problem = checkWhole(all);
            if (problem != null) {
                markDamaged(s, problem);
            }
        }
        return s;
    }

    /** What is wrong with a whole session file's framing and checksum, or null. */
    private static String checkWhole(byte[] all) {
        if (all.length < MAGIC.length + 12) {
            return "is truncated (" + all.length + " bytes)";
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        if (ByteBuffer.wrap(all).getInt(all.length - 4) != (int) crc.getValue()) {
            return "fails its checksum";
        }
        int metaLen = ByteBuffer.wrap(all).getInt(MAGIC.length + 4);
        if (metaLen < 0 || MAGIC.length + 8L + metaLen > all.length - 4) {
            return "has a metadata length of " + metaLen + " in " + all.length + " bytes";
        }
        return null;
    }

    /** Records why the session cannot be used; the log names its file, answers to clients do not. */
    void markDamaged(Session s, String what) {
        if (s.damage == null) {
            LOG.log(System.Logger.Level.WARNING, "session '" + s.id + "' is damaged: its file " + file(s.id) + " " + what);
        }
        s.damage = what;
    }

    private Session readHeader(Path f, byte[] all) throws IOException {
        try (InputStream raw = new java.io.ByteArrayInputStream(all); DataInputStream in = new DataInputStream(raw)) {
            byte[] magic = in.readNBytes(MAGIC.length);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new IOException("not an Engram session file");
            }
            int format = in.readInt();
            if (format != FORMAT) {
                throw new IOException("session format " + format + "; this server reads " + FORMAT);
            }
            int len = in.readInt();
            if (len < 2 || len > (1 << 20)) {
                throw new IOException("metadata length " + len);
            }
            Map<String, Object> meta = JSON.readValue(in.readNBytes(len), new TypeReference<>() { });
            if (!model.equals(meta.get("model"))) {
                LOG.log(System.Logger.Level.WARNING, "skipping session file " + f + ": it belongs to model '" + meta.get("model")
                        + "', not '" + model + "'; ignored");
                return null;
            }
            @SuppressWarnings("unchecked")
            Map<String, String> strategy = (Map<String, String>) meta.getOrDefault("strategy", Map.of());
            String id = (String) meta.get("id");
            if (id == null || !ID.matcher(id).matches() || !f.getFileName().toString().equals(id + ".session")) {
                throw new IOException("id '" + id + "' does not match the file name");
            }
            Session s = new Session(id, (String) meta.getOrDefault("owner", ""), strategy, Server.strategyKey(strategy),
                    ((Number) meta.getOrDefault("created", 0)).longValue());
            s.tokens = ((Number) meta.getOrDefault("tokens", 0)).longValue();
            s.stateBytes = ((Number) meta.getOrDefault("stateBytes", 0)).longValue();
            s.snapshotBytes = all.length;
            return s;
        }
    }

    String newId() {
        byte[] b = new byte[12];
        random.nextBytes(b);
        return "sess_" + HexFormat.of().formatHex(b);
    }

    Path file(String id) {
        return dir.resolve(id + ".session");
    }

    /** Writes the session's state atomically; returns when it is on disk. Caller holds the lock. */
    void persist(Session s, ModelSequence seq) {
        if (s.deleted) {
            return;
        }
        byte[] state = seq.snapshot();
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("id", s.id);
        meta.put("model", model);
        meta.put("owner", s.owner);
        meta.put("strategy", s.strategy);
        meta.put("created", s.createdEpochSeconds);
        meta.put("tokens", seq.position());
        meta.put("stateBytes", seq.stateBytes());
        byte[] m;
        try {
            m = JSON.writeValueAsBytes(meta);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ByteBuffer b = ByteBuffer.allocate(MAGIC.length + 8 + m.length + state.length + 4);
        b.put(MAGIC).putInt(FORMAT).putInt(m.length).put(m).put(state);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        SnapshotFiles.writeAtomically(file(s.id), b.array());
        s.tokens = seq.position();
        s.stateBytes = seq.residentBytes(); // the memory budget counts the decode cache too
        s.snapshotBytes = b.capacity();
    }

    /** The session's sequence state bytes from disk (checked); a damaged file is a {@link #damaged} error. */
    byte[] readState(Session s) {
        if (s.damage != null) {
            throw damaged(s);
        }
        byte[] all;
        try {
            all = Files.readAllBytes(file(s.id));
        } catch (IOException e) {
            markDamaged(s, "cannot be read (" + e.getMessage() + ")");
            throw damaged(s);
        }
        String problem = checkWhole(all);
        if (problem != null) {
            markDamaged(s, problem);
            throw damaged(s);
        }
        int start = MAGIC.length + 8 + ByteBuffer.wrap(all).getInt(MAGIC.length + 4);
        return Arrays.copyOfRange(all, start, all.length - 4);
    }

    /**
     * A 500 naming the session and what is wrong with its file, not where the file is (the log says that); the session
     * stays listed (as damaged) and every other session is untouched.
     */
    static ApiError damaged(Session s) {
        return new ApiError(500, "server_error", "session", "session_damaged", "session '" + s.id + "' is damaged on disk (its file "
                + s.damage + "); no other session is affected: delete the session, or restore its file from a backup and restart the server", null);
    }

    long damagedCount() {
        return sessions.values().stream().filter(s -> s.damage != null).count();
    }

    void delete(Session s) {
        s.lock.lock();
        try {
            s.deleted = true;
            s.dropLive();
            sessions.remove(s.id);
            Files.deleteIfExists(file(s.id));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + file(s.id), e);
        } finally {
            s.lock.unlock();
        }
    }

    long residentBytes() {
        long sum = 0;
        for (Session s : sessions.values()) {
            if (s.resident) {
                sum += s.stateBytes;
            }
        }
        return sum;
    }

    /** Evicts (to disk: drops the memory copy) sessions idle longer than {@code idleMillis}, then LRU ones above {@code budget}. */
    int evict(long idleMillis, long budget) {
        long now = System.currentTimeMillis();
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
                long bytes = s.stateBytes;
                if (tryDrop(s)) {
                    total -= bytes;
                    evicted++;
                }
            }
        }
        return evicted;
    }

    private static boolean tryDrop(Session s) {
        if (!s.lock.tryLock()) {
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
