package dev.engram.api;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * Engram's one format for saved state: a single provider's {@link Snapshot} ({@link Snapshot#toBytes()}), a whole
 * sequence (the runtime's {@code ModelSequence.save}) and anything that stores either (the server's sessions) all
 * write it. It is streamed: the writer emits each piece as it is given and the reader parses as bytes arrive, with one
 * CRC32C over the whole stream checked at its end.
 *
 * <p>Layout (big-endian), version {@value #FORMAT_VERSION}:
 * <pre>
 *   magic "ENGRAMST" (8 bytes) | format version (int) | content kind (string: "layer" or "sequence")
 *   | the content's fields, in the order its writer gives them | CRC32C of every byte before it (int)
 * </pre>
 * A content may store the running CRC32C after its header as well (an int among its fields), so that a reader can tell
 * a damaged header from a header that does not match before it has read the whole stream.
 * <pre>
 * </pre>
 * A string is an int byte length and UTF-8; a byte block an int length and the bytes; a {@link Snapshot} entry its
 * provider name (string), state version (int), layer shape (5 ints) and payload (byte block).
 *
 * <p>Readers bound every length and read blocks as they arrive (a damaged length cannot make them allocate more than
 * the stream holds), and callers install nothing before {@link Reader#finish()} has checked the checksum, so a
 * truncated or damaged stream changes nothing.
 */
public final class StateStream {
    /** The version of this layout; the state versions of the providers' payloads are separate. */
    public static final int FORMAT_VERSION = 2;
    static final byte[] MAGIC = "ENGRAMST".getBytes(StandardCharsets.US_ASCII);
    private static final int MAX_STRING_BYTES = 1 << 16;

    private StateStream() {
    }

    /** Writes one stream: the header on creation, then fields, then {@link #finish()} for the checksum. */
    public static final class Writer {
        private final CheckedOutputStream checked;
        private final DataOutputStream out;

        /** Starts a stream of {@code kind} on {@code sink} (which is flushed, not closed, by {@link #finish()}). */
        public Writer(OutputStream sink, String kind) {
            // the checksum sits above the buffer, so it covers exactly the bytes written
            this.checked = new CheckedOutputStream(new java.io.BufferedOutputStream(sink, 1 << 16), new CRC32C());
            this.out = new DataOutputStream(checked);
            try {
                out.write(MAGIC);
                out.writeInt(FORMAT_VERSION);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            writeString(kind);
        }

        public Writer writeInt(int v) {
            try {
                out.writeInt(v);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        public Writer writeLong(long v) {
            try {
                out.writeLong(v);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        public Writer writeBoolean(boolean v) {
            return writeInt(v ? 1 : 0);
        }

        public Writer writeString(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            if (b.length > MAX_STRING_BYTES) {
                throw new IllegalArgumentException("a state stream string is at most " + MAX_STRING_BYTES + " bytes");
            }
            return writeBytes(b);
        }

        public Writer writeBytes(byte[] b) {
            try {
                out.writeInt(b.length);
                out.write(b);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        public Writer writeSnapshot(Snapshot s) {
            writeString(s.provider());
            writeInt(s.stateVersion());
            LayerSpec spec = s.spec();
            writeInt(spec.heads()).writeInt(spec.kvHeads()).writeInt(spec.keyDim()).writeInt(spec.valueDim())
                    .writeInt(spec.modelDim());
            return writeBytes(s.payload());
        }

        /**
         * Writes the running checksum of everything so far, for a reader to check a header with
         * {@link Reader#checkRunningChecksum} before it reports a mismatch in it (a damaged header is then called
         * damaged, not "another model"). The same running CRC32C goes on to the end.
         */
        public Writer writeRunningChecksum() {
            return writeInt((int) checked.getChecksum().getValue());
        }

        /** Appends the checksum of everything written and flushes. Write nothing after it. */
        public void finish() {
            try {
                out.writeInt((int) checked.getChecksum().getValue());
                out.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Reads one stream written by {@link Writer}. Every defect is a {@link SnapshotException} naming what is wrong. */
    public static final class Reader {
        private final CheckedInputStream checked;
        private final DataInputStream in;
        private final String what;

        /**
         * Opens a stream of {@code expectedKind} from {@code source}: checks the magic, the format version and the
         * kind. {@code what} names the stream in messages ("snapshot", "sequence snapshot").
         */
        public Reader(InputStream source, String expectedKind, String what) {
            // the checksum sits above the buffer, so it covers exactly the bytes consumed, never a read-ahead
            this.checked = new CheckedInputStream(new java.io.BufferedInputStream(source, 1 << 16), new CRC32C());
            this.in = new DataInputStream(checked);
            this.what = what;
            byte[] magic = new byte[MAGIC.length];
            readFully(magic, "magic");
            if (!Arrays.equals(magic, MAGIC)) {
                throw new SnapshotException(what + " does not start with ENGRAMST: not an Engram state stream"
                        + legacyHint(magic));
            }
            int version = readInt("format version");
            if (version != FORMAT_VERSION) {
                throw new SnapshotException(what + " format version is " + version + "; valid: " + FORMAT_VERSION
                        + " (this Engram's state format)" + (version > FORMAT_VERSION
                        ? ": it was written by a newer Engram; load it with that version or newer" : ""));
            }
            String kind = readString("kind");
            if (!kind.equals(expectedKind)) {
                throw new SnapshotException(what + " holds a '" + kind + "' state; expected '" + expectedKind + "'");
            }
        }

        private void readFully(byte[] b, String field) {
            try {
                in.readFully(b);
            } catch (EOFException e) {
                throw new SnapshotException(what + " is truncated (at " + field + ")", e);
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + what + " failed at " + field, e);
            }
        }

        public int readInt(String field) {
            try {
                return in.readInt();
            } catch (EOFException e) {
                throw new SnapshotException(what + " is truncated (at " + field + ")", e);
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + what + " failed at " + field, e);
            }
        }

        public long readLong(String field) {
            try {
                return in.readLong();
            } catch (EOFException e) {
                throw new SnapshotException(what + " is truncated (at " + field + ")", e);
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + what + " failed at " + field, e);
            }
        }

        public boolean readBoolean(String field) {
            int v = readInt(field);
            if (v != 0 && v != 1) {
                throw new SnapshotException(what + " " + field + " is " + v + "; valid: 0 or 1 (the stream is damaged)");
            }
            return v == 1;
        }

        public String readString(String field) {
            return new String(readBytes(field, MAX_STRING_BYTES), StandardCharsets.UTF_8);
        }

        /** A block of at most {@code maxLength} bytes, read as it arrives (never allocated up front from its length). */
        public byte[] readBytes(String field, int maxLength) {
            int length = readInt(field + " length");
            if (length < 0 || length > maxLength) {
                throw new SnapshotException(what + " " + field + " length is " + length + "; valid: [0, " + maxLength
                        + "] (the stream is damaged)");
            }
            try {
                byte[] b = in.readNBytes(length);
                if (b.length != length) {
                    throw new SnapshotException(what + " is truncated (" + field + " has " + b.length + " of its "
                            + length + " bytes)");
                }
                return b;
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + what + " failed at " + field, e);
            }
        }

        public Snapshot readSnapshot(String field) {
            String provider = readString(field + ".provider");
            if (provider.isEmpty()) {
                throw new SnapshotException(what + " " + field + ".provider is empty (the stream is damaged)");
            }
            int stateVersion = readInt(field + ".stateVersion");
            LayerSpec spec;
            int[] s = new int[5];
            for (int i = 0; i < 5; i++) {
                s[i] = readInt(field + ".spec");
            }
            try {
                spec = new LayerSpec(s[0], s[1], s[2], s[3], s[4]);
            } catch (InvalidInputException e) {
                throw new SnapshotException(what + " " + field + ".spec is invalid: " + e.getMessage(), e);
            }
            byte[] payload = readBytes(field + ".payload", Integer.MAX_VALUE - 16);
            return new Snapshot(provider, stateVersion, spec, payload);
        }

        /** Checks a {@link Writer#writeRunningChecksum()}: everything read so far is undamaged. */
        public void checkRunningChecksum(String section) {
            int computed = (int) checked.getChecksum().getValue();
            int stored = readInt(section + " checksum");
            if (stored != computed) {
                throw new SnapshotException(what + " checksum of its " + section + " does not match: the stream is damaged");
            }
        }

        /**
         * Checks the checksum of everything read against the one stored after it, and that nothing follows it when
         * {@code requireEnd}. Call it after the last field and before installing anything read.
         */
        public void finish(boolean requireEnd) {
            int computed = (int) checked.getChecksum().getValue();
            int stored = readTail();
            if (stored != computed) {
                throw new SnapshotException(what + " checksum does not match its contents: the stream is damaged");
            }
            if (requireEnd) {
                try {
                    if (in.read() != -1) {
                        throw new SnapshotException(what + " has bytes after its checksum: the stream is damaged");
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException("reading " + what + " failed after its checksum", e);
                }
            }
        }

        private int readTail() {
            try {
                return in.readInt();
            } catch (EOFException e) {
                throw new SnapshotException(what + " is truncated (at its checksum)", e);
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + what + " failed at its checksum", e);
            }
        }
    }

    /** For a stream in one of the formats before this one: which, so a refusal can say what it is. */
    static String legacyHint(byte[] magic) {
        String m = new String(magic, StandardCharsets.US_ASCII);
        return switch (m) {
            case "ENGRAMSS" -> " (it is a provider snapshot of format version 1, from Engram before state format 2)";
            case "ENGRAMSQ" -> " (it is a layer-stack snapshot of format version 1, from Engram before state format 2)";
            case "ENGRAMMS" -> " (it is a sequence snapshot of format version 1, from Engram before state format 2)";
            default -> "";
        };
    }

    /** Bytes of a stream written into memory, for callers that need an array (small states, tests). */
    public static byte[] toBytes(java.util.function.Consumer<OutputStream> write) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        write.accept(bytes);
        return bytes.toByteArray();
    }
}
