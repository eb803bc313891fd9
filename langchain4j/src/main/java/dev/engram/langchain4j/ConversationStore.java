package dev.engram.langchain4j;

import dev.engram.api.SnapshotException;
import dev.engram.api.StateStream;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Every byte of a conversation that reaches the disk goes through here: one file per memory id,
 * {@code DIR/<sha-256 of the id, 32 hex digits>.conversation}, in Engram's one state format ({@link StateStream}, kind
 * {@value #KIND}): the memory id, the last system message fed (or none) and the sequence's own stream
 * ({@link ModelSequence#save}, which names the model, its layers and every provider's settings) as one block, under the
 * format's checksum. The two fields are the conversation's, not the sequence's, so they sit beside its stream rather than
 * in its header (which the server's sessions and every saved sequence share). A write goes to a temporary file, is
 * forced to the device and renamed over the old one, so a crash leaves either the previous state or the new one.
 */
final class ConversationStore {
    static final String KIND = "conversation";
    private static final String SUFFIX = ".conversation";
    /** The files of version 1, before this store wrote the state format ({@link #loadLegacy}). */
    private static final byte[] LEGACY_MAGIC = "ENGRAMLC".getBytes(StandardCharsets.US_ASCII);

    private final Path directory;

    ConversationStore(Path directory) {
        this.directory = directory;
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the conversation directory " + directory, e);
        }
    }

    /** What a conversation keeps beside its sequence. */
    record Meta(String memoryId, String lastSystemMessage) {
    }

    Path file(String memoryId) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(memoryId.getBytes(StandardCharsets.UTF_8));
            return directory.resolve(HexFormat.of().formatHex(h, 0, 16) + SUFFIX);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    /** The saved file of the conversation {@code memoryId}, read whole, or null when it was never saved. */
    byte[] read(String memoryId) {
        Path f = file(memoryId);
        try {
            return Files.readAllBytes(f);
        } catch (java.nio.file.NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read conversation '" + memoryId + "' from " + f, e);
        }
    }

    /**
     * Restores the conversation {@code memoryId} from its file's {@code content} ({@link #read}) into {@code into} (a new
     * sequence of the same engine) and returns its metadata. All of it is checked before the sequence changes.
     */
    Meta load(String memoryId, byte[] content, ModelSequence into) {
        Path f = file(memoryId);
        if (content.length >= LEGACY_MAGIC.length
                && java.util.Arrays.equals(content, 0, LEGACY_MAGIC.length, LEGACY_MAGIC, 0, LEGACY_MAGIC.length)) {
            return loadLegacy(memoryId, f, content, into);
        }
        try (InputStream in = new java.io.ByteArrayInputStream(content)) {
            StateStream.Reader r = new StateStream.Reader(in, KIND, "conversation file");
            String id = r.readString("memory id");
            String system = r.readBoolean("system message flag") ? r.readString("system message") : null;
            if (!id.equals(memoryId)) {
                throw damaged(memoryId, f, "it belongs to memory id '" + id + "'");
            }
            // the sequence's own fields to the stream's end and its one checksum: all of it is checked before the
            // sequence changes
            into.loadFields(r);
            return new Meta(id, system);
        } catch (SnapshotException e) {
            throw damaged(memoryId, f, e.getMessage());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read conversation '" + memoryId + "' from " + f, e);
        }
    }

    /**
     * A conversation file of version 1 (before this store wrote the state format): magic "ENGRAMLC", version 1, the
     * memory id, the system message flag and text (Java's modified UTF-8), the sequence's bytes (int length), a CRC32C of
     * all before it. Read so that no saved conversation is lost; the next save writes the state format.
     */
    private static Meta loadLegacy(String memoryId, Path f, byte[] all, ModelSequence into) {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(all, 0, Math.max(0, all.length - 4));
        if (all.length < LEGACY_MAGIC.length + 8 || java.nio.ByteBuffer.wrap(all).getInt(all.length - 4) != (int) crc.getValue()) {
            throw damaged(memoryId, f, "its checksum does not match (a version 1 conversation file)");
        }
        try (java.io.DataInputStream in = new java.io.DataInputStream(new java.io.ByteArrayInputStream(all, 0, all.length - 4))) {
            in.skipNBytes(LEGACY_MAGIC.length);
            if (in.readInt() != 1) {
                throw damaged(memoryId, f, "it is an ENGRAMLC file of an unknown version");
            }
            String id = in.readUTF();
            if (!id.equals(memoryId)) {
                throw damaged(memoryId, f, "it belongs to memory id '" + id + "'");
            }
            String system = in.readBoolean() ? in.readUTF() : null;
            int length = in.readInt();
            if (length < 0) {
                throw damaged(memoryId, f, "its sequence length is " + length + " (a version 1 conversation file)");
            }
            into.restore(in.readNBytes(length));
            return new Meta(id, system);
        } catch (IOException | SnapshotException e) {
            throw damaged(memoryId, f, e.getMessage());
        }
    }

    /** The conversation's file content: its metadata and the sequence's state (the engine's own work: between steps). */
    byte[] encode(Meta meta, ModelSequence sequence) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        StateStream.Writer w = new StateStream.Writer(bytes, KIND);
        w.writeString(meta.memoryId());
        w.writeBoolean(meta.lastSystemMessage() != null);
        if (meta.lastSystemMessage() != null) {
            w.writeString(meta.lastSystemMessage());
        }
        sequence.saveFields(w); // the sequence's fields, then the one checksum
        return bytes.toByteArray();
    }

    /** Writes {@code content} ({@link #encode}) as the conversation's file; when this returns, it is on the device. */
    void write(String memoryId, byte[] content) {
        Path f = file(memoryId);
        Path tmp = f.resolveSibling(f.getFileName() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(content);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new UncheckedIOException("cannot save conversation '" + memoryId + "' to " + f, e);
        }
    }

    private static void deleteQuietly(Path tmp) {
        try {
            Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
            // the failure being reported matters more; a stale .tmp is overwritten by the next save
        }
    }

    /** Removes the conversation's file; false when there was none. */
    boolean delete(String memoryId) {
        try {
            return Files.deleteIfExists(file(memoryId));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete conversation '" + memoryId + "'", e);
        }
    }

    private static IllegalStateException damaged(String memoryId, Path f, String why) {
        return new IllegalStateException("conversation '" + memoryId + "' cannot be restored from " + f + ": " + why
                + "; delete the file (or call forget) to start it anew");
    }
}
