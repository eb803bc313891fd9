package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packages that tools/engram_model/make_test_packages.py exports from the PyTorch model (one per strategy:
 * window with rope/none, full with alibi, lsh, infini delta/linear, continuous plain/gated, lsh-knn hashed/exact,
 * mixed), run by the Java engine: every token's logits against the PyTorch ones in NAME.expected.json to the
 * tolerance written there (|java - torch| <= abs + rel * |torch|), then {@code engram run} and
 * {@code engram generate} on each package. Needs /usr/bin/python3 with torch and onnx (.ci/run installs them);
 * without them the test is skipped with the reason printed.
 */
class ParityPackagesTest {
    static final String PYTHON = System.getProperty("engram.python", "/usr/bin/python3");
    static final Path TOOLS = Path.of("..", "tools").toAbsolutePath().normalize();
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static List<String> names = new ArrayList<>();
    static String unavailable;

    @BeforeAll
    static void export() throws IOException, InterruptedException {
        unavailable = python("-c", "import torch, onnx");
        if (unavailable != null) {
            System.out.println("ParityPackagesTest skipped: " + unavailable
                    + " (needs " + PYTHON + " with torch and onnx; .ci/run installs python3-torch and python3-onnx)");
            return;
        }
        String failed = python("-m", "engram_model.make_test_packages", dir.toString(), "--ragged");
        if (failed != null) {
            throw new AssertionError("make_test_packages failed: " + failed);
        }
        try (Stream<Path> files = Files.list(dir)) {
            files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".expected.json")).sorted()
                    .forEach(n -> names.add(n.substring(0, n.length() - ".expected.json".length())));
        }
    }

    /** Runs python in tools/; null when it exits 0, else why not. */
    static String python(String... args) throws InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(PYTHON));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).directory(TOOLS.toFile()).redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return String.join(" ", cmd) + " did not finish in 600 s";
            }
            if (p.exitValue() != 0) {
                String text = new String(out, StandardCharsets.UTF_8).strip();
                return String.join(" ", cmd) + " exited " + p.exitValue() + ": " + text.substring(Math.max(0, text.length() - 400));
            }
            return null;
        } catch (IOException e) {
            return "cannot run " + PYTHON + ": " + e.getMessage();
        }
    }

    private static void assumePython() {
        Assumptions.assumeTrue(unavailable == null, unavailable);
    }

    @Test
    void everyPackagesLogitsMatchPyTorch() throws IOException {
        assumePython();
        assertTrue(names.size() >= 11, "packages: " + names);
        List<String> failures = new ArrayList<>();
        for (String name : names) {
            JsonNode expected = JSON.readTree(dir.resolve(name + ".expected.json").toFile());
            JsonNode ids = expected.get("inputIds").get(0);
            int[] tokens = new int[ids.size()];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = ids.get(i).asInt();
            }
            JsonNode shape = expected.get("logits").get("shape");
            JsonNode data = expected.get("logits").get("data");
            double abs = expected.get("tolerance").get("abs").asDouble();
            double rel = expected.get("tolerance").get("rel").asDouble();
            int vocab = shape.get(2).asInt();
            try (Engine engine = new EngineLoader().systemOverrides(false).load(dir.resolve(name))) {
                assertEquals(expected.get("segmentLength").asInt(), engine.segmentLength(), name);
                float[][] got = engine.ingestAll(List.of(engine.newSequence()), List.of(tokens)).get(0);
                double worst = 0;
                double maxDiff = 0;
                int worstAt = -1;
                for (int t = 0; t < tokens.length; t++) {
                    for (int v = 0; v < vocab; v++) {
                        double want = data.get(t * vocab + v).asDouble();
                        maxDiff = Math.max(maxDiff, Math.abs(got[t][v] - want));
                        double excess = Math.abs(got[t][v] - want) - (abs + rel * Math.abs(want));
                        if (excess > worst) {
                            worst = excess;
                            worstAt = t;
                        }
                    }
                }
                System.out.printf("parity %-18s %d tokens: max |java - torch| %.2e; %s%n", name, tokens.length, maxDiff,
                        worstAt < 0 ? "within tolerance" : "OFF at token " + worstAt + " by " + worst + " beyond tolerance");
                if (worstAt >= 0) {
                    failures.add(name + ": token " + worstAt + " (segment " + worstAt / engine.segmentLength() + ") is off by "
                            + worst + " beyond abs " + abs + " + rel " + rel);
                }
            }
        }
        assertTrue(failures.isEmpty(), "logits differ from PyTorch:\n  " + String.join("\n  ", failures));
    }

    /**
     * Token-by-token feeding (a token inside an incomplete segment runs as one new row per layer where every
     * provider has PARTIAL_ROWS, else the segment so far re-runs from the boundary checkpoint) gives the logits of
     * evaluating the whole sequence at once, with every memory.
     */
    /**
     * engram eval's mean log-likelihood equals one computed independently in PyTorch (tools/engram_model/score.py: the
     * package's graphs and schemes, float64 log-softmax) within 1e-4, for prefixes ending inside and at segment ends.
     */
    @Test
    void evalsMeanLogLikelihoodMatchesPyTorch() throws IOException, InterruptedException {
        assumePython();
        int checked = 0;
        for (String name : names) {
            if (!(name.contains("infini") || name.contains("continuous") || name.contains("lsh-knn") || name.contains("window"))) {
                continue;
            }
            JsonNode ids = JSON.readTree(dir.resolve(name + ".expected.json").toFile()).get("inputIds").get(0);
            StringBuilder text = new StringBuilder();
            ids.forEach(id -> text.append(id.asInt()).append(' '));
            Path tokens = dir.resolve(name + ".eval-ids.txt");
            Files.writeString(tokens, text);
            int n = ids.size();
            String lengths = (n / 2) + "," + n;
            Path javaOut = dir.resolve(name + ".eval-java.json");
            CliRun eval = CliRun.of("eval", "--model", dir.resolve(name).toString(), "--token-file", tokens.toString(),
                    "--lengths", lengths, "--json", javaOut.toString());
            assertEquals(0, eval.exit(), name + ": " + eval.all());
            Path pyOut = dir.resolve(name + ".eval-py.json");
            String failed = python("-m", "engram_model.score", dir.resolve(name).toString(), "--token-file", tokens.toString(),
                    "--lengths", lengths, "--out", pyOut.toString());
            assertEquals(null, failed, name);
            JsonNode java = JSON.readTree(javaOut.toFile()).get("rows");
            JsonNode py = JSON.readTree(pyOut.toFile()).get("rows");
            assertEquals(2, java.size(), name);
            for (int r = 0; r < 2; r++) {
                assertEquals(py.get(r).get("tokens").asInt(), java.get(r).get("tokens").asInt(), name);
                double want = py.get(r).get("meanNll").asDouble();
                double got = java.get(r).get("meanNll").asDouble();
                assertTrue(Math.abs(want - got) <= 1e-4, name + " first " + java.get(r).get("tokens") + " tokens: engram eval "
                        + got + ", PyTorch " + want);
                assertEquals(Math.exp(got), java.get(r).get("perplexity").asDouble(), 1e-9 * Math.exp(got), name);
            }
            checked++;
        }
        assertTrue(checked >= 3, "packages checked: " + checked + " of " + names);
    }

    @Test
    void feedingOneTokenAtATimeEqualsOneCallOnEveryPackage() throws IOException {
        assumePython();
        List<String> failures = new ArrayList<>();
        for (String name : names) {
            JsonNode ids = JSON.readTree(dir.resolve(name + ".expected.json").toFile()).get("inputIds").get(0);
            int[] tokens = new int[ids.size()];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = ids.get(i).asInt();
            }
            try (Engine engine = new EngineLoader().systemOverrides(false).load(dir.resolve(name))) {
                float[][] once = engine.ingestAll(List.of(engine.newSequence()), List.of(tokens)).get(0);
                var seq = engine.newSequence();
                double worst = 0;
                for (int t = 0; t < tokens.length; t++) {
                    float[] step = engine.ingest(seq, new int[] {tokens[t]});
                    for (int v = 0; v < step.length; v++) {
                        worst = Math.max(worst, Math.abs(step[v] - once[t][v]));
                    }
                }
                if (worst > 1e-5) {
                    failures.add(name + ": max |one at a time - at once| = " + worst);
                }
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void engramRunAndGenerateWorkOnEveryPackage() throws IOException {
        assumePython();
        Path text = dir.resolve("input.txt");
        Files.writeString(text, "The passkey is 71432. Remember it. ".repeat(3)); // 105 bytes: 17 segments of 6 + 3
        for (String name : names) {
            String pkg = dir.resolve(name).toString();
            CliRun run = CliRun.of("run", "--model", pkg, "--input", text.toString());
            assertEquals(0, run.exit(), name + ": " + run.all());
            assertTrue(run.out().contains("ingested 105 tokens"), name + ": " + run.all());
            assertTrue(run.err().contains("ingest 100%"), name + ": " + run.all());
            CliRun gen = CliRun.of("generate", "--model", pkg, "--prompt", "The passkey is", "--max-tokens", "8", "--ids");
            assertEquals(0, gen.exit(), name + ": " + gen.all());
            assertEquals(8, gen.out().trim().split(" ").length, name + ": " + gen.all());
            CliRun sampled = CliRun.of("generate", "--model", pkg, "--prompt", "The passkey is", "--max-tokens", "8",
                    "--temperature", "0.8", "--top-k", "8", "--top-p", "0.9", "--seed", "3");
            assertEquals(0, sampled.exit(), name + ": " + sampled.all());
            assertTrue(sampled.err().contains("generated 8 tokens"), name + ": " + sampled.all());
        }
    }

    @Test
    void memoryNamingThePackagesOwnStrategyRunsOnEveryLayer() {
        assumePython();
        // each single-strategy package carries its provider's weights for every layer, so --memory works with them
        String[][] cases = {{"window-rope", "window"}, {"full-alibi", "full"}, {"lsh", "lsh"}, {"infini", "infini"},
                {"continuous", "continuous"}, {"lsh-knn", "lsh-knn"}, {"window-rope", "none"}, {"mixed", "full"}};
        for (String[] c : cases) {
            CliRun run = CliRun.of("run", "--model", dir.resolve(c[0]).toString(), "--memory", c[1], "--random", "20", "--no-progress");
            assertEquals(0, run.exit(), c[0] + " --memory " + c[1] + ": " + run.all());
            CliRun gen = CliRun.of("generate", "--model", dir.resolve(c[0]).toString(), "--memory", c[1], "--tokens", "1,2,3",
                    "--max-tokens", "4", "--ids");
            assertEquals(0, gen.exit(), c[0] + " --memory " + c[1] + ": " + gen.all());
            CliRun inspect = CliRun.of("inspect", "--model", dir.resolve(c[0]).toString(), "--memory", c[1], "--probe-segments", "2");
            assertEquals(0, inspect.exit(), c[0] + " --memory " + c[1] + ": " + inspect.all());
            assertTrue(inspect.out().contains("at 1M tokens"), inspect.all());
            // lsh attention's buckets span the segment, so it alone decodes by re-running the segment so far
            String decoding = c[1].equals("lsh") ? "decoding: re-runs the segment" : "decoding: row by row";
            assertTrue(inspect.out().contains(decoding), c[0] + " --memory " + c[1] + ": " + inspect.all());
        }
    }
}
