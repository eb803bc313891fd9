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
 * Completions without a session are stepped together by the model worker (continuous batching): requests that
 * arrive while the worker is busy all join one batch, and each answers what it answers alone (token ids and text,
 * greedy and seeded sampling, stop strings, echo with log-probabilities); one that times out leaves without
 * disturbing the others.
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
            CompletableFuture<Integer> marker = worker.submit(worker::generationsRunningNow);
            release.countDown();
            hold.get();
            assertEquals(ModelWorker.MAX_BATCH, marker.get(), "the job ran while the batch was full, before any generation ended");
            for (CompletableFuture<Http.Resp> g : generations) {
                assertEquals(200, g.get().status(), g.get().body());
            }
        }
    }
}
