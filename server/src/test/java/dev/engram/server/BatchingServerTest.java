package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Completions and session appends are stepped together by the model worker (continuous batching): requests that
 * arrive while the worker is busy all join one batch, and each answers what it answers alone (token ids and text,
 * greedy and seeded sampling, stop strings, echo with log-probabilities), and leaves a session as it leaves it alone;
 * the jobs on one session keep their order; one that times out leaves without disturbing the others.
 */
class BatchingServerTest {
    @TempDir
    Path tmp;

    private static Map<String, Object> req(Object... kv) {
        return ServerTest.req(kv);
    }

    @Test
    void completionsThatWaitTogetherAreSteppedTogetherAndAnswerWhatTheyAnswerAlone() throws Exception {
        List<Map<String, Object>> requests = List.of(
                req("prompt", new int[] {1, 2, 3}, "max_tokens", 30, "temperature", 0),
                req("prompt", new int[] {4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2}, "max_tokens", 25, "temperature", 0.9, "seed", 7),
                req("prompt", new int[] {3}, "max_tokens", 40, "temperature", 1.2, "seed", 11, "top_p", 0.9),
                req("prompt", new int[] {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, "max_tokens", 5,
                        "temperature", 0, "echo", true, "logprobs", 2),
                req("prompt", new int[] {7, 8}, "max_tokens", 35, "temperature", 0.7, "seed", 3, "stop", List.of("a")));
        try (Server server = Server.start(TestModel.create(tmp), 0, tmp.resolve("data"),
                ServeOptions.defaults().withAccessLog(false).withQueueCapacity(16))) {
            Http http = new Http(server.uri());
            List<JsonNode> alone = new ArrayList<>();
            for (Map<String, Object> r : requests) {
                Http.Resp resp = http.post("/v1/completions", r);
                assertEquals(200, resp.status(), resp.body());
                alone.add(resp.json().get("choices").get(0));
            }
            long sharedBefore = server.defaultWorker().sharedSteps();
            // hold the worker so that every request below waits in its queue, then let them all join one batch
            CountDownLatch release = new CountDownLatch(1);
            CompletableFuture<Object> hold = server.defaultWorker().submit(() -> {
                release.await();
                return null;
            });
            // a client thread per request, so that all are in flight at once on any machine (the common pool's size
            // follows the core count, and a request blocks its thread until answered)
            ExecutorService clients = Executors.newFixedThreadPool(requests.size());
            List<CompletableFuture<Http.Resp>> together = new ArrayList<>();
            for (Map<String, Object> r : requests) {
                together.add(CompletableFuture.supplyAsync(() -> http.post("/v1/completions", r), clients));
            }
            clients.shutdown();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (server.defaultQueueDepth() < 1 + requests.size() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1 + requests.size(), server.defaultQueueDepth(), "the held job and every request wait");
            release.countDown();
            hold.get();
            for (int i = 0; i < requests.size(); i++) {
                Http.Resp resp = together.get(i).get();
                assertEquals(200, resp.status(), resp.body());
                JsonNode got = resp.json().get("choices").get(0);
                assertEquals(alone.get(i).toString(), got.toString(), "request " + i + " " + requests.get(i));
            }
            assertTrue(server.defaultWorker().sharedSteps() > sharedBefore, "the waiting completions were stepped together");
        }
    }

    /** A session job (here: a marker job) waits for the jobs before it, not for a generation of a full batch to end. */
    @Test
    void aJobRunsBetweenStepsEvenWhileTheBatchIsFull() throws Exception {
        try (Server server = Server.start(TestModel.create(tmp), 0, tmp.resolve("data"),
                ServeOptions.defaults().withAccessLog(false).withQueueCapacity(64))) {
            Http http = new Http(server.uri());
            ModelWorker worker = server.defaultWorker();
            CountDownLatch release = new CountDownLatch(1);
            CompletableFuture<Object> hold = worker.submit(() -> {
                release.await();
                return null;
            });
            ExecutorService clients = Executors.newFixedThreadPool(ModelWorker.MAX_BATCH); // a thread per request, as above
            List<CompletableFuture<Http.Resp>> generations = new ArrayList<>();
            for (int i = 0; i < ModelWorker.MAX_BATCH; i++) {
                Map<String, Object> r = req("prompt", new int[] {1 + i % 12, 2}, "max_tokens", 60, "temperature", 0.8, "seed", i);
                generations.add(CompletableFuture.supplyAsync(() -> http.post("/v1/completions", r), clients));
            }
            clients.shutdown();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (server.defaultQueueDepth() < 1 + ModelWorker.MAX_BATCH && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1 + ModelWorker.MAX_BATCH, server.defaultQueueDepth(), "the held job and a full batch's worth wait");
            CompletableFuture<int[]> marker = worker.submit(() -> new int[] {worker.generationsRunningNow(), worker.batchSize()});
            release.countDown();
            hold.get();
            assertEquals(ModelWorker.MAX_BATCH, marker.get()[0], "the job ran while the batch was full, before any generation ended");
            assertEquals(ModelWorker.MAX_BATCH, marker.get()[1], "engram_batch_size reports the batch");
            for (CompletableFuture<Http.Resp> g : generations) {
                assertEquals(200, g.get().status(), g.get().body());
            }
        }
    }

    /** A session with {@code doc} appended; its id. */
    private static String sessionWith(Http http, int[] doc) {
        String id = SessionResourcesTest.create(http, Map.of());
        SessionResourcesTest.append(http, id, doc);
        return id;
    }

    /** The request's answer as a comparable string (the choice: token ids, text, log-probabilities), or its error. */
    private static String answer(Http.Resp r) {
        return r.status() == 200 ? r.json().get("choices").get(0).toString() : r.status() + " " + r.body();
    }

    private static final int[] DOC_A = {10, 11, 12, 3, 1, 4, 1, 5, 14, 0, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6};
    private static final int[] DOC_B = {7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5, 9, 0, 4, 5, 2, 3, 5, 3, 6, 10, 11, 12};
    private static final int[] MORE = {13, 12, 10, 11, 2, 7, 1, 8, 2, 8, 1, 8, 14, 3, 3, 0, 7};

    /** Holds the worker with a job until the returned latch is counted down, and waits until {@code waiting} jobs queue behind it. */
    private static CountDownLatch hold(Server server) throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        server.defaultWorker().submit(() -> {
            release.await();
            return null;
        });
        awaitDepth(server, 1);
        return release;
    }

