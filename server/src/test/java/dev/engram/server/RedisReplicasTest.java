package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two {@code engram serve} replicas, each its own JVM, sharing sessions in one real Redis (started by {@link RedisServer},
 * append-only file with {@code appendfsync always}). Expected answers come from the runtime directly
 * ({@link TestModel#greedy}: the pieces ingested in order, then greedy generation), or from the same requests through
 * one replica only.
 */
class RedisReplicasTest {
    @RegisterExtension
    static final RedisServer REDIS = new RedisServer();

    /** A killed replica's lease runs out after this, so the tests wait at most this long for it. */
    static final String PARAMS = "timeout_ms=1000&lease_ms=1500";
    static final int[] PROMPT = {2, 4, 8};

    /** The model and the replicas' logs; JUnit deletes it after the replicas are stopped. */
    @TempDir
    static Path tmp;
    static Path model;
    static Replica a;
    static Replica b;

    @BeforeAll
    static void startReplicas() throws Exception {
        model = TestModel.create(tmp);
        a = Replica.spawn(model, REDIS.url(PARAMS), tmp, "a");
        b = Replica.spawn(model, REDIS.url(PARAMS), tmp, "b");
    }

    @AfterAll
    static void stopReplicas() throws Exception {
        for (Replica r : new Replica[] {a, b}) {
            if (r != null) {
                r.close();
            }
        }
    }

    static String create(Http http) {
        Http.Resp r = http.post("/v1/sessions", "");
        assertEquals(200, r.status(), r.body());
        return r.json().get("id").asText();
    }

    static void append(Http http, String id, int[] tokens) {
        Http.Resp r = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", tokens));
        assertEquals(200, r.status(), r.body());
    }

    static JsonNode ask(Http http, String id) {
        Map<String, Object> q = new LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", PROMPT, "max_tokens", 6, "temperature", 0,
                "logprobs", 5, "session", id));
        Http.Resp r = http.post("/v1/completions", q);
        assertEquals(200, r.status(), r.body());
        return r.json().get("choices").get(0);
    }

    static int tokens(Http http, String id) {
        Http.Resp r = http.get("/v1/sessions/" + id);
        assertEquals(200, r.status(), r.body());
        return r.json().get("tokens").asInt();
    }

    /** Piece i of a document: 5 tokens, all different from piece to piece. */
    static int[] piece(int i) {
        return new int[] {(i % 13) + 1, 2, 3, (i * 7) % 16, (i * 5 + 3) % 16};
    }

    static int[][] pieces(int n) {
        int[][] out = new int[n][];
        for (int i = 0; i < n; i++) {
            out[i] = piece(i);
        }
        return out;
    }

    @Test
    void appendsAlternatingBetweenReplicasEqualOneReplicasBitForBit() {
        int[][] doc = {{1, 2, 3, 4, 5}, {6, 7, 8}, {9, 10, 11, 12, 13, 14, 15}, {3, 1, 4, 1, 5, 9, 2, 6}, {5, 3, 5}};
        String alternating = create(a.http());
        String single = create(a.http());
        for (int i = 0; i < doc.length; i++) {
            append((i % 2 == 0 ? a : b).http(), alternating, doc[i]);
            append(a.http(), single, doc[i]);
            // each replica sees the other's appends at once
            assertEquals(tokens(a.http(), single), tokens((i % 2 == 0 ? b : a).http(), alternating));
        }
        JsonNode viaB = ask(b.http(), alternating);
        JsonNode viaA = ask(a.http(), alternating);
        JsonNode oneReplica = ask(a.http(), single);
        // the log-probabilities of every generated token and its top 5 alternatives: the logits, bit for bit
        assertEquals(oneReplica.get("logprobs"), viaB.get("logprobs"));
        assertEquals(oneReplica.get("logprobs"), viaA.get("logprobs"));
        assertArrayEquals(TestModel.greedy(model, 6, PROMPT, doc), Http.ints(viaB.get("token_ids")));

        // a completion that appends to the session (prompt and answer enter its memory) takes the same lease
        Map<String, Object> remember = new LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", new int[] {7, 1, 7}, "max_tokens", 4,
                "temperature", 0, "session_append", true));
        remember.put("session", alternating);
        JsonNode appendedViaB = b.http().post("/v1/completions", remember).json().get("choices").get(0);
        remember.put("session", single);
        JsonNode appendedViaA = a.http().post("/v1/completions", remember).json().get("choices").get(0);
        assertEquals(appendedViaA.get("token_ids"), appendedViaB.get("token_ids"));
        assertEquals(tokens(a.http(), single), tokens(a.http(), alternating));
        assertEquals(ask(a.http(), single).get("logprobs"), ask(a.http(), alternating).get("logprobs"),
                "replica a's copy of the session was replaced by the version b stored");
    }

    @Test
    void concurrentAppendsThroughBothReplicasAddUpExactly() throws Exception {
        String id = create(a.http());
        int rounds = 10;
        int[] fromA = {1, 2, 3};
        int[] fromB = {4, 5};
        List<String> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<Future<?>> both = new ArrayList<>();
        for (Object[] side : new Object[][] {{a, fromA}, {b, fromB}}) {
            both.add(pool.submit(() -> {
                for (int i = 0; i < rounds; i++) {
                    Http.Resp r = ((Replica) side[0]).http().post("/v1/sessions/" + id + "/append", Map.of("tokens", side[1]));
                    if (r.status() != 200) {
                        unexpected.add(r.status() + " " + r.body());
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : both) {
            f.get(120, TimeUnit.SECONDS);
        }
        pool.shutdown();
        assertEquals(List.of(), unexpected, "every append waits for the session's lease and succeeds");
        assertEquals(rounds * (fromA.length + fromB.length), tokens(a.http(), id), "no append lost or doubled");
        assertEquals(rounds * (fromA.length + fromB.length), tokens(b.http(), id));
    }

    @Test
    void aReplicaKilledMidAppendsLosesNoAcknowledgedAppendAndTheSessionGoesOnBitIdentically() throws Exception {
        for (int round = 0; round < 2; round++) {
            String id = create(b.http());
            AtomicInteger acknowledged = new AtomicInteger();
            Replica victim = a;
            Thread appender = new Thread(() -> {
                try {
                    for (int i = 0; i < 200; i++) {
                        Http.Resp r = victim.http().post("/v1/sessions/" + id + "/append", Map.of("tokens", piece(i)));
                        if (r.status() != 200) {
                            return;
                        }
                        acknowledged.incrementAndGet();
                    }
                } catch (UncheckedIOException killed) {
                    // the replica died under this request: it was never acknowledged
                }
            });
            appender.start();
            int killAfter = 3 + 4 * round;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (acknowledged.get() < killAfter && appender.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            victim.kill();
            appender.join(30_000);
            int acked = acknowledged.get();
            assertTrue(acked >= killAfter, "appends before the kill: " + acked);

            int stored = tokens(b.http(), id);
            assertEquals(0, stored % 5, "whole pieces only: " + stored);
            int n = stored / 5;
            assertTrue(n >= acked && n <= acked + 1, n + " pieces stored, " + acked
                    + " acknowledged (the one in flight at the kill may or may not have been stored)");
            assertArrayEquals(TestModel.greedy(model, 6, PROMPT, pieces(n)), Http.ints(ask(b.http(), id).get("token_ids")));
            // the session goes on (after the dead replica's lease runs out, if it held it)
            append(b.http(), id, piece(n));
            assertArrayEquals(TestModel.greedy(model, 6, PROMPT, pieces(n + 1)), Http.ints(ask(b.http(), id).get("token_ids")));
            a = Replica.spawn(model, REDIS.url(PARAMS), tmp, "a" + (round + 1));
            assertArrayEquals(TestModel.greedy(model, 6, PROMPT, pieces(n + 1)), Http.ints(ask(a.http(), id).get("token_ids")),
                    "a replacement replica serves it too");
        }
    }

    @Test
    void redisRestartedLosesNothingAcknowledgedAndRequestsAnswer503WhileItIsDown() throws Exception {
        String id = create(a.http());
        int[][] doc = pieces(4);
        for (int i = 0; i < doc.length; i++) {
            append((i % 2 == 0 ? a : b).http(), id, doc[i]);
        }
        REDIS.kill(); // SIGKILL: what survives is what the append-only file holds
        try {
            for (Replica r : new Replica[] {a, b}) {
                List<Http.Resp> needRedis = List.of(r.http().get("/v1/sessions/" + id),
                        r.http().post("/v1/sessions/" + id + "/append", Map.of("tokens", piece(9))),
                        r.http().post("/v1/completions", Map.of("model", "tiny-infini", "prompt", PROMPT, "session", id)),
                        r.http().post("/v1/sessions", ""));
                for (Http.Resp resp : needRedis) {
                    assertEquals(503, resp.status(), resp.body());
                    assertEquals("session_store_unavailable", resp.json().get("error").get("code").asText(), resp.body());
                    assertTrue(resp.json().get("error").get("message").asText().contains("session store (Redis) is unavailable"));
                    assertEquals("1", resp.headers().firstValue("retry-after").orElse(null));
                }
                // what does not need Redis goes on
                assertEquals(200, r.http().get("/health").status());
                assertEquals(200, r.http().post("/v1/completions", Map.of("model", "tiny-infini", "prompt", PROMPT, "max_tokens", 2)).status());
                String metrics = r.http().get("/metrics").body();
                assertTrue(metrics.contains("engram_session_store_up 0\n"), metrics);
                assertTrue(metrics.contains("engram_sessions{state=\"on_disk\"} NaN\n"), metrics);
            }
        } finally {
            REDIS.start();
        }
        // recovery by itself: the first request after the restart already answers
        assertEquals(20, tokens(a.http(), id));
        assertEquals(20, tokens(b.http(), id));
        assertArrayEquals(TestModel.greedy(model, 6, PROMPT, doc), Http.ints(ask(b.http(), id).get("token_ids")));
        append(a.http(), id, piece(4));
        assertArrayEquals(TestModel.greedy(model, 6, PROMPT, pieces(5)), Http.ints(ask(b.http(), id).get("token_ids")));
        assertTrue(b.http().get("/metrics").body().contains("engram_session_store_up 1\n"));
    }

    /**
     * A bounded load over both replicas: 8 clients for 4 s, each request to the next replica in turn; half ask questions of
     * a session, half append to their own session, and two of them append to one shared session. Only 200 may come back,
     * and afterwards every session holds exactly its acknowledged appends. Figures are printed (server README), not asserted.
     */
    @Test
    void loadOverTwoReplicasHasNoUnexpectedErrorsAndLosesNoAppend() throws Exception {
        int clients = 8;
        long runMillis = 4_000;
        String shared = create(a.http());
        String[] own = new String[clients];
        for (int c = 0; c < clients; c++) {
            own[c] = create(c % 2 == 0 ? a.http() : b.http());
            append(a.http(), own[c], piece(c));
        }
        Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
        List<String> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
        int[] appended = new int[clients];
        AtomicInteger sharedAppended = new AtomicInteger();
        long[][] latencies = new long[clients][];
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(runMillis);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            running.add(pool.submit(() -> {
                long[] took = new long[2_000];
                int n = 0;
                for (int sent = 0; sent < took.length && System.nanoTime() < deadline; sent++) {
                    Http http = (sent + client) % 2 == 0 ? a.http() : b.http();
                    int[] tokens = piece(sent + client);
                    boolean toShared = client >= clients - 2;
                    long t0 = System.nanoTime();
                    Http.Resp r = client % 2 == 0 && !toShared
                            ? http.post("/v1/completions", Map.of("model", "tiny-infini", "prompt", tokens, "max_tokens", 4,
                                    "temperature", 0, "session", own[client]))
                            : http.post("/v1/sessions/" + (toShared ? shared : own[client]) + "/append", Map.of("tokens", tokens));
                    took[n++] = System.nanoTime() - t0;
                    statuses.computeIfAbsent(r.status(), k -> new AtomicInteger()).incrementAndGet();
                    if (r.status() != 200) {
                        unexpected.add(r.status() + " " + r.body());
                    } else if (toShared) {
                        sharedAppended.addAndGet(tokens.length);
                    } else if (client % 2 == 1) {
                        appended[client] += tokens.length;
                    }
                }
                latencies[client] = Arrays.copyOf(took, n);
                return null;
            }));
        }
        for (Future<?> f : running) {
            f.get(runMillis + 120_000, TimeUnit.MILLISECONDS);
        }
        pool.shutdown();
        long[] all = Arrays.stream(latencies).flatMapToLong(Arrays::stream).sorted().toArray();
        System.out.printf("RedisReplicasTest load: %d clients x %.1f s over 2 replicas: statuses %s; %d requests (%.0f/s); latency p50"
                        + " %.1f ms, p99 %.1f ms, max %.1f ms%n", clients, runMillis / 1000.0, statuses, all.length,
                all.length / (runMillis / 1000.0), LoadTest.percentile(all, 0.50) / 1e6, LoadTest.percentile(all, 0.99) / 1e6,
                all[all.length - 1] / 1e6);
        assertEquals(List.of(), unexpected, "only 200 may come back");
        for (int c = 1; c < clients - 2; c += 2) {
            assertEquals(5 + appended[c], tokens(b.http(), own[c]), "client " + c + "'s session holds exactly its acknowledged appends");
        }
        assertEquals(sharedAppended.get(), tokens(a.http(), shared), "the shared session holds exactly both clients' appends");
    }
}
