package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bounded load test on loopback: concurrent clients for a fixed time, half sending completions and half
 * appending to sessions of their own, against a deliberately small queue; a client backs off briefly on
 * 429. Prints the status counts and p50/p99 latency of the answered (200) requests. Nothing but 200 and the intended 429 may come back, and afterwards every session holds
 * exactly the tokens of its acknowledged appends (no lost or crossed writes). Latencies are reported, not
 * asserted: timings belong to the benchmarks.
 */
class LoadTest {
    static final int CLIENTS = 8;
    static final long RUN_MILLIS = 4_000;
    static final int MAX_REQUESTS_PER_CLIENT = 400;
    static final long BACKOFF_MILLIS = 20;

    @TempDir
    Path tmp;

    @Test
    void concurrentClientsGetOnly200OrTheIntended429AndNoSessionLosesAnAppend() throws Exception {
        try (Server server = Server.start(TestModel.create(tmp), 0, tmp.resolve("data"),
                ServeOptions.defaults().withAccessLog(false).withQueueCapacity(3))) {
            Http http = new Http(server.uri());
            Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
            List<String> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
            long[][] latencies = new long[CLIENTS][];
            String[] sessions = new String[CLIENTS];
            int[] acknowledged = new int[CLIENTS];
            ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RUN_MILLIS);
            List<Future<?>> running = new ArrayList<>();
            for (int c = 1; c < CLIENTS; c += 2) { // every session exists before the load starts
                Http.Resp created = http.post("/v1/sessions", "");
                assertEquals(200, created.status(), created.body());
                sessions[c] = created.json().get("id").asText();
            }
            for (int c = 0; c < CLIENTS; c++) {
                int client = c;
                boolean appends = c % 2 == 1;
                running.add(pool.submit(() -> {
                    long[] own = new long[MAX_REQUESTS_PER_CLIENT];
                    int n = 0;
                    for (int sent = 0; sent < MAX_REQUESTS_PER_CLIENT && System.nanoTime() < deadline; sent++) {
                        int[] tokens = {1 + client, 2, 3, (sent % 13) + 1};
                        long t0 = System.nanoTime();
                        Http.Resp r = appends
                                ? http.post("/v1/sessions/" + sessions[client] + "/append", Map.of("tokens", tokens))
                                : http.post("/v1/completions", Map.of("model", "tiny-infini", "prompt", tokens,
                                        "max_tokens", 4, "temperature", 0));
                        long took = System.nanoTime() - t0;
                        statuses.computeIfAbsent(r.status(), k -> new AtomicInteger()).incrementAndGet();
                        if (r.status() == 200) {
                            own[n++] = took;
                            if (appends) {
                                acknowledged[client] += tokens.length;
                            }
                        } else if (r.status() == 429) {
                            if (r.headers().firstValue("retry-after").isEmpty()) {
                                unexpected.add("429 without Retry-After");
                            }
                            Thread.sleep(BACKOFF_MILLIS); // a polite client backs off (shorter than Retry-After, to keep the pressure on)
                        } else if (r.status() != 200) {
                            unexpected.add(r.status() + " " + r.body());
                        }
                    }
                    latencies[client] = Arrays.copyOf(own, n);
                    return null;
                }));
            }
            for (Future<?> f : running) {
                f.get(RUN_MILLIS + 60_000, TimeUnit.MILLISECONDS);
            }
            pool.shutdown();

            long[] all = Arrays.stream(latencies).flatMapToLong(Arrays::stream).sorted().toArray();
            System.out.printf("LoadTest: %d clients x %.1f s on loopback, queue 3: statuses %s; latency of the %d "
                    + "answered requests: p50 %.1f ms, p99 %.1f ms, max %.1f ms%n", CLIENTS, RUN_MILLIS / 1000.0, statuses, all.length,
                    percentile(all, 0.50) / 1e6, percentile(all, 0.99) / 1e6, all[all.length - 1] / 1e6);
            assertEquals(List.of(), unexpected, "only 200 and the intended 429 may come back");
            assertTrue(statuses.getOrDefault(200, new AtomicInteger()).get() > CLIENTS, "too few requests succeeded: " + statuses);
            for (int c = 1; c < CLIENTS; c += 2) {
                assertEquals(acknowledged[c], http.get("/v1/sessions/" + sessions[c]).json().get("tokens").asInt(),
                        "session of client " + c + " holds exactly its acknowledged appends");
            }
        }
    }

    static long percentile(long[] sorted, double p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
    }
}
