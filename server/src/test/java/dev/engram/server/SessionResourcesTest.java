package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sessions as a resource (issue 27) on a real server over loopback, with sessions in a directory
 * ({@link RedisSessionResourcesTest} runs the same tests with Redis): fork, export/import (into another server and
 * another JVM), every class of refused import, named checkpoints and rollback (across a restart too), time to live under
 * an injected clock, pinning, per-key quotas, pagination, concurrent fork and append, and the lifecycle metrics.
 */
class SessionResourcesTest {
    static final int[] PROMPT = {2, 4, 8};
    /** 10 tokens: two full segments (S = 4) and 2 pending, so the decode rows of a segment in progress are involved. */
    static final int[] CONTEXT = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    static final int[] TEXT_A = {3, 1, 4};
    static final int[] TEXT_B = {11, 12, 13, 14, 15};

    @TempDir
    Path tmp;
    Path model;
    final List<Server> servers = new ArrayList<>();

    /** A clock the tests move by hand. */
    static final class TestClock extends Clock {
        volatile Instant now = Instant.parse("2026-06-01T12:00:00Z");

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    @BeforeEach
    void model() {
        model = TestModel.create(tmp);
    }

    @AfterEach
    void stop() {
        servers.forEach(Server::close);
    }

    /** Where the sessions of the store called {@code name} live (the same name: the same store, as after a restart). */
    SessionStoreLocation location(String name) {
        return new SessionStoreLocation.Directory(tmp.resolve("data-" + name));
    }

    /** The --session-store value of another, independent store for a server in another JVM. */
    String otherProcessStore() {
        return tmp.resolve("data-replica").toString();
    }

    Server start(String store, ServeOptions options) {
        Server s = Server.start(model, 0, location(store), options.withAccessLog(false));
        servers.add(s);
        return s;
    }

    Http start(String store) {
        return new Http(start(store, ServeOptions.defaults()).uri());
    }

    static String create(Http http, Object body) {
        Http.Resp r = http.post("/v1/sessions", body);
        assertEquals(200, r.status(), r.body());
        return r.json().get("id").asText();
    }

    static JsonNode append(Http http, String id, int[] tokens) {
        Http.Resp r = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", tokens));
        assertEquals(200, r.status(), r.body());
        return r.json();
    }