    private static void awaitDepth(Server server, int depth) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (server.defaultQueueDepth() != depth && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertEquals(depth, server.defaultQueueDepth(), "jobs waiting");
    }

    /**
     * Session work joins the batch: questions to one session (on forks of it), a completion that appends to another,
     * an append of a document to a third and a completion without a session are all fed in the same steps, and each
     * answers, and leaves its session, exactly as the same requests one at a time on twin sessions.
     */
    @Test
    void sessionQuestionsAppendsAndCompletionsAreSteppedTogetherAndEachEqualsItAlone() throws Exception {
        try (Server server = Server.start(TestModel.create(tmp), 0, tmp.resolve("data"),
                ServeOptions.defaults().withAccessLog(false).withQueueCapacity(16))) {
            Http http = new Http(server.uri());
            String a = sessionWith(http, DOC_A);
            String b = sessionWith(http, DOC_B);
            String c = sessionWith(http, DOC_A);
            String twinB = sessionWith(http, DOC_B);
            String twinC = sessionWith(http, DOC_A);
            java.util.function.Function<String[], List<Object[]>> requestsOn = ids -> List.of(
                    new Object[] {"/v1/completions", req("prompt", new int[] {10, 11, 12}, "max_tokens", 12, "temperature", 0,
                            "logprobs", 2, "session", ids[0])},
                    new Object[] {"/v1/completions", req("prompt", new int[] {13, 12}, "max_tokens", 20, "temperature", 0.9,
                            "seed", 5, "session", ids[0])},
                    new Object[] {"/v1/completions", req("prompt", new int[] {1, 2, 3, 4, 5}, "max_tokens", 9, "temperature", 0,
                            "session", ids[1], "session_append", true)},
                    new Object[] {"/v1/sessions/" + ids[2] + "/append", Map.of("tokens", MORE)},
                    new Object[] {"/v1/completions", req("prompt", new int[] {3, 1, 4}, "max_tokens", 15, "temperature", 0)});
            // alone, one after another, the writes on the twins
            List<String> alone = new ArrayList<>();
            for (Object[] r : requestsOn.apply(new String[] {a, twinB, twinC})) {
                Http.Resp resp = http.post((String) r[0], r[1]);
                alone.add(r[0].toString().endsWith("/append") ? resp.json().get("appended_tokens").toString() : answer(resp));
            }
            // together: all wait behind a held job, then join one batch
            List<Object[]> requests = requestsOn.apply(new String[] {a, b, c});
            CountDownLatch release = hold(server);
            ExecutorService clients = Executors.newFixedThreadPool(requests.size());
            List<CompletableFuture<Http.Resp>> together = new ArrayList<>();
            for (Object[] r : requests) {
                together.add(CompletableFuture.supplyAsync(() -> http.post((String) r[0], r[1]), clients));
            }
            clients.shutdown();
            awaitDepth(server, 1 + requests.size());
            release.countDown();
            for (int i = 0; i < requests.size(); i++) {
                Http.Resp resp = together.get(i).get();
                String got = requests.get(i)[0].toString().endsWith("/append") ? resp.json().get("appended_tokens").toString() : answer(resp);
                assertEquals(alone.get(i), got, "request " + i);
            }
            assertEquals(requests.size(), server.defaultWorker().widestStep(), "every request was fed in one step");
            // what the writes left: the same state as on the twins (their answers to the same question, logits included)
            assertEquals(SessionResourcesTest.ask(http, twinB).toString(), SessionResourcesTest.ask(http, b).toString());
            assertEquals(SessionResourcesTest.ask(http, twinC).toString(), SessionResourcesTest.ask(http, c).toString());
            assertEquals(http.get("/v1/sessions/" + twinB).json().get("tokens"), http.get("/v1/sessions/" + b).json().get("tokens"));
            assertEquals(http.get("/v1/sessions/" + twinC).json().get("tokens"), http.get("/v1/sessions/" + c).json().get("tokens"));
        }
    }

