package dev.engram.server;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateStream;
import dev.engram.runtime.ModelSequence;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * One stored session, the same bytes in a session file, in Redis, in a checkpoint and in an export
 * ({@code GET /v1/sessions/{id}/export}): one {@link StateStream} of kind {@value #KIND}, with one CRC32C at its end:
 * <pre>
 *   "ENGRAMST" | state format version (int, {@link StateStream#FORMAT_VERSION}) | kind "session" (string)
 *   | session record layout (int, {@value #LAYOUT}) | metadata JSON (string: id, model, owner, strategy, created,
 *     tokens, stateBytes, version, ttl_s, pinned)
 *   | running checksum of the header (int: a damaged header is called damaged, not "another model")
 *   | the sequence's fields as {@link ModelSequence#saveFields} writes them (model name, layers, vocabulary, segment
 *     length, every layer's strategy key by key, the state, the pending tokens)
 *   | CRC32C of every byte before it (int)
 * </pre>
 * Records of the first layout ("ENGRAMSV", format 1: a prefix, the metadata, a nested sequence snapshot and a CRC32C)
 * are still read, so a data dir written before keeps working; they are rewritten in this layout on their next write.
 */
final class SessionRecord {
    static final String KIND = "session";
    /** The layout of a session record's own fields inside the state stream; the stream's format version is separate. */
    static final int LAYOUT = 1;
    private static final byte[] STREAM_MAGIC = "ENGRAMST".getBytes(StandardCharsets.US_ASCII);
    /** The first layout's magic, its format, and the bytes before its metadata (magic, format, metadata length). */
    static final byte[] LEGACY_MAGIC = "ENGRAMSV".getBytes(StandardCharsets.US_ASCII);
    private static final int LEGACY_FORMAT = 1;
    private static final int LEGACY_PREFIX = LEGACY_MAGIC.length + 8;
    /** Enough bytes of a record's head to hold its metadata (a string of at most 64 KiB) and the fields before it. */
    static final int HEAD_BYTES = 70_000;
    private static final String WHAT = "session snapshot";
    private static final ObjectMapper JSON = new ObjectMapper();

    private SessionRecord() {
    }

    /**
     * A session's metadata. {@code owner} is the hash of the API key that created it ("" without keys); {@code version}
     * counts the writes of its state (1 at creation), so a server holding a copy can tell whether it is current;
     * {@code ttlSeconds} is how long it lives unused (0: the server's default), {@code pinned} that it never expires.
     */
    record Metadata(String id, String model, String owner, Map<String, String> strategy, long createdEpochSeconds, long tokens,
                    long stateBytes, long version, long ttlSeconds, boolean pinned) {
        Metadata {
            strategy = Map.copyOf(strategy);
        }

        byte[] json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", id);
            m.put("model", model);
            m.put("owner", owner);
            m.put("strategy", strategy);
            m.put("created", createdEpochSeconds);
            m.put("tokens", tokens);
            m.put("stateBytes", stateBytes);
            m.put("version", version);
            m.put("ttl_s", ttlSeconds);
            m.put("pinned", pinned);
            try {
                return JSON.writeValueAsBytes(m);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        static Metadata fromJson(byte[] json) throws IOException {
            Map<String, Object> meta = JSON.readValue(json, new TypeReference<>() { });
            if (!(meta.get("id") instanceof String) || !(meta.get("model") instanceof String)) {
                throw new IOException("its metadata lacks 'id' or 'model'");
            }
            // an upload's header is the client's word (its checksum is no signature): every field is checked by type
            Object owner = meta.getOrDefault("owner", "");
            if (!(owner instanceof String)) {
                throw new IOException("its metadata's 'owner' is not a string");
            }
            Object strategyField = meta.getOrDefault("strategy", Map.of());
            Map<String, String> strategy = new java.util.LinkedHashMap<>();
            if (!(strategyField instanceof Map<?, ?> entries)) {
                throw new IOException("its metadata's 'strategy' is not an object of strings");
            }
            for (Map.Entry<?, ?> e : entries.entrySet()) {
                if (!(e.getValue() instanceof String value)) {
                    throw new IOException("its metadata's 'strategy' is not an object of strings ('" + e.getKey() + "')");
                }
                strategy.put((String) e.getKey(), value);
            }
            return new Metadata((String) meta.get("id"), (String) meta.get("model"), (String) owner, strategy,
                    number(meta, "created"), number(meta, "tokens"), number(meta, "stateBytes"), number(meta, "version"),
                    number(meta, "ttl_s"), Boolean.TRUE.equals(meta.get("pinned")));
        }

        private static long number(Map<String, Object> meta, String key) {
            return meta.get(key) instanceof Number n ? n.longValue() : 0;
        }
    }

    /** The whole record of {@code seq}'s state with {@code meta}, written in one pass. */
    static byte[] encode(Metadata meta, ModelSequence seq) {
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(Integer.MAX_VALUE - 64, seq.stateBytes() + 4096));
        StateStream.Writer w = new StateStream.Writer(out, KIND);
        w.writeInt(LAYOUT);
        w.writeString(new String(meta.json(), StandardCharsets.UTF_8));
        w.writeRunningChecksum();
        seq.saveFields(w);
        return out.toByteArray();
    }

    /** What is wrong with a whole record's framing and checksum, or null (the state itself is checked when loaded). */
    static String problem(byte[] all) {
        boolean legacy = startsWith(all, LEGACY_MAGIC);
        if (all.length < (legacy ? LEGACY_PREFIX : STREAM_MAGIC.length + 8) + 4) {
            return "is truncated (" + all.length + " bytes)";
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        if (ByteBuffer.wrap(all).getInt(all.length - 4) != (int) crc.getValue()) {
            return "fails its checksum";
        }
        if (legacy) {
            int metaLen = ByteBuffer.wrap(all).getInt(LEGACY_MAGIC.length + 4);
            if (metaLen < 0 || (long) LEGACY_PREFIX + metaLen > all.length - 4) {
                return "has a metadata length of " + metaLen + " in " + all.length + " bytes";
            }
        }
        return null;
    }

    private static boolean startsWith(byte[] all, byte[] magic) {
        return all.length >= magic.length && Arrays.equals(all, 0, magic.length, magic, 0, magic.length);
    }

    /**
     * The metadata of a record's head (the whole record or at least its first {@link #HEAD_BYTES}); an IOException says
     * what is wrong: not a session record, another format version or layout, a damaged header (its running checksum).
     */
    static Metadata header(byte[] head) throws IOException {
        if (startsWith(head, LEGACY_MAGIC)) {
            return legacyHeader(head);
        }
        try {
            StateStream.Reader r = new StateStream.Reader(new ByteArrayInputStream(head), KIND, WHAT);
            byte[] json = readHead(r);
            return Metadata.fromJson(json);
        } catch (SnapshotException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** Reads the layout and the metadata JSON of a stream opened on a record, and checks the header's checksum. */
    private static byte[] readHead(StateStream.Reader r) {
        int layout = r.readInt("session record layout");
        if (layout != LAYOUT) {
            throw new SnapshotException(WHAT + " has session record layout " + layout + "; valid: " + LAYOUT
                    + " (this server's)" + (layout > LAYOUT ? ": it was written by a newer Engram" : ""));
        }
        byte[] json = r.readString("metadata").getBytes(StandardCharsets.UTF_8);
        r.checkRunningChecksum("header");
        return json;
    }

    private static Metadata legacyHeader(byte[] head) throws IOException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(head))) {
            in.readNBytes(LEGACY_MAGIC.length);
            int format = in.readInt();
            if (format != LEGACY_FORMAT) {
                throw new IOException("session format " + format + "; this server reads " + LEGACY_FORMAT + " and state format "
                        + StateStream.FORMAT_VERSION);
            }
            int len = in.readInt();
            if (len < 2 || len > (1 << 20)) {
                throw new IOException("metadata length " + len);
            }
            return Metadata.fromJson(in.readNBytes(len));
        }
    }

    /**
     * Replaces {@code seq}'s state with the record's (whose {@link #problem} is null): everything is read and checked
     * (checksum, model, every layer's strategy, each provider's checks) before anything changes; a
     * {@link SnapshotException} names what does not fit and leaves {@code seq} as it was.
     */
    static void load(byte[] all, ModelSequence seq) {
        if (startsWith(all, LEGACY_MAGIC)) {
            int start = LEGACY_PREFIX + ByteBuffer.wrap(all).getInt(LEGACY_MAGIC.length + 4);
            seq.restore(Arrays.copyOfRange(all, start, all.length - 4));
            return;
        }
        StateStream.Reader r = new StateStream.Reader(new ByteArrayInputStream(all), KIND, WHAT);
        readHead(r);
        seq.loadFields(r);
    }

    /**
     * The metadata of an uploaded record ({@code POST /v1/sessions/import}), its header checked: the magic, the state
     * format version, the kind, the layout and the header's checksum; a {@link SnapshotException} says which fails.
     * The rest (model, strategy, state, the whole stream's checksum) is checked by {@link #load}.
     */
    static Metadata uploaded(byte[] all) {
        if (startsWith(all, LEGACY_MAGIC)) {
            String problem = problem(all);
            if (problem != null) {
                throw new SnapshotException(WHAT + " " + problem);
            }
            try {
                return legacyHeader(all);
            } catch (IOException e) {
                throw new SnapshotException(WHAT + ": " + e.getMessage());
            }
        }
        StateStream.Reader r = new StateStream.Reader(new ByteArrayInputStream(all), KIND, WHAT);
        byte[] json = readHead(r);
        try {
            return Metadata.fromJson(json);
        } catch (IOException e) {
            throw new SnapshotException(WHAT + " metadata cannot be read: " + e.getMessage());
        }
    }
}
