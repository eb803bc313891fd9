package dev.engram.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Snapshot files written atomically: a crash leaves the old file or the new one, never half of one. */
public final class SnapshotFiles {
    private SnapshotFiles() {
    }

    /** Writes {@code bytes} to a temporary file beside {@code target}, forces it to disk, then renames it over {@code target}. */
    public static void writeAtomically(Path target, byte[] bytes) {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            forceDirectory(dir); // the rename itself must survive a power loss, not just the file's bytes
        } catch (IOException e) {
            throw new UncheckedIOException("writing snapshot " + target + " failed (" + e + "); the previous file,"
                    + " if any, is unchanged", e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed; the stray temp file is harmless and reported by the exception
                }
            }
        }
    }

    public static void write(Path target, Snapshot snapshot) {
        writeAtomically(target, snapshot.toBytes());
    }

    public static Snapshot read(Path source) {
        try {
            return Snapshot.fromBytes(Files.readAllBytes(source));
        } catch (IOException e) {
            throw new UncheckedIOException("reading snapshot " + source + " failed", e);
        }
    }

    /** fsync of the directory entry (Linux, macOS); where a directory cannot be opened for it, nothing more can be done. */
    private static void forceDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Windows cannot open a directory as a channel; its rename is already durable enough for NTFS.
        }
    }
}