    /**
     * The jobs on one session keep their order of arrival while batched (a completion that appends, a question, an
     * append, a fork, a question): each sees what the ones before it did, exactly as when sent one at a time, while a
     * question to another session is stepped beside them.
     */
    @Test
    void jobsOnOneSessionKeepTheirOrderWhileOthersGoOn() throws Exception {
        try (Server server = Server.start(TestModel.create(tmp), 0, tmp.resolve("data"),
                ServeOptions.defaults().withAccessLog(false).withQueueCapacity(16))) {
            Http http = new Http(server.uri());
            String s = sessionWith(http, DOC_A);
            String twin = sessionWith(http, DOC_A);
            String other = sessionWith(http, DOC_B);
            java.util.function.Function<String, List<Object[]>> requestsOn = id -> List.of(
                    new Object[] {"/v1/completions", req("prompt", new int[] {1, 2}, "max_tokens", 11, "temperature", 0,
                            "session", id, "session_append", true)},
                    new Object[] {"/v1/completions", req("prompt", new int[] {10, 11, 12}, "max_tokens", 7, "temperature", 0,
                            "logprobs", 1, "session", id)},
                    new Object[] {"/v1/sessions/" + id + "/append", Map.of("tokens", MORE)},
                    new Object[] {"/v1/sessions/" + id + "/fork", Map.of()},
                    new Object[] {"/v1/completions", req("prompt", new int[] {10, 11, 12}, "max_tokens", 7, "temperature", 0,
                            "logprobs", 1, "session", id)});
            List<String> alone = new ArrayList<>();
            for (Object[] r : requestsOn.apply(twin)) {
                alone.add(shape(http.post((String) r[0], r[1])));
            }
            String otherAlone = answer(http.post("/v1/completions", req("prompt", new int[] {4, 4}, "max_tokens", 30,
                    "temperature", 0, "session", other)));
            CountDownLatch release = hold(server);
            ExecutorService clients = Executors.newFixedThreadPool(6);
            List<CompletableFuture<Http.Resp>> sent = new ArrayList<>();
            int depth = 1;
            for (Object[] r : requestsOn.apply(s)) { // one at a time into the queue: that is their order of arrival
                sent.add(CompletableFuture.supplyAsync(() -> http.post((String) r[0], r[1]), clients));
                awaitDepth(server, ++depth);
            }
            CompletableFuture<Http.Resp> otherQuestion = CompletableFuture.supplyAsync(() -> http.post("/v1/completions",
                    req("prompt", new int[] {4, 4}, "max_tokens", 30, "temperature", 0, "session", other)), clients);
            awaitDepth(server, ++depth);
            clients.shutdown();
            release.countDown();
            for (int i = 0; i < sent.size(); i++) {
                assertEquals(alone.get(i), shape(sent.get(i).get()), "request " + i);
            }
            assertEquals(otherAlone, answer(otherQuestion.get()));
            // once the write is stored, the question (on its fork) and the append after it join beside the other
            // session's longer question
            assertEquals(3, server.defaultWorker().widestStep(), "stepped together");
        }
    }

