package dev.engram.server;

import dev.engram.api.SnapshotFiles;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;

/**
 * Sessions on disk under {@code dataDir/sessions/{id}.session}, one {@link SessionRecord} file each, written atomically
 * ({@link SnapshotFiles#writeAtomically}) before any append or committing completion is acknowledged. The data dir is
 * locked: one server per dir, so this server's worker alone serializes writes and a {@link Lease} is {@link Lease#LOCAL}.
 * Every session is indexed at start.
 */
final class DirectorySessionStore extends SessionStore {
    private static final System.Logger LOG = System.getLogger(DirectorySessionStore.class.getName());
    static final String LOCK_FILE = "engram-serve.lock";

    private final Path dir;
    /** Files in the sessions folder that were not indexed at start: unreadable, or another model's (see the log). */
    private volatile int skippedFiles;
    private final FileChannel lockChannel;
    /** Sessions indexed from their header only, to be checked by {@link #afterReady}. */
    private final List<Session> unverified = new ArrayList<>();

    /** Opens the data dir, locks it (two servers writing one dir would lose each other's appends) and indexes it. */
    DirectorySessionStore(Path dataDir, String model) {
        super(model);
        this.dir = dataDir.resolve("sessions");
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
        try {
            loadIndex();
        } catch (RuntimeException e) {
            close(); // the data-dir lock, so a retry is not told the dir is in use
            throw e;
        }
    }

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
    @Override
    public void close() {
        closeQuietly(lockChannel);
    }

    @Override
    String describe() {
        return "data " + dir.getParent().toAbsolutePath();
    }

