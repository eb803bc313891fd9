package dev.engram.langchain4j;

import dev.engram.runtime.ModelSequence;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
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
import java.util.zip.CRC32C;

/**
 * Every byte of a conversation that reaches the disk goes through here (one place to change when the sequence's
 * persistence API changes): one file per memory id, {@code DIR/<sha-256 of the id, 32 hex digits>.conversation}, holding
 * a magic, a version, the memory id, the last system message fed (or none), the sequence's snapshot and a CRC32C of
 * all of it. A write goes to a temporary file, is forced to the device and renamed over the old one, so a crash leaves
 * either the previous state or the new one, never a mix.
 */
final class ConversationStore {
    private static final byte[] MAGIC = "ENGRAMLC".getBytes(StandardCharsets.US_ASCII);
    private static final int VERSION = 1;
    private static final String SUFFIX = ".conversation";

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

    /**
     * Restores the conversation {@code memoryId} into {@code into} (a new sequence of the same engine) and returns its
     * metadata, or returns null (and leaves {@code into} alone) when it was never saved.
     */
    Meta load(String memoryId, ModelSequence into) {
        Path f = file(memoryId);
        if (!Files.exists(f)) {
            return null;
        }
        byte[] all;
        try {
            all = Files.readAllBytes(f);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read conversation '" + memoryId + "' from " + f, e);
        }
        if (all.length < MAGIC.length + 8) {
            throw damaged(memoryId, f, "it is " + all.length + " bytes long");
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        if (ByteBuffer.wrap(all).getInt(all.length - 4) != (int) crc.getValue()) {
            throw damaged(memoryId, f, "its checksum does not match");
        }
        try (DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(all, 0, all.length - 4))) {
            byte[] magic = in.readNBytes(MAGIC.length);
            if (!java.util.Arrays.equals(magic, MAGIC) || in.readInt() != VERSION) {
                throw damaged(memoryId, f, "it is not an Engram conversation file of version " + VERSION);
            }
            String id = in.readUTF();
            if (!id.equals(memoryId)) {
                throw damaged(memoryId, f, "it belongs to memory id '" + id + "'");
            }
            String system = in.readBoolean() ? in.readUTF() : null;
            byte[] snapshot = in.readNBytes(in.readInt());
            into.restore(snapshot);
            return new Meta(id, system);
        } catch (EOFException e) {
            throw damaged(memoryId, f, "it is truncated");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes the conversation's state; when this returns, it is on the device. */
    void save(Meta meta, ModelSequence sequence) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.write(MAGIC);
            out.writeInt(VERSION);
            out.writeUTF(meta.memoryId());
            out.writeBoolean(meta.lastSystemMessage() != null);
            if (meta.lastSystemMessage() != null) {
                out.writeUTF(meta.lastSystemMessage());
            }
            byte[] snapshot = sequence.snapshot();
            out.writeInt(snapshot.length);
            out.write(snapshot);
            out.flush();
            CRC32C crc = new CRC32C();
            crc.update(bytes.toByteArray());
            out.writeInt((int) crc.getValue());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path f = file(meta.memoryId());
        Path tmp = f.resolveSibling(f.getFileName() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(bytes.toByteArray());
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save conversation '" + meta.memoryId() + "' to " + f, e);
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
