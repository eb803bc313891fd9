package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Redis store in this JVM against a real Redis: fencing (a writer whose lease was taken writes nothing), waiting for a
 * lease, and, through two servers on one Redis, the session limit, API-key isolation and memory eviction as with a
 * directory.
 */
class RedisSessionStoreTest {
    @RegisterExtension
    static final RedisServer REDIS = new RedisServer();

    @TempDir
    Path tmp;

    @BeforeEach
    void emptyRedis() {
        assertEquals("+OK", REDIS.command("FLUSHALL"), "each test starts from an empty Redis (the session limit counts them all)");
    }

    private SessionStoreLocation.Redis location() {
        return (SessionStoreLocation.Redis) SessionStoreLocation.parse(REDIS.url("timeout_ms=1000&lease_ms=5000"));
    }

    @Test
    void aWriterThatLostItsLeaseWritesNothingAndAnswers409() {
        Path model = TestModel.create(tmp);
        try (Engine engine = new EngineLoader().systemOverrides(false).load(model);
             RedisSessionStore one = new RedisSessionStore(location(), "tiny-infini");
             RedisSessionStore two = new RedisSessionStore(location(), "tiny-infini")) {
            Session created = new Session(one.newId(), "", Map.of(), Engines.DEFAULT_STRATEGY, Instant.now().getEpochSecond(), System.currentTimeMillis());
            one.create(created, engine.newSequence(), 100);

            Session viaOne = one.find(created.id);
            SessionStore.Lease first = one.lease(viaOne, 1000);
            one.makeLive(viaOne, engine);
            engine.ingest(viaOne.live, new int[] {1, 2, 3});
            // the first lease runs out (a long pause, say) and another server takes the session
            assertEquals(":1", REDIS.command("DEL engram:tiny-infini:lease:" + created.id));
            Session viaTwo = two.find(created.id);
            SessionStore.Lease second = two.lease(viaTwo, 1000);
            two.makeLive(viaTwo, engine);
            engine.ingest(viaTwo.live, new int[] {4, 5});
            two.persist(viaTwo, viaTwo.live, second);
            second.close();

            ApiError late = assertThrows(ApiError.class, () -> one.persist(viaOne, viaOne.live, first));
            assertEquals(409, late.status);
            assertEquals("session_conflict", late.code);
            assertTrue(late.getMessage().contains("nothing was written"), late.getMessage());
            first.close(); // releases nothing: the lease is not its token's
            assertEquals(2, one.find(created.id).tokens, "the fenced-off write left no trace");
            assertEquals(2, two.find(created.id).version, "created at 1, one write");
            // and the stale copy in the first store is replaced by the stored one before its next use
            viaOne.lock.lock();
            try {
                one.makeLive(viaOne, engine);
                assertEquals(2, viaOne.live.position());
            } finally {
                viaOne.lock.unlock();
            }
        }
    }

    @Test
    void aLeaseWaitsForItsHolderAndGivesUpAtTheDeadline() throws Exception {
        Path model = TestModel.create(tmp);
        try (Engine engine = new EngineLoader().systemOverrides(false).load(model);
             RedisSessionStore one = new RedisSessionStore(location(), "tiny-infini");
             RedisSessionStore two = new RedisSessionStore(location(), "tiny-infini")) {
            Session s = new Session(one.newId(), "", Map.of(), Engines.DEFAULT_STRATEGY, Instant.now().getEpochSecond(), System.currentTimeMillis());
            one.create(s, engine.newSequence(), 100);
            SessionStore.Lease held = one.lease(one.find(s.id), 1000);
            ApiError busy = assertThrows(ApiError.class, () -> two.lease(two.find(s.id), 300));
            assertEquals(503, busy.status);
            assertEquals("session_busy", busy.code);
            java.util.concurrent.atomic.AtomicLong releasedAt = new java.util.concurrent.atomic.AtomicLong(Long.MAX_VALUE);
            Thread release = new Thread(() -> {
                try {
                    Thread.sleep(300);
                } catch (InterruptedException ignored) {
                    // released at once then
                }
                releasedAt.set(System.nanoTime() - 1); // just before: the other lease may be taken the moment it is gone
                held.close();
            });
            release.start();
            SessionStore.Lease next = two.lease(two.find(s.id), 5000);
            assertTrue(System.nanoTime() >= releasedAt.get(), "it was taken only after the holder released it");
            next.close();
            release.join();
        }
    }

