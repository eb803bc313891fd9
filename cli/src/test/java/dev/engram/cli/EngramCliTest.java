package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngramCliTest {
    @TempDir
    Path dir;

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void everySubcommandHasHelp() {
        for (String sub : Engram.commandLine().getSubcommands().keySet()) {
            if (sub.equals("help")) {
                continue;
            }
            CliRun r = run(sub, "--help");
            assertEquals(0, r.exit(), sub);
            assertTrue(r.out().contains("Usage: engram " + sub), sub + ": " + r.out());
        }
    }

    @Test
    void providersListsEveryBuiltInProviderWithItsKeys() {
        CliRun r = run("providers");
        for (String name : new String[] {"attention full", "attention window", "memory infini", "memory continuous",
                "attention lsh", "memory lsh-knn"}) {
            assertTrue(r.out().contains(name + " "), name + " missing from:\n" + r.out());
        }
    }

    @Test
    void conformancePassesTheBundledCasesOfEveryBuiltInProvider() {
        for (String module : new String[] {"baselines", "memory-infini", "memory-continuous", "memory-lsh"}) {
            Path cases = Path.of("..", module, "src", "test", "resources", "conformance");
            CliRun r = run("conformance", cases.toString());
            assertEquals(0, r.exit(), module + ":\n" + r.out() + r.err());
            assertTrue(r.out().contains(" passed, 0 failed"), r.out());
        }
    }

    @Test
    void aMalformedCaseIsReportedAsAnErrorNamingTheFieldAndExitsNonZero() throws IOException {
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, """
                {"format": "engram-conformance/1", "kind": "memory", "provider": "infini",
                 "layer": {"heads": 1, "kvHeads": 1, "keyDim": 2, "valueDim": 2, "modelDim": 2},
                 "weights": {"beta": {"shape": [1], "data": [0.0]}},
                 "segments": [{"q": {"shape": [1, 1, 2], "data": [1]}}],
                 "expected": [{}]}
                """);
        CliRun r = run("conformance", bad.toString());
        assertEquals(1, r.exit());
        assertTrue(r.out().contains("ERROR bad.json: bad.json: segments[0].q.data has 1 values; shape [1, 1, 2] needs 2"), r.out());
        assertTrue(r.out().contains("0 passed, 1 failed"), r.out());
    }

    @Test
    void emitWritesWhatTheProviderProduced() throws IOException {
        Path in = dir.resolve("case.json");
        Files.writeString(in, """
                {"format": "engram-conformance/1", "kind": "memory", "provider": "infini",
                 "layer": {"heads": 1, "kvHeads": 1, "keyDim": 1, "valueDim": 1, "modelDim": 1},
                 "weights": {"beta": {"shape": [1], "data": [0.0]}},
                 "segments": [
                   {"q": {"shape": [1, 1, 1], "data": [1]}, "k": {"shape": [1, 1, 1], "data": [1]},
                    "v": {"shape": [1, 1, 1], "data": [3]}, "local": {"shape": [1, 1, 1], "data": [1]}},
                   {"q": {"shape": [1, 1, 1], "data": [1]}, "k": {"shape": [1, 1, 1], "data": [1]},
                    "v": {"shape": [1, 1, 1], "data": [5]}, "local": {"shape": [1, 1, 1], "data": [1]}}]}
                """);
        Path out = dir.resolve("out.json");
        CliRun r = run("conformance", "--emit", out.toString(), in.toString());
        assertEquals(0, r.exit(), r.err());
        // Hand-derived: sigma(1) = ELU(1) + 1 = 2. After segment 0, M = 2*3 = 6 and z = 2, so segment 1 reads
        // 2*6 / (2*2) = 3; the gate sigmoid(0) = 0.5 gives 0.5*3 + 0.5*1 = 2. Segment 0 reads an empty memory: 0.
        String emitted = Files.readString(out);
        assertTrue(emitted.replaceAll("\\s", "").contains("\"memory\":{\"shape\":[1,1,1],\"data\":[3.0]}"), emitted);
        assertTrue(emitted.replaceAll("\\s", "").contains("\"output\":{\"shape\":[1,1,1],\"data\":[2.0]}"), emitted);
        assertEquals(0, run("conformance", out.toString()).exit());
    }

    @Test
    void planShowsEveryLayerAndRunsSegmentsThroughThem() throws IOException {
        Path config = dir.resolve("c.yaml");
        Files.writeString(config, """
                layers:
                  default: {attention: {provider: window, window: 64}}
                  "1-2": {memory: {provider: infini, update: delta}}
                """);
        CliRun r = run("plan", "--config", config.toString(), "--layers", "3", "--segments", "2", "--segment-length", "8");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("layer  1  attention window {window=64}"), r.out());
        assertTrue(r.out().contains("memory infini {update=delta}"), r.out());
        assertTrue(r.out().contains("segment 1: tokens 16"), r.out());
    }

    @Test
    void planWithoutSegmentsPrintsThePlanThroughTheLaunchersBufferedWriter() throws IOException {
        Path config = dir.resolve("c.yaml");
        Files.writeString(config, "layers:\n  default: {attention: {provider: window, window: 64}}\n");
        java.io.StringWriter sink = new java.io.StringWriter();
        picocli.CommandLine cl = Engram.commandLine();
        // as picocli's own System.out writer: buffered, flushed by println only
        cl.setOut(new java.io.PrintWriter(new java.io.BufferedWriter(sink), true));
        assertEquals(0, Engram.execute(cl, "plan", "--config", config.toString(), "--layers", "2"));
        assertTrue(sink.toString().contains("layer  1  attention window {window=64}"), "printed: '" + sink + "'");
    }

    @Test
    void providersShowOriginCapabilitiesAndWeights() {
        CliRun r = run("providers");
        // infini keeps one gate per head (docs/schemes.md: beta [H]); the example layer has 4 heads
        assertTrue(r.out().contains("memory infini  (dev.engram.memory.infini."), r.out());
        assertTrue(r.out().matches("(?s).*memory infini  \\([^)]*, (jar|classes) [^)]*\\).*"), r.out());
        assertTrue(r.out().contains("weights (heads 4, kvHeads 4, head dims 16, model dim 64; in a package layers.{i}.infini.NAME): beta [4]"),
                r.out());
        assertTrue(r.out().matches("(?s).*memory infini .*?capabilities: [^\\n]*grouped_query_heads.*"), r.out());
        assertTrue(!r.out().contains("broken "), r.out());
    }

    @Test
    void providersListsABrokenPluginInsteadOfFailing() throws IOException {
        Path plugin = dir.resolve("plugin");
        Path services = plugin.resolve("META-INF/services/dev.engram.spi.LongTermMemoryProvider");
        Files.createDirectories(services.getParent());
        Files.writeString(services, "com.example.RecentMaen\n"); // a typo in the services file
        ClassLoader before = Thread.currentThread().getContextClassLoader();
        try (java.net.URLClassLoader loader = new java.net.URLClassLoader(new java.net.URL[] {plugin.toUri().toURL()}, before)) {
            Thread.currentThread().setContextClassLoader(loader);
            CliRun r = run("providers");
            assertEquals(0, r.exit(), r.all());
            assertTrue(r.out().contains("memory infini "), r.out());
            assertTrue(r.out().contains("broken ?  (an entry of META-INF/services/dev.engram.spi.LongTermMemoryProvider)"), r.out());
            assertTrue(r.out().contains("com.example.RecentMaen"), r.out());
        } finally {
            Thread.currentThread().setContextClassLoader(before);
        }
    }

    @Test
    void aBadConfigExitsWithEveryProblemListed() throws IOException {
        Path config = dir.resolve("c.yaml");
        Files.writeString(config, """
                layers:
                  default: {attention: {provider: windw}, memory: {provider: infini, updte: delta}}
                """);
        CliRun r = run("plan", "--config", config.toString(), "--layers", "2");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("no attention provider named 'windw'"), r.err());
        assertTrue(r.err().contains("unknown key 'updte'; did you mean 'update'?"), r.err());
    }

    private static final Path TINY_MODEL = Path.of("..", "runtime-onnx", "src", "test", "resources", "models", "tiny");

    private Path windowOnlyConfig() throws IOException {
        Path config = dir.resolve("window.yaml");
        // replaces the tiny package's layers: its layer 1 memory is a test provider the CLI's class path lacks
        Files.writeString(config, "replaceLayers: true\nlayers:\n  default: {attention: {provider: window, window: 3}}\n");
        return config;
    }

    @Test
    void runIngestsSavesAndResumesASequence() throws IOException {
        Path config = windowOnlyConfig();
        Path snapshot = dir.resolve("seq.snap");
        CliRun first = run("run", "--model", TINY_MODEL.toString(), "--config", config.toString(), "--tokens", "1,2,3,4,5,6",
                "--save", snapshot.toString());
        assertEquals(0, first.exit(), first.err());
        assertTrue(first.out().contains("ingested 6 tokens"), first.out());
        assertTrue(first.out().contains("position 6"), first.out());
        CliRun resumed = run("run", "--model", TINY_MODEL.toString(), "--config", config.toString(), "--tokens", "7,8",
                "--resume", snapshot.toString());
        assertEquals(0, resumed.exit(), resumed.err());
        assertTrue(resumed.out().contains("position 8"), resumed.out());
        CliRun oneShot = run("run", "--model", TINY_MODEL.toString(), "--config", config.toString(), "--tokens",
                "1,2,3,4,5,6,7,8");
        assertEquals(candidates(oneShot.out()), candidates(resumed.out()), "resume equals one shot");
    }

    private static String candidates(String out) {
        return out.lines().filter(l -> l.startsWith("next token candidates")).findFirst().orElseThrow();
    }

    @Test
    void runRefusesTokensOutsideTheVocabularyNamingTheRange() throws IOException {
        CliRun r = run("run", "--model", TINY_MODEL.toString(), "--config", windowOnlyConfig().toString(), "--tokens", "1,99");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("token[1]: is 99; valid: [0, 15] (the model's vocabulary)"), r.err());
    }

    @Test
    void generateIsDeterministicWhenGreedy() throws IOException {
        String[] args = {"generate", "--model", TINY_MODEL.toString(), "--config", windowOnlyConfig().toString(),
                "--tokens", "1,2,3", "--max-tokens", "5", "--ids"};
        CliRun a = run(args);
        CliRun b = run(args);
        assertEquals(0, a.exit(), a.err());
        assertEquals(5, a.out().trim().split(" ").length, a.out());
        assertEquals(a.out(), b.out());
    }

    @Test
    void aMissingModelIsAClearError() {
        CliRun r = run("run", "--model", dir.resolve("nope").toString(), "--tokens", "1");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("nope"), r.err());
    }
}
