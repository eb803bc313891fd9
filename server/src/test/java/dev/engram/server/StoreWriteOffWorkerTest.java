package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.runtime.ModelSequence;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A batched write's state goes to the store off the model worker's thread: while one append's write is held up (a
 * slow disk, Redis far away), a completion on another sequence is answered; the append's own answer and the
 * session's next job wait for the write; a write that fails leaves the session as it was and the next append works.
 */
class StoreWriteOffWorkerTest {
    @TempDir
    Path tmp;

    private static final int[] DOC = {10, 11, 12, 3, 1, 4, 1, 5, 14, 0, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8};
    private static final int[] MORE = {13, 12, 10, 11, 2, 7, 1, 8, 2, 8, 1, 8, 14, 3, 3, 0, 7};

    /** A directory store whose writes, while {@link #hold} is set, wait for {@link #release} (or fail, with {@link #fail}). */
    static final class SlowStore extends DirectorySessionStore {
        final AtomicBoolean hold = new AtomicBoolean();
        final AtomicBoolean fail = new AtomicBoolean();
        volatile CountDownLatch started = new CountDownLatch(1);
        volatile CountDownLatch release = new CountDownLatch(1);
        volatile String writeThread;

        SlowStore(Path dir, String model) {
            super(dir, model);
        }

        @Override
        StoreWrite prepare(Session s, ModelSequence seq, Lease lease) {
            StoreWrite inner = super.prepare(s, seq, lease);
            return new StoreWrite() {
                @Override
                public void write() {
                    writeThread = Thread.currentThread().getName();
                    if (hold.get()) {
                        started.countDown();
                        try {
                            release.await();
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                    if (fail.get()) {
                        throw new java.io.UncheckedIOException(new java.io.IOException("No space left on device"));
                    }
                    inner.write();
                }

                @Override
                public void finish() {
                    inner.finish();
                }
            };
        }
    }

    private static void awaitDepth(Server server, int depth) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (server.defaultQueueDepth() != depth && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertEquals(depth, server.defaultQueueDepth(), "jobs waiting or being stored");
    }

    private Path model;

    private Server start(SlowStore[] store) {
        if (model == null) {
            model = TestModel.create(tmp);
        }
        return Server.start(model, 0, new SessionStoreLocation.Directory(tmp.resolve("data")),
                ServeOptions.defaults().withAccessLog(false),
                b -> b.bind(ServerModule.SessionStoreOpener.class).toInstance((location, model) -> {
                    store[0] = new SlowStore(((SessionStoreLocation.Directory) location).dataDir(), model);
                    return store[0];
                }));
    }

    @Test
    void otherRequestsAreAnsweredWhileAnAppendsStateIsWritten() throws Exception {
        SlowStore[] store = new SlowStore[1];
        try (Server server = start(store)) {
            Http http = new Http(server.uri());
            String id = SessionResourcesTest.create(http, Map.of());
            SessionResourcesTest.append(http, id, DOC);
            assertTrue(store[0].writeThread.startsWith("engram-store-write"), "written off the worker: " + store[0].writeThread);
            Map<String, Object> completion = ServerTest.req("prompt", new int[] {1, 2, 3}, "max_tokens", 12, "temperature", 0);
            String alone = http.post("/v1/completions", completion).json().get("choices").get(0).toString();

            store[0].hold.set(true);
            CompletableFuture<Http.Resp> append = CompletableFuture.supplyAsync(
                    () -> http.post("/v1/sessions/" + id + "/append", Map.of("tokens", MORE)));
            assertTrue(store[0].started.await(30, TimeUnit.SECONDS), "the append's write began");
            CompletableFuture<Http.Resp> next = CompletableFuture.supplyAsync(
                    () -> http.post("/v1/sessions/" + id + "/append", Map.of("tokens", MORE)));
            awaitDepth(server, 2); // the append being stored, and the next one waiting for its session
            // the worker is not held up by the write: another sequence's completion is stepped and answered
            Http.Resp other = CompletableFuture.supplyAsync(() -> http.post("/v1/completions", completion)).get(30, TimeUnit.SECONDS);
            assertEquals(200, other.status(), other.body());
            assertEquals(alone, other.json().get("choices").get(0).toString());
            assertFalse(append.isDone(), "the append is answered only once its state is stored");
            assertFalse(next.isDone(), "the session's next job waits for the write before it");

            store[0].hold.set(false);
            store[0].release.countDown();
            Http.Resp first = append.get(30, TimeUnit.SECONDS);
            assertEquals(200, first.status(), first.body());
            assertEquals(DOC.length + MORE.length, first.json().get("tokens").asInt());
            Http.Resp second = next.get(30, TimeUnit.SECONDS);
            assertEquals(200, second.status(), second.body());
            assertEquals(DOC.length + 2 * MORE.length, second.json().get("tokens").asInt());
        }
    }

    @Test
    void aServerStoppingWhileAStateIsWrittenWaitsForTheWriteAndAnswersIt() throws Exception {
        SlowStore[] store = new SlowStore[1];
        String id;
        Server server = start(store);
        try {
            Http http = new Http(server.uri());
            id = SessionResourcesTest.create(http, Map.of());
            SessionResourcesTest.append(http, id, DOC);
            store[0].hold.set(true);
            CompletableFuture<Http.Resp> append = CompletableFuture.supplyAsync(
                    () -> http.post("/v1/sessions/" + id + "/append", Map.of("tokens", MORE)));
            assertTrue(store[0].started.await(30, TimeUnit.SECONDS), "the append's write began");
            CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
            Thread.sleep(300);
            assertFalse(closing.isDone(), "the server waits for the write in flight");
            store[0].release.countDown();
            Http.Resp r = append.get(30, TimeUnit.SECONDS);
            assertEquals(200, r.status(), r.body());
            closing.get(30, TimeUnit.SECONDS);
        } finally {
            server.close();
        }
        store[0] = null;
        try (Server again = start(store)) { // what was acknowledged is what the next start serves
            assertEquals(DOC.length + MORE.length, new Http(again.uri()).get("/v1/sessions/" + id).json().get("tokens").asInt());
        }
    }

    @Test
    void aWriteThatFailsLeavesTheSessionAsItWas() throws Exception {
        SlowStore[] store = new SlowStore[1];
        try (Server server = start(store)) {
            Http http = new Http(server.uri());
            String id = SessionResourcesTest.create(http, Map.of());
            SessionResourcesTest.append(http, id, DOC);
            Map<String, Object> question = ServerTest.req("prompt", new int[] {10, 11, 12}, "max_tokens", 7, "temperature", 0,
                    "session", id);
            String before = http.post("/v1/completions", question).json().get("choices").get(0).toString();

            store[0].fail.set(true);
            Http.Resp failed = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", MORE));
            assertEquals(500, failed.status(), failed.body());
            assertTrue(failed.body().contains("No space left on device"), failed.body());
            assertEquals(DOC.length, http.get("/v1/sessions/" + id).json().get("tokens").asInt());
            assertEquals(before, http.post("/v1/completions", question).json().get("choices").get(0).toString(),
                    "the state is the one stored before the failed append");

            store[0].fail.set(false);
            Http.Resp again = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", MORE));
            assertEquals(200, again.status(), again.body());
            assertEquals(DOC.length + MORE.length, again.json().get("tokens").asInt());
        }
    }
}