    @Test
    void aSlowRedisAnswers503WithinTheTimeoutAndNothingChanges() throws Exception {
        Path model = TestModel.create(tmp);
        SessionStoreLocation quick = SessionStoreLocation.parse(REDIS.url("timeout_ms=300"));
        try (Server server = Server.start(model, 0, quick, ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(server.uri());
            String id = http.post("/v1/sessions", "").json().get("id").asText();
            assertEquals(200, http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {1, 2, 3})).status());
            // Redis busy for 2.5 s (a long command, a fork on a big dataset): every call gives up after 300 ms, so the
            // append is answered while Redis still sleeps (had it waited, Redis would have answered and it would be a 200)
            try (java.net.Socket sleeping = REDIS.send("DEBUG SLEEP 2.5")) {
                Thread.sleep(50); // Redis reads it at once
                Http.Resp append = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {4, 5}));
                assertEquals(503, append.status(), append.body());
                assertEquals("session_store_unavailable", append.json().get("error").get("code").asText());
            }
            while (!"+PONG".equals(REDIS.command("PING"))) {
                Thread.sleep(20); // until Redis woke up
            }
            assertEquals(3, http.get("/v1/sessions/" + id).json().get("tokens").asInt(), "the refused append left nothing");
            assertEquals(200, http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {4, 5})).status());
            assertEquals(5, http.get("/v1/sessions/" + id).json().get("tokens").asInt());
        }
    }

    @Test
    void limitsKeysAndEvictionWorkAcrossServersAsWithADirectory() {
        Path model = TestModel.create(tmp);
        ServeOptions o = ServeOptions.defaults().withAccessLog(false).withApiKey("key-one, key-two").withMaxSessions(3)
                .withSessionMemoryBudget(1);
        try (Server first = Server.start(model, 0, location(), o); Server second = Server.start(model, 0, location(), o)) {
            Http one = new Http(first.uri()).withKey("key-one");
            Http twoOnSecond = new Http(second.uri()).withKey("key-two");
            Http oneOnSecond = new Http(second.uri()).withKey("key-one");
            String id = one.post("/v1/sessions", "").json().get("id").asText();
            int[] doc = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
            assertEquals(200, one.post("/v1/sessions/" + id + "/append", Map.of("tokens", doc)).status());
            // another key sees nothing of it, on either server
            assertEquals(404, twoOnSecond.get("/v1/sessions/" + id).status());
            assertEquals(404, twoOnSecond.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {1})).status());
            assertEquals(404, twoOnSecond.delete("/v1/sessions/" + id).status());
            assertEquals(404, twoOnSecond.post("/v1/completions", Map.of("model", "tiny-infini", "prompt", new int[] {1}, "session", id))
                    .status());
            assertEquals(0, twoOnSecond.get("/v1/sessions").json().get("data").size());
            assertEquals(1, oneOnSecond.get("/v1/sessions").json().get("data").size());
            // the limit counts every server's sessions
            assertEquals(200, twoOnSecond.post("/v1/sessions", "").status());
            assertEquals(200, one.post("/v1/sessions", "").status());
            Http.Resp full = oneOnSecond.post("/v1/sessions", "");
            assertEquals(429, full.status(), full.body());
            assertEquals("too_many_sessions", full.json().get("error").get("code").asText());
            assertTrue(full.json().get("error").get("message").asText().contains("the session store holds 3 sessions (maxSessions 3)"));
            // a budget of 1 byte evicts every session from memory after use; it comes back from Redis intact, on either server
            JsonNode s = one.get("/v1/sessions/" + id).json();
            assertFalse(s.get("resident").asBoolean());
            assertEquals(doc.length, s.get("tokens").asInt());
            int[] prompt = {7, 7};
            for (Http http : new Http[] {one, oneOnSecond}) {
                Http.Resp c = http.post("/v1/completions", Map.of("model", "tiny-infini", "prompt", prompt, "max_tokens", 6,
                        "temperature", 0, "session", id));
                assertEquals(200, c.status(), c.body());
                assertArrayEquals(TestModel.greedy(model, 6, prompt, doc), Http.ints(c.json().get("choices").get(0).get("token_ids")));
            }
            // deleted through one server, gone on the other
            assertEquals(200, oneOnSecond.delete("/v1/sessions/" + id).status());
            assertEquals(404, one.get("/v1/sessions/" + id).status());
            assertEquals(200, oneOnSecond.post("/v1/sessions", "").status(), "room for one more");
        }
    }
}
