package dev.engram.cli.bench;

import dev.engram.cli.strategy.MemoryStrategy;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.cli.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bench's plumbing on the runtime's tiny package (2 layers, H=2, G=1, e=8, S=4); speeds are not asserted. */
class BenchCommandTest {
    private static final Path TINY = Path.of("..", "runtime-onnx", "src", "test", "resources", "models", "tiny");
    private static final Path BUNDLED_WINDOW = Path.of("..", "models", "passkey-window");
    private static final List<String> STRATEGIES = List.of("full", "window", "infini", "continuous", "lsh-knn");
    private static final List<Integer> LENGTHS = List.of(16, 40);

    @TempDir
    Path dir;

    private String[] run(String... args) {
        CliRun r = CliRun.of(args);
        assertEquals(0, r.exit(), r.all());
        return new String[] {r.out(), r.err()};
    }

    @Test
    void tableJsonAndChartsHoldEveryStrategyAndLength() throws Exception {
        String[] r = run("bench", "--model", TINY.toString(), "--strategies", String.join(",", STRATEGIES) + ",lsh",
                "--lengths", "16,40", "--out", dir.toString(), "--no-peer", "--no-progress", "--decode-tokens", "2",
                "--decode-runs", "3", "--threads", "1");
        String table = r[0];
        JsonNode root = new ObjectMapper().readTree(dir.resolve("bench.json").toFile());
        Set<String> seen = new HashSet<>();
        // before the timed decode runs each strategy decoded until the JIT settled: at least the minimum, at most the cap
        for (String s : STRATEGIES) {
            int warm = root.path("decodeWarmUpTokens").path(s).asInt(-1);
            assertTrue(warm >= EngramRunner.DECODE_WARM_UP_MIN_TOKENS && warm <= EngramRunner.DECODE_WARM_UP_MAX_TOKENS,
                    s + ": decode warm-up " + warm + " tokens");
        }
        for (JsonNode row : root.path("results")) {
            String s = row.path("strategy").asText();
            int len = row.path("length").asInt();
            if (s.equals("lsh")) {
                // the tiny model has kvHeads 1 < heads 2; lsh (shared QK, one v per query head) cannot run it
                assertTrue(row.path("skipped").asText().contains("cannot load") || row.path("skipped").asText().contains("failed"),
                        row.toString());
                continue;
            }
            seen.add(s + "@" + len);
            assertFalse(row.has("skipped"), row.toString());
            for (String f : List.of("ingestTokensPerSecond", "decodeMillisPerToken", "stateBytes", "heapBytes", "rssBytes",
                    "segmentMillis", "pluginShare")) {
                assertTrue(row.path(f).asDouble() > 0, s + " " + len + " " + f + " = " + row.path(f));
            }
            assertTrue(row.path("pluginShare").asDouble() < 1, row.toString());
            // three decode runs: the figure is their median, the spread (slowest - fastest) / median
            double[] runs = new double[3];
            assertEquals(3, row.path("decodeRunMillis").size(), row.toString());
            for (int i = 0; i < 3; i++) {
                runs[i] = row.path("decodeRunMillis").get(i).asDouble();
                assertTrue(runs[i] > 0, row.toString());
            }
            // the first token after the context is timed alone, apart from the runs
            assertTrue(row.path("firstDecodeMillis").asDouble() > 0, row.toString());
            java.util.Arrays.sort(runs);
            assertEquals(runs[1], row.path("decodeMillisPerToken").asDouble(), 0, row.toString());
            assertEquals((runs[2] - runs[0]) / runs[1], row.path("decodeSpread").asDouble(), 1e-12, row.toString());
            // ORT's and the plugins' times are disjoint parts of each segment's wall time; ORT's is a difference
            // of Engine.onnxNanos() around one ingest, so a total carried over from earlier runs would exceed 1
            double onnx = row.path("onnxShare").asDouble(-1);
            double outside = row.path("outsideOnnxShare").asDouble(-1);
            assertTrue(onnx > 0 && onnx < 1, row.toString());
            assertTrue(outside > 0 && outside < 1, row.toString());
            assertEquals(1.0, onnx + outside, 1e-9, row.toString());
            assertTrue(onnx + row.path("pluginShare").asDouble() <= 1.01, "ORT + plugins > segment: " + row);
            assertTrue(outside >= row.path("pluginShare").asDouble() - 0.01, "outside ORT < plugins: " + row);
            assertEquals("float32", row.path("weights").asText(), row.toString());
            assertTrue(table.lines().anyMatch(l -> l.matches("\\| " + s + " +\\| float32 +\\| +" + len + " +\\|.*")), s + " " + len + "\n" + table);
        }
        for (String s : STRATEGIES) {
            for (int len : LENGTHS) {
                assertTrue(seen.contains(s + "@" + len), "missing " + s + " " + len + " in " + seen);
            }
        }
        // window and infini keep a state that does not grow with the context; full attention's cache does
        assertEquals(stateBytes(root, "infini", 16), stateBytes(root, "infini", 40));
        assertEquals(stateBytes(root, "window", 16), stateBytes(root, "window", 40));
        assertTrue(stateBytes(root, "full", 40) > stateBytes(root, "full", 16));
        assertTrue(table.contains("PyTorch peer: not run (--no-peer)"), table);
        assertTrue(root.path("command").asText().startsWith("engram bench --model "), root.path("command").asText());
        assertFalse(root.path("peer").path("ran").asBoolean());
        for (String png : List.of("tokens-per-second.png", "memory-state.png", "resident-memory.png")) {
            byte[] b = Files.readAllBytes(dir.resolve(png));
            assertTrue(b.length > 1000 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G', png);
        }
        // the random provider weights went into a copy, not into the source package
        assertTrue(Files.exists(dir.resolve("model-tiny-filled").resolve("memory.safetensors")));
    }

    @Test
    void aFolderOfPackagesBenchesEachIntoItsOwnFolder() throws Exception {
        Path models = dir.resolve("models");
        copy(TINY, models.resolve("a"));
        copy(TINY, models.resolve("b"));
        Files.createDirectories(models.resolve("not-a-package"));
        Path out = dir.resolve("out");
        String[] r = run("bench", "--model", models.toString(), "--model", TINY.toString(), "--strategies", "window",
                "--lengths", "8", "--out", out.toString(), "--no-peer", "--no-progress", "--decode-tokens", "1",
                "--threads", "1");
        for (String name : List.of("a", "b", "tiny")) {
            JsonNode root = new ObjectMapper().readTree(out.resolve(name).resolve("bench.json").toFile());
            assertTrue(root.path("model").path("package").asText().endsWith(name), root.path("model").toString());
            assertEquals(1, root.path("results").size());
        }
        assertFalse(Files.exists(out.resolve("not-a-package")));
        assertEquals(3, r[0].lines().filter(l -> l.startsWith("== ")).count(), r[0]);
    }

    @Test
    void withoutDecodeTheFirstTokenIsNeitherTimedNorWritten() throws Exception {
        Path out = dir.resolve("no-decode");
        String[] r = run("bench", "--model", TINY.toString(), "--strategies", "window", "--lengths", "8", "--out",
                out.toString(), "--no-peer", "--no-progress", "--decode-tokens", "0", "--threads", "1");
        JsonNode root = new ObjectMapper().readTree(out.resolve("bench.json").toFile());
        JsonNode row = root.path("results").get(0);
        assertFalse(row.has("firstDecodeMillis"), row.toString());
        assertEquals(0, root.path("decodeWarmUpTokens").path("window").asInt(-1), "no decode, no decode warm-up");
        String line = r[0].lines().filter(l -> l.startsWith("| window ")).findFirst().orElseThrow();
        assertEquals("-", line.split("\\|")[5].trim(), line); // the "first tok ms" column
    }

    @Test
    void concurrencyLevelsAreInTheTableJsonAndCharts() throws Exception {
        Path out = dir.resolve("served");
        String[] r = run("bench", "--model", TINY.toString(), "--strategies", "window,infini", "--lengths", "10",
                "--concurrency", "3,2", "--concurrency-steps", "6", "--out", out.toString(), "--no-peer", "--no-progress",
                "--decode-tokens", "1", "--threads", "1");
        JsonNode root = new ObjectMapper().readTree(out.resolve("bench.json").toFile());
        assertEquals("[1,2,3]", root.path("concurrencyLevels").toString(), "level 1 added, sorted");
        JsonNode levels = root.path("concurrency");
        assertEquals(6, levels.size(), levels.toString());
        for (JsonNode c : levels) {
            String what = c.toString();
            int sessions = c.path("sessions").asInt();
            assertFalse(c.has("skipped"), what);
            // session i ingests 10 + i * 4 / sessions tokens (segments of 4): the stagger, summed
            int context = 0;
            for (int i = 0; i < sessions; i++) {
                context += 10 + i * 4 / sessions;
            }
            assertEquals(context, c.path("contextTokens").asInt(), what);
            assertEquals(6, c.path("decodeSteps").asInt(), what);
            for (String f : List.of("ingestTokensPerSecond", "decodeTokensPerSecond", "p50Millis", "p99Millis")) {
                assertTrue(c.path(f).asDouble() > 0, f + ": " + what);
            }
            assertTrue(c.path("p99Millis").asDouble() >= c.path("p50Millis").asDouble(), what);
            JsonNode steps = c.path("stepMillis"); // every step, in order: the p99 is the largest of 6 here
            assertEquals(6, steps.size(), what);
            double slowest = 0;
            for (JsonNode ms : steps) {
                slowest = Math.max(slowest, ms.asDouble());
            }
            assertEquals(c.path("p99Millis").asDouble(), slowest, 1e-9, what);
            double outside = c.path("ingestOutsideOnnxShare").asDouble(-1);
            assertTrue(outside > 0 && outside < 1, what);
            // the batched results are each session's alone, bit for bit (Engine.forwardBatch)
            assertEquals(0.0, c.path("maxDiffVsAlone").asDouble(-1), what);
            if (sessions == 1) { // the single-session row is its own reference
                assertEquals(1.0, c.path("decodeVsSingle").asDouble(), 1e-12, what);
                assertEquals(1.0, c.path("p99VsSingle").asDouble(), 1e-12, what);
            } else {
                assertTrue(c.path("decodeVsSingle").asDouble() > 0 && c.path("p99VsSingle").asDouble() > 0, what);
            }
            String s = c.path("strategy").asText();
            assertTrue(r[0].lines().anyMatch(l -> l.matches("\\| " + s + " +\\| " + sessions + " +\\| +" + c.path("contextTokens").asInt() + " +\\|.*")),
                    s + " x" + sessions + "\n" + r[0]);
        }
        for (String png : List.of("concurrency-throughput.png", "concurrency-latency.png")) {
            byte[] b = Files.readAllBytes(out.resolve(png));
            assertTrue(b.length > 1000 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G', png);
        }
    }

    @Test
    void aBadConcurrencyLevelIsRefusedByName() {
        CliRun r = CliRun.of("bench", "--model", TINY.toString(), "--concurrency", "1,0", "--out", dir.resolve("o").toString(),
                "--no-peer");
        assertTrue(r.exit() != 0, r.all());
        assertTrue(r.err().contains("--concurrency[1]") && r.err().contains("1-256"), r.all());
    }

    @Test
    void bfloat16CacheVariantsRunBesideTheFloat32OnesWithHalfTheCacheBytes() throws Exception {
        run("bench", "--model", TINY.toString(), "--strategies", "full,full-bf16", "--lengths", "40", "--out",
                dir.toString(), "--no-peer", "--no-progress", "--decode-tokens", "1", "--decode-runs", "1", "--threads", "1");
        JsonNode results = new ObjectMapper().readTree(dir.resolve("bench.json").toFile()).path("results");
        assertEquals(2, results.size(), results.toString());
        long exact = results.get(0).path("stateBytes").asLong();
        long half = results.get(1).path("stateBytes").asLong();
        assertEquals("full-bf16", results.get(1).path("strategy").asText());
        // the tiny package: 2 layers, 1 kv head, dk = dv = 4; 40 cached tokens, each 8 key and value components of
        // 4 bytes (float32) or 2 (bfloat16), positions alike in both: 2 x 40 x 8 x 2 bytes fewer
        assertEquals(2L * 40 * 8 * 2, exact - half, exact + " vs " + half);
        assertEquals(Map.of("provider", "full", "kvCache", "bfloat16"),
                dev.engram.cli.strategy.MemoryStrategy.layer("full-bf16", 4).get("attention"));
    }

    @Test
    void weightTypesAreMeasuredSideBySideFromOneFloatPackageWhoseQuantizedCopyIsKept() throws Exception {
        String python = pythonWithTorchAndOnnx();
        if (python != null) {
            org.junit.jupiter.api.Assertions.assertNull(System.getenv("CI"), "--weights needs " + python + " under CI");
            org.junit.jupiter.api.Assumptions.abort(python);
        }
        // a bundled trained package (the tiny test package's graphs take their weights as computed tensors)
        Path out = dir.resolve("typed");
        String[] args = {"bench", "--model", BUNDLED_WINDOW.toString(), "--strategies", "window,full", "--weights", "float32,int8",
                "--lengths", "40", "--out", out.toString(), "--no-peer", "--no-progress", "--decode-tokens", "1",
                "--decode-runs", "1", "--threads", "1"};
        String[] first = run(args);
        JsonNode root = new ObjectMapper().readTree(out.resolve("bench.json").toFile());
        assertEquals("[\"float32\",\"int8\"]", root.path("weights").toString());
        Map<String, JsonNode> rows = new java.util.HashMap<>();
        for (JsonNode row : root.path("results")) {
            assertFalse(row.has("skipped"), row.toString());
            rows.put(row.path("strategy").asText() + " " + row.path("weights").asText(), row);
            assertTrue(first[0].lines().anyMatch(l -> l.matches("\\| " + row.path("strategy").asText() + " +\\| "
                    + row.path("weights").asText() + " +\\| +40 +\\|.*")), row + "\n" + first[0]);
        }
        assertEquals(java.util.Set.of("window float32", "window int8", "full float32", "full int8"), rows.keySet());
        // the weights change the dense blocks only: the caches hold as many bytes either way
        for (String s : List.of("window", "full")) {
            assertEquals(rows.get(s + " float32").path("stateBytes").asLong(), rows.get(s + " int8").path("stateBytes").asLong(), s);
        }
        Path copy = out.resolve("passkey-window-int8");
        assertEquals("int8", new ObjectMapper().readTree(copy.resolve("engram.json").toFile()).path("quantization").path("type").asText());
        assertTrue(first[1].contains("quantizing"), first[1]);
        // a second run reuses the copy; a quantized package cannot be measured as another type
        String[] second = run(args);
        assertFalse(second[1].contains("quantizing"), second[1]);
        CliRun refused = CliRun.of("bench", "--model", copy.toString(), "--weights", "float32", "--strategies", "window",
                "--lengths", "8", "--out", dir.resolve("o").toString(), "--no-peer", "--no-progress");
        assertTrue(refused.exit() != 0 && refused.err().contains("--weights") && refused.err().contains("float32 source"),
                refused.all());
    }

    @Test
    void anUnknownWeightTypeIsRefusedByName() {
        CliRun r = CliRun.of("bench", "--model", TINY.toString(), "--weights", "float32,fp16", "--out",
                dir.resolve("o").toString(), "--no-peer");
        assertTrue(r.exit() != 0 && r.err().contains("--weights[1]") && r.err().contains("float32, int8, int4"), r.all());
    }

    /** Why /usr/bin/python3 cannot import torch and onnx (what engram quantize needs), or null when it can. */
    private static String pythonWithTorchAndOnnx() throws InterruptedException {
        try {
            Process p = new ProcessBuilder("/usr/bin/python3", "-c", "import torch, onnx").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0 ? null : "/usr/bin/python3 cannot import torch and onnx";
        } catch (java.io.IOException e) {
            return "no /usr/bin/python3: " + e.getMessage();
        }
    }

    @Test
    void badDecodeRunsAndTokensAreRefusedByName() {
        CliRun runs = CliRun.of("bench", "--model", TINY.toString(), "--decode-runs", "0", "--out",
                dir.resolve("o").toString(), "--no-peer");
        assertTrue(runs.exit() != 0 && runs.err().contains("--decode-runs") && runs.err().contains("1-1000"), runs.all());
        CliRun tokens = CliRun.of("bench", "--model", TINY.toString(), "--decode-tokens", "-1", "--out",
                dir.resolve("o").toString(), "--no-peer");
        assertTrue(tokens.exit() != 0 && tokens.err().contains("--decode-tokens"), tokens.all());
    }

    @Test
    void theMedianOfTheDecodeRunsIsTheMiddleOneOrTheMeanOfTheMiddleTwo() {
        assertEquals(0, Measurement.median(List.of()), 0);
        assertEquals(3.0, Measurement.median(List.of(9.0, 1.0, 3.0)), 0);
        assertEquals(2.5, Measurement.median(List.of(4.0, 1.0, 2.0, 3.0)), 0);
    }

    @Test
    void aFolderWithoutPackagesIsRefusedByName() throws java.io.IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        CliRun r = CliRun.of("bench", "--model", empty.toString(), "--out", dir.resolve("o").toString(), "--no-peer");
        assertTrue(r.exit() != 0, r.all());
        assertTrue(r.err().contains("--model"), r.all());
    }

    private static void copy(Path from, Path to) throws java.io.IOException {
        try (var walk = Files.walk(from)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path dst = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(dst);
                } else {
                    Files.copy(p, dst);
                }
            }
        }
    }

    @Test
    void filledWeightsCoverEveryProviderOfEveryStrategy() throws Exception {
        var registry = dev.engram.spi.ProviderRegistry.load(Thread.currentThread().getContextClassLoader());
        var m = dev.engram.runtime.model.ModelManifest.read(TINY.resolve("engram.json"), new java.util.ArrayList<>());
        Map<String, int[]> needed = WeightFiller.needed(registry, m.architecture(), MemoryStrategy.ALL, 4);
        assertTrue(needed.containsKey("layers.1.infini.beta"), needed.keySet().toString());
        assertTrue(needed.containsKey("layers.0.continuous.proj_key"), needed.keySet().toString());
        assertTrue(needed.containsKey("layers.0.lsh-knn.gate"), needed.keySet().toString());
        Path filled = WeightFiller.fill(TINY, dir.resolve("copy"), needed, 5);
        var tensors = dev.engram.runtime.model.SafeTensors.read(filled.resolve("memory.safetensors"));
        for (var e : needed.entrySet()) {
            assertTrue(java.util.Arrays.equals(e.getValue(), tensors.get(e.getKey()).shape()), e.getKey());
        }
        // filling an already complete package changes nothing
        assertEquals(filled, WeightFiller.fill(filled, filled, needed, 5));
    }

    private static long stateBytes(JsonNode root, String strategy, int length) {
        for (JsonNode row : root.path("results")) {
            if (row.path("strategy").asText().equals(strategy) && row.path("length").asInt() == length) {
                return row.path("stateBytes").asLong();
            }
        }
        throw new AssertionError(strategy + " " + length);
    }
}
