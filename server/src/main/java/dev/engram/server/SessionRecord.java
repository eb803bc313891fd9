package dev.engram.server;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
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
 * One stored session, the same bytes in a session file and in Redis: "ENGRAMSV", int format 1, int metadata length,
 * the metadata JSON (UTF-8), the sequence snapshot (opaque bytes from {@code ModelSequence.snapshot()}), and the
 * CRC32C of everything before it.
 */
final class SessionRecord {
    static final byte[] MAGIC = "ENGRAMSV".getBytes(StandardCharsets.US_ASCII);
    static final int FORMAT = 1;
    /** Bytes before the metadata: the magic, the format and the metadata length. */
    static final int PREFIX = MAGIC.length + 8;
    private static final ObjectMapper JSON = new ObjectMapper();

    private SessionRecord() {
    }

    /**
     * A session's metadata. {@code owner} is the hash of the API key that created it ("" without keys); {@code version}
     * counts the writes of its state (1 at creation), so a server holding a copy can tell whether it is current.
     */
    record Metadata(String id, String model, String owner, Map<String, String> strategy, long createdEpochSeconds, long tokens,
                    long stateBytes, long version) {
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
            try {
                return JSON.writeValueAsBytes(m);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        static Metadata fromJson(byte[] json) throws IOException {
            Map<String, Object> meta = JSON.readValue(json, new TypeReference<>() { });
            @SuppressWarnings("unchecked")
            Map<String, String> strategy = (Map<String, String>) meta.getOrDefault("strategy", Map.of());
            return new Metadata((String) meta.get("id"), (String) meta.get("model"), (String) meta.getOrDefault("owner", ""), strategy,
                    number(meta, "created"), number(meta, "tokens"), number(meta, "stateBytes"), number(meta, "version"));
        }

        private static long number(Map<String, Object> meta, String key) {
            return ((Number) meta.getOrDefault(key, 0)).longValue();
        }
    }

    /** The whole record: prefix, metadata, state, checksum. */
    static byte[] encode(Metadata meta, byte[] state) {
        byte[] m = meta.json();
        ByteBuffer b = ByteBuffer.allocate(PREFIX + m.length + state.length + 4);
        b.put(MAGIC).putInt(FORMAT).putInt(m.length).put(m).put(state);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    /** What is wrong with a whole record's framing and checksum, or null. */
    static String problem(byte[] all) {
        if (all.length < PREFIX + 4) {
            return "is truncated (" + all.length + " bytes)";
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        if (ByteBuffer.wrap(all).getInt(all.length - 4) != (int) crc.getValue()) {
            return "fails its checksum";
        }
        int metaLen = ByteBuffer.wrap(all).getInt(MAGIC.length + 4);
        if (metaLen < 0 || (long) PREFIX + metaLen > all.length - 4) {
            return "has a metadata length of " + metaLen + " in " + all.length + " bytes";
        }
        return null;
    }

    /** The metadata of a record's head (the whole record or its first bytes); an IOException says what is wrong. */
    static Metadata header(byte[] head) throws IOException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(head))) {
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
            return Metadata.fromJson(in.readNBytes(len));
        }
    }

    /** The state bytes of a record whose {@link #problem} is null. */
    static byte[] state(byte[] all) {
        int start = PREFIX + ByteBuffer.wrap(all).getInt(MAGIC.length + 4);
        return Arrays.copyOfRange(all, start, all.length - 4);
    }
}
