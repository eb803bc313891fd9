package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.ModelSequence;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The session record: one state stream holding the metadata and the sequence's fields, and the first layout still read. */
class SessionRecordTest {
    @TempDir
    Path tmp;

    @Test
    void aRecordHoldsItsMetadataAndLoadsBackTheSameState() {
        Path model = TestModel.create(tmp);
        try (Engine e = new EngineLoader().systemOverrides(false).load(model)) {
            ModelSequence seq = e.newSequence();
            e.ingest(seq, SessionResourcesTest.CONTEXT);
            SessionRecord.Metadata meta = new SessionRecord.Metadata("sess_x", "tiny-infini", "", Map.of(), 1, seq.position(),
                    seq.stateBytes(), 3, 60, false);
            byte[] record = SessionRecord.encode(meta, seq);
            assertNull(SessionRecord.problem(record));
            assertEquals(meta, SessionRecord.uploaded(record));
            byte[] sequence = seq.snapshot();
            ModelSequence loaded = e.newSequence();
            SessionRecord.load(record, loaded);
            assertArrayEquals(sequence, loaded.snapshot(), "the same state, byte for byte");
        }
    }

    /** A record of the first layout, built here by its documented layout: magic, format 1, metadata, snapshot, CRC32C. */
    static byte[] legacyRecord(String id, byte[] snapshot) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("model", "tiny-infini");
        m.put("owner", "");
        m.put("strategy", Map.of());
        m.put("created", 1_700_000_000L);
        m.put("tokens", SessionResourcesTest.CONTEXT.length);
        m.put("stateBytes", 100);
        m.put("version", 2);
        byte[] json;
        try {
            json = Http.JSON.writeValueAsBytes(m);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer b = ByteBuffer.allocate(16 + json.length + snapshot.length + 4);
        b.put("ENGRAMSV".getBytes(StandardCharsets.US_ASCII)).putInt(1).putInt(json.length).put(json).put(snapshot);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    @Test
    void aDataDirOfTheFirstLayoutIsServedAndRewrittenInTheStateStreamOnItsNextWrite() throws Exception {
        Path model = TestModel.create(tmp);
        byte[] snapshot;
        try (Engine e = new EngineLoader().systemOverrides(false).load(model)) {
            ModelSequence seq = e.newSequence();
            e.ingest(seq, SessionResourcesTest.CONTEXT);
            snapshot = seq.snapshot();
        }
        Path data = tmp.resolve("data");
        Files.createDirectories(data.resolve("sessions"));
        String id = "sess_legacy";
        Path file = data.resolve("sessions").resolve(id + ".session");
        Files.write(file, legacyRecord(id, snapshot));
        try (Server server = Server.start(model, 0, data, ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(server.uri());
            assertEquals(Http.JSON.valueToTree(TestModel.greedy(model, 6, SessionResourcesTest.PROMPT, SessionResourcesTest.CONTEXT)),
                    SessionResourcesTest.ask(http, id).get("token_ids"));
            byte[] exported = http.getBytes("/v1/sessions/" + id + "/export").body();
            assertTrue(new String(exported, 0, 8, StandardCharsets.US_ASCII).equals("ENGRAMSV"), "exported as stored");
            Http.Resp imported = http.postRaw("/v1/sessions/import", exported, "application/octet-stream");
            assertEquals(200, imported.status(), imported.body());
            SessionResourcesTest.append(http, id, SessionResourcesTest.TEXT_A);
            assertEquals("ENGRAMST", new String(Files.readAllBytes(file), 0, 8, StandardCharsets.US_ASCII), "rewritten");
            assertEquals(SessionResourcesTest.ask(http, imported.json().get("id").asText()).get("token_ids"),
                    Http.JSON.valueToTree(TestModel.greedy(model, 6, SessionResourcesTest.PROMPT, SessionResourcesTest.CONTEXT)));
            assertEquals(Http.JSON.valueToTree(TestModel.greedy(model, 6, SessionResourcesTest.PROMPT, SessionResourcesTest.CONTEXT,
                    SessionResourcesTest.TEXT_A)), SessionResourcesTest.ask(http, id).get("token_ids"));
        }
    }

    /** An upload's header is the client's word: a field of the wrong type is refused as unreadable, not a crash. */
    @Test
    void metadataFieldsOfTheWrongTypeAreRefusedNamingTheField() {
        String base = "{\"id\": \"sess_a\", \"model\": \"m\", ";
        for (String[] c : new String[][] {{"\"owner\": 5}", "'owner'"}, {"\"strategy\": 5}", "'strategy'"},
                {"\"strategy\": {\"layers.default.memory\": 1}}", "'strategy'"}, {"\"strategy\": null}", "'strategy'"}}) {
            java.io.IOException e = assertThrows(java.io.IOException.class,
                    () -> SessionRecord.Metadata.fromJson((base + c[0]).getBytes(StandardCharsets.UTF_8)), c[0]);
            assertTrue(e.getMessage().contains(c[1]), e.getMessage());
        }
        SessionRecord.Metadata ok = assertDoesNotThrowMetadata(base + "\"strategy\": {\"layers.default.memory\": \"infini\"}}");
        assertEquals(Map.of("layers.default.memory", "infini"), ok.strategy());
    }

    private static SessionRecord.Metadata assertDoesNotThrowMetadata(String json) {
        try {
            return SessionRecord.Metadata.fromJson(json.getBytes(StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new AssertionError(json + ": " + e.getMessage(), e);
        }
    }
}