    /** An answer without what differs between twin sessions by construction (ids, timestamps). */
    private static String shape(Http.Resp r) {
        if (r.status() != 200) {
            return r.status() + " " + r.body();
        }
        JsonNode j = r.json();
        if (j.has("choices")) {
            return j.get("choices").get(0).toString();
        }
        return "tokens " + j.get("tokens") + ", footprint " + j.get("footprint_bytes") + ", snapshot " + j.get("snapshot_bytes");
    }

    /**
     * A batched write whose client leaves half-way changes nothing, and the job queued behind it on the same session
     * then runs (the session's lock and key released) and sees the session as it was.
     */
    @Test
    void aWriteWhoseClientLeavesReleasesItsSessionToTheNextJob() throws Exception {
        try (Server server = Server.start(TestModel.create(tmp), 0, tmp.resolve("data"),
                ServeOptions.defaults().withAccessLog(false).withMaxTokens(1_000_000, 8))) {
            Http http = new Http(server.uri());
            String s = sessionWith(http, DOC_A);
            Map<String, Object> question = req("prompt", new int[] {10, 11, 12}, "max_tokens", 7, "temperature", 0,
                    "logprobs", 1, "session", s);
            String before = answer(http.post("/v1/completions", question));
            CountDownLatch release = hold(server);
            java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();
            String body = Http.JSON.writeValueAsString(req("prompt", new int[] {1}, "max_tokens", 1_000_000, "stream", true,
                    "session", s, "session_append", true));
            CompletableFuture<String> writer = CompletableFuture.supplyAsync(() -> {
                try { // streams until its first token, then leaves
                    var r = client.send(java.net.http.HttpRequest.newBuilder(server.uri().resolve("/v1/completions"))
                            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                            java.net.http.HttpResponse.BodyHandlers.ofInputStream());
                    try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(r.body(),
                            java.nio.charset.StandardCharsets.UTF_8))) {
                        return in.readLine();
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            awaitDepth(server, 2);
            CompletableFuture<Http.Resp> next = CompletableFuture.supplyAsync(() -> http.post("/v1/completions", question));
            awaitDepth(server, 3);
            release.countDown();
            assertTrue(writer.get(60, java.util.concurrent.TimeUnit.SECONDS).startsWith("data: "), "the write streamed before its client left");
            assertEquals(before, answer(next.get(60, java.util.concurrent.TimeUnit.SECONDS)),
                    "the job behind the write ran, on the session as it was");
            assertEquals(DOC_A.length, http.get("/v1/sessions/" + s).json().get("tokens").asInt());
            assertEquals(before, answer(http.post("/v1/completions", question)));
        }
    }

    /**
     * Questions to sessions run on forks of their state, and the forks running together stay within the memory budget
     * (--session-memory-bytes): with a budget below one session's state they run one at a time, and answer the same.
     */
    @Test
    void questionForksStayWithinTheMemoryBudget() throws Exception {
        Path model = TestModel.create(tmp);
        for (long budget : new long[] {1L << 30, 1}) {
            Path data = tmp.resolve("data-" + budget);
            try (Server server = Server.start(model, 0, data,
                    ServeOptions.defaults().withAccessLog(false).withSessionMemoryBudget(budget))) {
                Http http = new Http(server.uri());
                List<String> ids = List.of(sessionWith(http, DOC_A), sessionWith(http, DOC_B), sessionWith(http, DOC_A));
                List<Map<String, Object>> questions = new ArrayList<>();
                List<String> alone = new ArrayList<>();
                for (String id : ids) {
                    questions.add(req("prompt", new int[] {10, 11, 12}, "max_tokens", 9, "temperature", 0, "session", id));
                    alone.add(answer(http.post("/v1/completions", questions.get(questions.size() - 1))));
                }
                CountDownLatch release = hold(server);
                ExecutorService clients = Executors.newFixedThreadPool(questions.size());
                List<CompletableFuture<Http.Resp>> together = new ArrayList<>();
                for (Map<String, Object> q : questions) {
                    together.add(CompletableFuture.supplyAsync(() -> http.post("/v1/completions", q), clients));
                }
                clients.shutdown();
                awaitDepth(server, 1 + questions.size());
                release.countDown();
                for (int i = 0; i < questions.size(); i++) {
                    assertEquals(alone.get(i), answer(together.get(i).get()), "budget " + budget + ", question " + i);
                }
                assertEquals(budget == 1 ? 1 : questions.size(), server.defaultWorker().widestStep(), "budget " + budget);
            }
        }
    }

    /** --step-tokens bounds the prompt and append tokens a step feeds: an append's progress comes in steps of at most that. */
    @Test
    void stepTokensBoundWhatAStepFeeds() throws Exception {
        Path model = TestModel.create(tmp);
        // 3, below the model's segment of 4, so that the budget and not the segment cut bounds each step
        for (int stepTokens : new int[] {256, 3}) {
            try (Server server = Server.start(model, 0, tmp.resolve("data-" + stepTokens),
                    ServeOptions.defaults().withAccessLog(false).withStepTokens(stepTokens))) {
                Http http = new Http(server.uri());
                String id = SessionResourcesTest.create(http, Map.of());
                Http.Resp r = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", DOC_A, "stream", true));
                assertEquals(200, r.status(), r.body());
                List<Integer> done = new ArrayList<>();
                for (String line : r.body().split("\n")) {
                    if (line.startsWith("data: {") && line.contains("session.append.progress")) {
                        done.add(Http.JSON.readTree(line.substring(6)).get("tokens_done").asInt());
                    }
                }
                assertEquals(DOC_A.length, done.get(done.size() - 1), "every token fed: " + done);
                int previous = 0;
                for (int d : done) {
                    assertTrue(d > previous && d - previous <= stepTokens, "steps of at most " + stepTokens + ": " + done);
                    previous = d;
                }
                assertEquals(stepTokens >= DOC_A.length, done.size() == 1, "one step only when it all fits: " + done);
                if (stepTokens == 3) {
                    // by hand: 3 tokens from a segment's start, then the 1 left to its boundary (S = 4), and so on
                    List<Integer> want = new ArrayList<>();
                    for (int start = 0; start < DOC_A.length; start += 4) {
                        want.add(start + 3);
                        want.add(start + 4);
                    }
                    assertEquals(want, done);
                }
            }
        }
    }
}