    /** A greedy question with log-probabilities (the logits, as doubles in JSON, round-trip exact): the session's answer. */
    static JsonNode ask(Http http, String id) {
        Map<String, Object> q = new LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", PROMPT, "max_tokens", 6,
                "temperature", 0, "logprobs", 5, "session", id));
        Http.Resp r = http.post("/v1/completions", q);
        assertEquals(200, r.status(), r.body());
        JsonNode c = r.json().get("choices").get(0);
        return Http.JSON.createObjectNode().<com.fasterxml.jackson.databind.node.ObjectNode>set("token_ids", c.get("token_ids"))
                .set("logprobs", c.get("logprobs"));
    }

    static String fork(Http http, String id) {
        Http.Resp r = http.post("/v1/sessions/" + id + "/fork", "{}");
        assertEquals(200, r.status(), r.body());
        assertEquals(id, r.json().get("forked_from").asText());
        return r.json().get("id").asText();
    }

    static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }

    static Map<String, Double> metrics(Http http) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String line : http.get("/metrics").body().split("\n")) {
            if (!line.startsWith("#") && !line.isBlank()) {
                int sp = line.lastIndexOf(' ');
                out.put(line.substring(0, sp), Double.parseDouble(line.substring(sp + 1)));
            }
        }
        return out;
    }

    @Test
    void aForkDivergesFromItsSourceAndEachEqualsASessionBuiltFromScratch() {
        Http http = start("a");
        String id = create(http, "{}");
        append(http, id, CONTEXT);
        JsonNode before = ask(http, id);

        String branch = fork(http, id);
        assertEquals(CONTEXT.length, http.get("/v1/sessions/" + branch).json().get("tokens").asInt());
        append(http, branch, TEXT_B);
        assertEquals(before, ask(http, id), "the source's logits are unchanged, bit for bit, by what its fork consumed");
        append(http, id, TEXT_A);

        String scratchA = create(http, "{}");
        append(http, scratchA, concat(CONTEXT, TEXT_A));
        String scratchB = create(http, "{}");
        append(http, scratchB, concat(CONTEXT, TEXT_B));
        assertEquals(ask(http, scratchA), ask(http, id));
        assertEquals(ask(http, scratchB), ask(http, branch));
        assertArrayEquals(TestModel.greedy(model, 6, PROMPT, CONTEXT, TEXT_B), Http.ints(ask(http, branch).get("token_ids")),
                "and the runtime, fed the same tokens directly, agrees");
        assertNotEquals(ask(http, id), ask(http, branch), "the two texts lead to different answers (else this test proves little)");

        Map<String, Double> m = metrics(http);
        assertEquals(1.0, m.get("engram_session_events_total{event=\"forked\"}"));
        assertEquals(3.0, m.get("engram_session_events_total{event=\"created\"}"), "the source and the two built from scratch");
        long stored = 0;
        for (JsonNode s : http.get("/v1/sessions").json().get("data")) {
            stored += s.get("snapshot_bytes").asLong() + s.get("checkpoint_bytes").asLong();
        }
        assertEquals((double) stored, m.get("engram_session_stored_bytes"), "stored bytes = the sessions' records and checkpoints");
        assertEquals(4.0, m.get("engram_sessions{state=\"on_disk\"}"));
    }

    @Test
    void anExportImportsIntoAnotherServerInAnotherJvmAndContinuesBitIdentically() throws Exception {
        Http http = start("a");
        String id = create(http, "{}");
        append(http, id, CONTEXT);
        Http.Bytes export = http.getBytes("/v1/sessions/" + id + "/export");
        assertEquals(200, export.status());
        assertEquals(SessionsHandler.EXPORT_TYPE, export.headers().firstValue("Content-Type").orElse(""));
        assertEquals("2", export.headers().firstValue("Engram-State-Format").orElse(""));
        assertEquals(http.get("/v1/sessions/" + id).json().get("snapshot_bytes").asLong(), export.body().length);

        try (Replica other = Replica.spawn(model, otherProcessStore(), tmp, "importer")) {
            Http.Resp imported = other.http().postRaw("/v1/sessions/import", export.body(), "application/octet-stream");
            assertEquals(200, imported.status(), imported.body());
            String copy = imported.json().get("id").asText();
            assertEquals(id, imported.json().get("imported_from").asText());
            assertEquals(CONTEXT.length, imported.json().get("tokens").asInt());
            assertEquals(ask(http, id), ask(other.http(), copy), "the following completion is bit-identical");
            append(http, id, TEXT_A);
            append(other.http(), copy, TEXT_A);
            assertEquals(ask(http, id), ask(other.http(), copy), "and so is what follows more text");
        }
        // and into this server itself, as a new session
        Http.Resp again = http.postRaw("/v1/sessions/import", export.body(), "application/octet-stream");
        assertEquals(200, again.status(), again.body());
        assertNotEquals(id, again.json().get("id").asText());
        assertEquals(1.0, metrics(http).get("engram_session_events_total{event=\"imported\"}"));
        assertEquals(1.0, metrics(http).get("engram_session_events_total{event=\"exported\"}"));
    }

    @Test
    void everyDamagedOrForeignImportIsRefusedNamingWhatAndChangesNothing() throws Exception {
        Http http = start("a");
        String id = create(http, "{}");
        append(http, id, CONTEXT);
        byte[] good = http.getBytes("/v1/sessions/" + id + "/export").body();

        // another model: the same files under another name
        Path otherModel = TestModel.create(tmp.resolve("other"));
        Files.writeString(otherModel.resolve("engram.json"), Files.readString(otherModel.resolve("engram.json"))
                .replace("\"tiny-infini\"", "\"tiny-other\""));
        byte[] otherModelExport;
        try (Server other = Server.start(otherModel, 0, tmp.resolve("data-other"), ServeOptions.defaults().withAccessLog(false))) {
            Http h = new Http(other.uri());
            String o = create(h, "{}");
            append(h, o, CONTEXT);
            otherModelExport = h.getBytes("/v1/sessions/" + o + "/export").body();
        }
        byte[] sequenceSnapshot;
        try (Engine e = new EngineLoader().systemOverrides(false).load(model)) {
            var seq = e.newSequence();
            e.ingest(seq, CONTEXT);
            sequenceSnapshot = seq.snapshot();
        }
        Map<String, byte[]> bad = new LinkedHashMap<>();
        bad.put("model 'tiny-other'", otherModelExport);
        bad.put("format version is 3", withInt(good, 8, 3));
        bad.put("session record layout 2", withInt(good, 8 + 4 + 4 + "session".length(), 2));
        bad.put("truncated", Arrays.copyOf(good, good.length / 2));
        bad.put("truncated ", Arrays.copyOf(good, good.length - 1));
        bad.put("checksum does not match", flipped(good, good.length - 12));
        bad.put("checksum of its header", flipped(good, 40));
        bad.put("not an Engram state stream", "hello, world".getBytes());
        bad.put("holds a 'sequence' state; expected 'session'", sequenceSnapshot);
        bad.put("truncated  ", new byte[0]);

        List<String> sessionsBefore = ids(http);
        Map<String, Double> m0 = metrics(http);
        for (Map.Entry<String, byte[]> c : bad.entrySet()) {
            Http.Resp r = http.postRaw("/v1/sessions/import", c.getValue(), "application/octet-stream");
            assertEquals(400, r.status(), c.getKey() + ": " + r.body());
            assertEquals("snapshot", r.errorParam(), r.body());
            assertTrue(r.json().get("error").get("message").asText().contains(c.getKey().strip()), c.getKey() + ": " + r.body());
        }
        assertEquals(sessionsBefore, ids(http), "no refused import left a session behind");
        assertEquals(m0.get("engram_session_stored_bytes"), metrics(http).get("engram_session_stored_bytes"));

        // another strategy: a server whose memory updates differently refuses it, naming the key
        Path config = tmp.resolve("linear.yaml");
        Files.writeString(config, "layers:\n  \"1\":\n    memory:\n      provider: infini\n      update: linear\n");
        Http linear = new Http(start("linear", ServeOptions.defaults().withConfig(config)).uri());
        Http.Resp r = linear.postRaw("/v1/sessions/import", good, "application/octet-stream");
        assertEquals(400, r.status(), r.body());
        assertEquals("snapshot_mismatch", r.json().get("error").get("code").asText(), r.body());
        assertTrue(r.json().get("error").get("message").asText().contains("layer 1 memory 'infini' was saved with update DELTA (this engine: LINEAR)"), r.body());
        assertEquals(List.of(), ids(linear));
        // while a session created with that strategy as an override travels with it
        String own = create(http, Map.of("strategy", Map.of("layers.1.memory.provider", "infini", "layers.1.memory.update", "linear")));
        append(http, own, CONTEXT);
        Http.Resp ok = linear.postRaw("/v1/sessions/import", http.getBytes("/v1/sessions/" + own + "/export").body(),
                "application/octet-stream");
        assertEquals(200, ok.status(), ok.body());
        assertEquals(ask(http, own), ask(linear, ok.json().get("id").asText()));
    }

    static byte[] withInt(byte[] b, int at, int value) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).putInt(at, value);
        return c;
    }

    static byte[] flipped(byte[] b, int at) {
        byte[] c = b.clone();
        c[at] ^= 0x10;
        return c;
    }

    static List<String> ids(Http http) {
        List<String> out = new ArrayList<>();
        http.get("/v1/sessions").json().get("data").forEach(s -> out.add(s.get("id").asText()));
        return out;
    }

    @Test
    void namedCheckpointsRollBackBitExactlyAndSurviveARestart() {
        Http http = start("a");
        String id = create(http, "{}");
        append(http, id, CONTEXT);
        Http.Resp c1 = http.post("/v1/sessions/" + id + "/checkpoints", Map.of("name", "c1"));
        assertEquals(200, c1.status(), c1.body());
        assertEquals(CONTEXT.length, c1.json().get("tokens").asInt());
        JsonNode atC1 = ask(http, id);
        append(http, id, TEXT_B);
        JsonNode afterB = ask(http, id);
        assertNotEquals(atC1, afterB);

        JsonNode list = http.get("/v1/sessions/" + id + "/checkpoints").json().get("data");
        assertEquals(2, list.size(), list.toString());
        assertEquals("c1", list.get(0).get("name").asText());
        assertEquals("previous", list.get(1).get("name").asText(), "the state before the last append");
        assertEquals(CONTEXT.length, list.get(1).get("tokens").asInt());

        Http.Resp back = http.post("/v1/sessions/" + id + "/rollback", Map.of("checkpoint", "c1"));
        assertEquals(200, back.status(), back.body());
        assertEquals(CONTEXT.length, back.json().get("tokens").asInt());
        assertEquals(atC1, ask(http, id), "rolled back bit for bit");
        assertEquals(200, http.post("/v1/sessions/" + id + "/rollback", "{}").status());
        assertEquals(afterB, ask(http, id), "'previous' undoes the rollback: the state before the last change");

        // regenerate the last answer: a session-appending turn, rolled back, asked again
        Map<String, Object> turn = new LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", PROMPT, "max_tokens", 3,
                "temperature", 0, "session", id, "session_append", true));
        assertEquals(200, http.post("/v1/completions", turn).status());
        assertNotEquals(afterB, ask(http, id));
        assertEquals(200, http.post("/v1/sessions/" + id + "/rollback", "{}").status());
        assertEquals(afterB, ask(http, id), "one turn rolled back");

        assertEquals(400, http.post("/v1/sessions/" + id + "/checkpoints", Map.of("name", "previous")).status());
        assertEquals("name", http.post("/v1/sessions/" + id + "/checkpoints", Map.of("name", "a/b")).errorParam());
        assertEquals(404, http.post("/v1/sessions/" + id + "/rollback", Map.of("checkpoint", "nope")).status());

        servers.remove(0).close();
        Http again = start("a");
        assertEquals(200, again.post("/v1/sessions/" + id + "/rollback", Map.of("checkpoint", "c1")).status());
        assertEquals(atC1.get("token_ids"), ask(again, id).get("token_ids"), "a stored checkpoint restores the same state");
        assertArrayEquals(TestModel.greedy(model, 6, PROMPT, CONTEXT), Http.ints(ask(again, id).get("token_ids")));
        assertEquals(200, again.delete("/v1/sessions/" + id + "/checkpoints/c1").status());
        assertEquals(404, again.post("/v1/sessions/" + id + "/rollback", Map.of("checkpoint", "c1")).status());
        assertEquals(200, again.delete("/v1/sessions/" + id).status());
        assertEquals(0.0, metrics(again).get("engram_session_stored_bytes"), "deleting a session deletes its checkpoints");
    }

    @Test
    void sessionsExpireAfterTheirTimeToLiveUnderAnInjectedClockUnlessPinned() {
        TestClock clock = new TestClock();
        ServeOptions o = ServeOptions.defaults().withSessionPolicy(SessionPolicy.defaults().withDefaultTtl(Duration.ofSeconds(60))
                .withMaxTtl(Duration.ofDays(1)).withClock(clock));
        Http http = new Http(start("a", o).uri());
        String byDefault = create(http, "{}");
        String pinned = create(http, Map.of("pinned", true));
        String ownTtl = create(http, Map.of("ttl_s", 600));
        JsonNode d = http.get("/v1/sessions/" + byDefault).json();
        assertEquals(60, d.get("ttl_s").asInt());
        assertEquals(clock.now.getEpochSecond() + 60, d.get("expires_at").asLong());
        assertTrue(http.get("/v1/sessions/" + pinned).json().get("expires_at").isNull());
        assertEquals("ttl_s", http.post("/v1/sessions", Map.of("ttl_s", 0)).errorParam());
        assertEquals("ttl_s", http.post("/v1/sessions", Map.of("ttl_s", 86401)).errorParam());
        assertEquals("pinned", http.post("/v1/sessions", Map.of("ttl_s", 5, "pinned", true)).errorParam());

        clock.advance(Duration.ofSeconds(50));
        append(http, byDefault, CONTEXT); // a use: its time to live starts again
        clock.advance(Duration.ofSeconds(50));
        assertEquals(200, http.get("/v1/sessions/" + byDefault).status(), "used 50 s ago, ttl 60 s");
        clock.advance(Duration.ofSeconds(61));
        Http.Resp gone = http.get("/v1/sessions/" + byDefault);
        assertEquals(404, gone.status());
        assertTrue(gone.body().contains("expired"), gone.body());
        assertEquals(200, http.get("/v1/sessions/" + pinned).status());
        assertEquals(200, http.get("/v1/sessions/" + ownTtl).status(), "161 s of its 600");
        assertEquals(1.0, metrics(http).get("engram_session_events_total{event=\"expired\"}"));

        // the time to live and the last use survive a restart
        servers.remove(0).close();
        clock.advance(Duration.ofSeconds(599));
        Http again = new Http(start("a", o).uri());
        assertEquals(java.util.Set.of(pinned, ownTtl), java.util.Set.copyOf(ids(again)));
        clock.advance(Duration.ofSeconds(2));
        assertEquals(List.of(pinned), ids(again), "a listing deletes what expired");
        clock.advance(Duration.ofDays(3650));
        assertEquals(200, again.get("/v1/sessions/" + pinned).status(), "a pinned session never expires");
    }

    @Test
    void quotasPerApiKeyOnSessionsAndStoredBytes() {
        ServeOptions keys = ServeOptions.defaults().withApiKeys(List.of("k1", "k2"));
        Http one = new Http(start("a", keys.withSessionPolicy(SessionPolicy.defaults().withQuotas(2, 0))).uri(), "k1");
        Http two = one.withKey("k2");
        String a = create(one, "{}");
        create(one, "{}");
        Http.Resp third = one.post("/v1/sessions", "{}");
        assertEquals(403, third.status(), third.body());
        assertEquals("session_quota_exceeded", third.json().get("error").get("code").asText());
        assertTrue(third.body().contains("quota (maxSessionsPerKey) is 2"), third.body());
        assertEquals(403, one.post("/v1/sessions/" + a + "/fork", "{}").status());
        create(two, "{}");
        assertEquals(404, two.post("/v1/sessions/" + a + "/fork", "{}").status(), "another key's session does not exist for it");
        assertEquals(404, two.getBytes("/v1/sessions/" + a + "/export").status());
        assertEquals(404, two.post("/v1/sessions/" + a + "/checkpoints", Map.of("name", "x")).status());

        long record = one.get("/v1/sessions/" + a).json().get("snapshot_bytes").asLong();
        Http bytes = new Http(start("b", keys.withSessionPolicy(SessionPolicy.defaults().withQuotas(0, 2 * record + record / 2)))
                .uri(), "k1");
        String s = create(bytes, "{}");
        assertEquals(200, bytes.post("/v1/sessions/" + s + "/checkpoints", Map.of("name", "c")).status());
        Http.Resp over = bytes.post("/v1/sessions/" + s + "/fork", "{}");
        assertEquals(403, over.status(), over.body());
        assertEquals("storage_quota_exceeded", over.json().get("error").get("code").asText());
        assertEquals(200, bytes.delete("/v1/sessions/" + s + "/checkpoints/c").status());
        assertEquals(200, bytes.post("/v1/sessions/" + s + "/fork", "{}").status(), "room again");
    }

    @Test
    void listingPagesThroughTheCallersSessionsInCreationOrder() {
        Http http = start("a");
        List<String> created = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            created.add(create(http, "{}"));
        }
        List<String> seen = new ArrayList<>();
        String after = null;
        boolean more = true;
        while (more) {
            JsonNode page = http.get("/v1/sessions?limit=2" + (after == null ? "" : "&after=" + after)).json();
            assertTrue(page.get("data").size() <= 2);
            page.get("data").forEach(s -> seen.add(s.get("id").asText()));
            more = page.get("has_more").asBoolean();
            after = page.get("last_id").asText();
        }
        assertEquals(created.stream().sorted().toList(), seen.stream().sorted().toList());
        assertEquals(5, seen.size());
        assertEquals("after", http.get("/v1/sessions?after=sess_nope").errorParam());
        assertEquals("limit", http.get("/v1/sessions?limit=0").errorParam());
        assertEquals("limt", http.get("/v1/sessions?limt=2").errorParam());
    }

    @Test
    void concurrentForksAndAnAppendOfOneSessionEachSeeAWholeState() throws Exception {
        Http http = start("a");
        String id = create(http, "{}");
        append(http, id, CONTEXT);
        int[] more = IntStream.range(0, 400).map(i -> (i * 7 + 3) % TestModel.VOCAB).toArray();
        String refBefore = create(http, "{}");
        append(http, refBefore, CONTEXT);
        String refAfter = create(http, "{}");
        append(http, refAfter, concat(CONTEXT, more));
        JsonNode before = ask(http, refBefore);
        JsonNode after = ask(http, refAfter);

        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            Future<JsonNode> appended = pool.submit(() -> append(http, id, more));
            List<Future<String>> forks = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                forks.add(pool.submit(() -> fork(http, id)));
            }
            assertEquals(CONTEXT.length + more.length, appended.get().get("tokens").asInt());
            for (Future<String> f : forks) {
                String branch = f.get();
                int tokens = http.get("/v1/sessions/" + branch).json().get("tokens").asInt();
                assertTrue(tokens == CONTEXT.length || tokens == CONTEXT.length + more.length, "tokens " + tokens);
                assertEquals(tokens == CONTEXT.length ? before : after, ask(http, branch));
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(after, ask(http, id));
    }

    @Test
    void sessionJsonCarriesItsLifecycle() {
        Http http = start("a");
        JsonNode s = http.post("/v1/sessions", "{}").json();
        assertFalse(s.get("pinned").asBoolean());
        assertTrue(s.get("ttl_s").isNull(), "no default time to live: sessions live until deleted");
        assertTrue(s.get("expires_at").isNull());
        assertEquals(0, s.get("checkpoint_bytes").asLong());
    }

    /** An exported session's own ttl_s is held to the importing server's --max-session-ttl-s (the upload is not trusted). */
    @Test
    void anImportedTimeToLiveIsClampedToTheServersBound() throws Exception {
        Http http = start("a");
        String id = create(http, "{}");
        append(http, id, CONTEXT);
        byte[] good = http.getBytes("/v1/sessions/" + id + "/export").body();
        byte[] longLived;
        try (Engine e = new EngineLoader().systemOverrides(false).load(model)) {
            var seq = e.newSequence();
            SessionRecord.load(good, seq);
            SessionRecord.Metadata m = SessionRecord.uploaded(good);
            longLived = SessionRecord.encode(new SessionRecord.Metadata(m.id(), m.model(), m.owner(), m.strategy(),
                    m.createdEpochSeconds(), m.tokens(), m.stateBytes(), m.version(), Long.MAX_VALUE / 1000, false), seq);
        }
        Http bounded = new Http(start("bounded", ServeOptions.defaults().withSessionPolicy(
                SessionPolicy.defaults().withMaxTtl(Duration.ofSeconds(3600)))).uri());
        Http.Resp r = bounded.postRaw("/v1/sessions/import", longLived, "application/octet-stream");
        assertEquals(200, r.status(), r.body());
        assertEquals(3600, r.json().get("ttl_s").asLong(), r.body());
        assertEquals(ask(http, id), ask(bounded, r.json().get("id").asText()), "the state itself is imported unchanged");
    }
}