    /**
     * Reads every session file and checks its checksum, so a damaged session is known (listed as damaged, counted in
     * /metrics) before anyone uses it. A file whose header cannot be read at all is logged and skipped; neither
     * stops the server.
     */
    private void loadIndex() {
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

    @Override
    int skippedFiles() {
        return skippedFiles;
    }

    /** Checks the files {@link #loadIndex} left unchecked (damage is recorded on the session). */
    @Override
    void afterReady() {
        for (Session s : unverified) {
            if (s.deleted || s.damage != null) {
                continue;
            }
            s.lock.lock();
            try {
                if (!s.deleted && s.live == null) {
                    String problem = SessionRecord.problem(Files.readAllBytes(file(s.id)));
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

    @Override
    boolean hasWorkAfterReady() {
        return !unverified.isEmpty();
    }

    private Session readHeaderOnly(Path f, long size) throws IOException {
        byte[] head;
        try (InputStream in = Files.newInputStream(f)) {
            head = in.readNBytes(SessionRecord.HEAD_BYTES);
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
            String problem = SessionRecord.problem(all);
            if (problem != null) {
                markDamaged(s, problem);
            }
        }
        return s;
    }

    private Session readHeader(Path f, byte[] all) throws IOException {
        SessionRecord.Metadata meta = SessionRecord.header(all);
        if (!model.equals(meta.model())) {
            LOG.log(System.Logger.Level.WARNING, "skipping session file " + f + ": it belongs to model '" + meta.model()
                    + "', not '" + model + "'; ignored");
            return null;
        }
        String id = meta.id();
        if (id == null || !ID.matcher(id).matches() || !f.getFileName().toString().equals(id + ".session")) {
            throw new IOException("id '" + id + "' does not match the file name");
        }
        // the file's modification time is when the session was last used (touch), by the policy's clock
        Session s = new Session(id, meta.owner(), meta.strategy(), Engines.strategyKey(meta.strategy()), meta.createdEpochSeconds(),
                Files.getLastModifiedTime(f).toMillis());
        s.ttlSeconds = meta.ttlSeconds();
        s.pinned = meta.pinned();
        ownTtls |= meta.ttlSeconds() > 0;
        s.checkpointBytes = checkpointDirBytes(id);
        s.tokens = meta.tokens();
        s.stateBytes = meta.stateBytes();
        s.snapshotBytes = all.length;
        s.version = meta.version();
        return s;
    }

    Path file(String id) {
        return dir.resolve(id + ".session");
    }

    /** A session's checkpoints: {@code sessions/ID.checkpoints/NAME.session}, each a {@link SessionRecord}. */
    private Path checkpointDir(String id) {
        return dir.resolve(id + ".checkpoints");
    }

    private Path checkpointFile(String id, String name) {
        return checkpointDir(id).resolve(name + ".session");
    }

    private long checkpointDirBytes(String id) {
        Path d = checkpointDir(id);
        if (!Files.isDirectory(d)) {
            return 0;
        }
        long sum = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(d, "*.session")) {
            for (Path f : files) {
                sum += Files.size(f);
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot list " + d + ": " + e.getMessage());
        }
        return sum;
    }

    @Override
    Session find(String id) {
        return sessions.get(id);
    }

    @Override
    List<Session> list(String owner) {
        return sessions.values().stream().filter(s -> s.owner.equals(owner)).toList();
    }

    @Override
    long count() {
        return sessions.size();
    }

    @Override
    void create(Session s, ModelSequence seq, int maxSessions) {
        checkRoom(maxSessions);
        ownTtls |= s.ttlSeconds > 0;
        write(s, seq, 1);
        s.setLive(seq, 1);
        sessions.put(s.id, s);
    }

    @Override
    Lease lease(Session s, long waitMillis) {
        return Lease.LOCAL;
    }

    @Override
    void persist(Session s, ModelSequence seq, Lease lease) {
        if (!s.deleted) {
            keepAsPrevious(s);
            write(s, seq, s.version + 1);
        }
    }

    /**
     * Makes the session's file, before it is replaced, its checkpoint {@value #PREVIOUS}: a hard link to the same bytes
     * (nothing is copied or serialised), moved into place atomically; a copy where the file system has no links.
     */
    private void keepAsPrevious(Session s) {
        Path target = checkpointFile(s.id, PREVIOUS);
        Path tmp = target.resolveSibling(PREVIOUS + ".session.tmp");
        try {
            Files.createDirectories(target.getParent());
            Files.deleteIfExists(tmp);
            try {
                Files.createLink(tmp, file(s.id));
            } catch (UnsupportedOperationException | IOException noLinks) {
                Files.copy(file(s.id), tmp);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot keep the previous state of session '" + s.id + "'", e);
        }
        s.checkpointBytes = checkpointDirBytes(s.id);
    }

    /** Writes the session's state atomically; returns when it is on disk. Caller holds the lock. */
    private void write(Session s, ModelSequence seq, long version) {
        byte[] record = encode(s, seq, version);
        SnapshotFiles.writeAtomically(file(s.id), record);
        stored(s, seq, version, record.length);
        touch(s);
    }

    @Override
    void touch(Session s) {
        long now = nowMillis();
        s.lastUsedMillis = now;
        try {
            // the file's time is the last use, so a restart knows when the session's time to live runs out
            Files.setLastModifiedTime(file(s.id), FileTime.fromMillis(now));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "cannot set the time of " + file(s.id) + ": " + e.getMessage());
        }
    }

    @Override
    byte[] record(Session s) {
        return checkedRecord(s);
    }

    /** The session's file, checked whole; a damaged one is marked and refused (naming what is wrong). */
    private byte[] checkedRecord(Session s) {
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
        String problem = SessionRecord.problem(all);
        if (problem != null) {
            markDamaged(s, problem);
            throw damaged(s);
        }
        return all;
    }

    @Override
    long saveCheckpoint(Session s, String name, ModelSequence seq) {
        byte[] record = encode(s, seq, s.version);
        try {
            Files.createDirectories(checkpointDir(s.id));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + checkpointDir(s.id), e);
        }
        SnapshotFiles.writeAtomically(checkpointFile(s.id, name), record);
        s.checkpointBytes = checkpointDirBytes(s.id);
        return record.length;
    }

    @Override
    byte[] checkpointRecord(Session s, String name) {
        Path f = checkpointFile(s.id, name);
        try {
            return Files.readAllBytes(f);
        } catch (java.nio.file.NoSuchFileException gone) { // never made, or deleted meanwhile: absent either way
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint '" + name + "' of session '" + s.id + "'", e);
        }
    }

    @Override
    List<CheckpointInfo> checkpoints(Session s) {
        List<CheckpointInfo> out = new ArrayList<>();
        Path d = checkpointDir(s.id);
        if (!Files.isDirectory(d)) {
            return out;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(d, "*.session")) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                name = name.substring(0, name.length() - ".session".length());
                byte[] head;
                long modified;
                long size;
                try (InputStream in = Files.newInputStream(f)) {
                    head = in.readNBytes(SessionRecord.HEAD_BYTES);
                    modified = Files.getLastModifiedTime(f).toMillis() / 1000;
                    size = Files.size(f);
                } catch (java.nio.file.NoSuchFileException gone) { // deleted while listing: not a checkpoint any more
                    continue;
                }
                long tokens;
                try {
                    tokens = SessionRecord.header(head).tokens();
                } catch (IOException e) {
                    tokens = -1; // damaged: listed, and a rollback to it is refused naming what is wrong
                }
                out.add(new CheckpointInfo(name, tokens, modified, size));
            }
        } catch (java.nio.file.NoSuchFileException gone) { // the session was deleted while listing
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the checkpoints of session '" + s.id + "'", e);
        }
        return out;
    }

    @Override
    boolean deleteCheckpoint(Session s, String name) {
        try {
            boolean existed = Files.deleteIfExists(checkpointFile(s.id, name));
            s.checkpointBytes = checkpointDirBytes(s.id);
            return existed;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete checkpoint '" + name + "' of session '" + s.id + "'", e);
        }
    }

    @Override
    Usage usage(String owner) {
        long n = 0;
        long bytes = 0;
        for (Session s : sessions.values()) {
            if (s.owner.equals(owner)) {
                n++;
                bytes += s.snapshotBytes + s.checkpointBytes;
            }
        }
        return new Usage(n, bytes);
    }

    @Override
    long storedBytes() {
        long bytes = 0;
        for (Session s : sessions.values()) {
            bytes += s.snapshotBytes + s.checkpointBytes;
        }
        return bytes;
    }

    @Override
    int expireDue() {
        int n = 0;
        for (Session s : sessions.values()) {
            if (expired(s, s.lastUsedMillis) && s.tryLockIdle()) {
                try {
                    if (!s.deleted && expired(s, s.lastUsedMillis)) {
                        delete(s);
                        expiredCount.incrementAndGet();
                        n++;
                    }
                } finally {
                    s.lock.unlock();
                }
            }
        }
        return n;
    }

    @Override
    State stateIfStale(Session s) {
        if (s.live != null) {
            return null; // this server is the only writer: its copy is always current
        }
        return new State(checkedRecord(s), s.version);
    }

    @Override
    String damageLocation(Session s) {
        return "its file " + file(s.id);
    }

    @Override
    String damageAdvice(Session s) {
        return "on disk (its file " + s.damage + "); no other session is affected: delete the session, or restore its file from a"
                + " backup and restart the server";
    }

    @Override
    String damageSummary(Session s) {
        return "its file " + s.damage + "; delete the session, or restore its file from a backup and restart the server (the check is made once)";
    }

    @Override
    boolean shared() {
        return false;
    }

    @Override
    void delete(Session s) {
        s.lock.lock();
        try {
            // checkpoints first, the session file next, the index last: a failure half-way leaves a session that is
            // still listed and still on disk (deleted again later), never unlisted files outside every quota
            Path d = checkpointDir(s.id);
            if (Files.isDirectory(d)) {
                try (DirectoryStream<Path> files = Files.newDirectoryStream(d)) {
                    for (Path f : files) {
                        Files.deleteIfExists(f);
                    }
                }
                Files.deleteIfExists(d);
            }
            Files.deleteIfExists(file(s.id));
            s.deleted = true;
            s.dropLive();
            sessions.remove(s.id);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + file(s.id), e);
        } finally {
            s.lock.unlock();
        }
    }
}
