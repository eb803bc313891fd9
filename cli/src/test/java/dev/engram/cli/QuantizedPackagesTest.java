package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Quantized packages ({@code engram quantize}, tools/engram_import/quantize.py) run by the real engine (ONNX Runtime's
 * MatMulInteger and com.microsoft MatMulNBits kernels): the small parity packages of make_test_packages.py, one per
 * attention and memory provider, quantized to int8 and int4, give the logits that tools/engram_model/onnx_eval.py
 * computes for the same package from the ops' specs (PackageRunner, through engram_model.score --logits-out), with the
 * first two segments ingested at once and every later token fed alone (the decode path, rows evaluated one by one),
 * and the same greedy choices. Needs /usr/bin/python3 with torch and onnx: skipped with the reason without them,
 * except under CI=true, where that is a failure.
 */
class QuantizedPackagesTest {
    static final ObjectMapper JSON = new ObjectMapper();
    /** full, window, lsh, infini, continuous, lsh-knn, and learned positions. */
    static final List<String> CASES = List.of("full-alibi", "window-rope", "lsh", "infini", "continuous", "lsh-knn", "full-learned");
    static final List<String> TYPES = List.of("int8", "int4");
    /** |engine - onnx_eval| on logits of size O(1-10): both compute the same integer sums / dequantized weights. */
    static final double TOLERANCE = 1e-4;

    @TempDir
    static Path dir;
    static String unavailable;

    @BeforeAll
    static void makePackages() throws InterruptedException {
        unavailable = ParityPackagesTest.python("-c", "import torch, onnx");
        if (unavailable != null) {
            if (System.getenv("CI") != null) {
                fail("QuantizedPackagesTest cannot run under CI: " + unavailable);
            }
            System.out.println("QuantizedPackagesTest skipped: " + unavailable);
            return;
        }
        List<String> args = new ArrayList<>(List.of("-m", "engram_model.make_test_packages", dir.toString(), "--ragged", "--only"));
        args.addAll(CASES);
        String failed = ParityPackagesTest.python(args.toArray(String[]::new));
        if (failed != null) {
            throw new AssertionError("make_test_packages failed: " + failed);
        }
    }

    static void assumePython() {
        Assumptions.assumeTrue(unavailable == null, unavailable);
    }

    @Test
    void everyStrategyRunsQuantizedAndMatchesTheSpecEvaluation() throws IOException, InterruptedException {
        assumePython();
        List<String> failures = new ArrayList<>();
        for (String name : CASES) {
            JsonNode expected = JSON.readTree(dir.resolve(name + ".expected.json").toFile());
            JsonNode idsNode = expected.get("inputIds").get(0);
            int[] ids = new int[idsNode.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = idsNode.get(i).asInt();
            }
            Path tokens = dir.resolve(name + ".ids.txt");
            Files.writeString(tokens, String.join(" ", Arrays.stream(ids).mapToObj(Integer::toString).toList()));
            int prompt = 2 * expected.get("segmentLength").asInt();
            for (String type : TYPES) {
                Path pkg = dir.resolve(name + "." + type);
                CliRun q = CliRun.of("quantize", "--model", dir.resolve(name).toString(), "--out", pkg.toString(), "--type", type);
                assertEquals(0, q.exit(), name + " " + type + ": " + q.all());
                assertTrue(q.out().contains("checked: the package loads") && q.out().contains("weights " + type), q.all());
                Path logitsFile = dir.resolve(name + "." + type + ".logits.json");
                String failed = ParityPackagesTest.python("-m", "engram_model.score", pkg.toString(), "--token-file",
                        tokens.toString(), "--out", dir.resolve(name + "." + type + ".nll.json").toString(), "--logits-out",
                        logitsFile.toString());
                assertEquals(null, failed, name + " " + type);
                JsonNode want = JSON.readTree(logitsFile.toFile());
                int vocab = want.get("shape").get(1).asInt();
                JsonNode data = want.get("data");
                try (Engine engine = new EngineLoader().systemOverrides(false).load(pkg)) {
                    assertEquals(type, engine.manifest().quantization().get("type"));
                    ModelSequence seq = engine.newSequence();
                    float[][] got = new float[ids.length][];
                    float[][] first = engine.ingestAll(List.of(seq), List.of(Arrays.copyOf(ids, prompt))).get(0);
                    System.arraycopy(first, 0, got, 0, prompt);
                    for (int t = prompt; t < ids.length; t++) {
                        got[t] = engine.ingest(seq, new int[] {ids[t]});
                    }
                    double worst = 0;
                    int greedyChecked = 0;
                    for (int t = 0; t < ids.length; t++) {
                        int bestJava = 0;
                        int bestPy = 0;
                        double[] py = new double[vocab];
                        for (int v = 0; v < vocab; v++) {
                            py[v] = data.get(t * vocab + v).asDouble();
                            worst = Math.max(worst, Math.abs(got[t][v] - py[v]));
                            bestJava = got[t][v] > got[t][bestJava] ? v : bestJava;
                            bestPy = py[v] > py[bestPy] ? v : bestPy;
                        }
                        double runnerUp = Double.NEGATIVE_INFINITY;
                        for (int v = 0; v < vocab; v++) {
                            runnerUp = v == bestPy ? runnerUp : Math.max(runnerUp, py[v]);
                        }
                        if (py[bestPy] - runnerUp > 10 * TOLERANCE) { // a clear choice must be the same choice
                            greedyChecked++;
                            if (bestJava != bestPy) {
                                failures.add(name + " " + type + ": greedy token at " + t + " is " + bestJava + "; onnx_eval's is " + bestPy);
                            }
                        }
                    }
                    System.out.printf("quantized %-12s %s: max |engine - onnx_eval| %.2e over %d positions (%d decoded alone), %d greedy choices compared%n",
                            name, type, worst, ids.length, ids.length - prompt, greedyChecked);
                    if (worst > TOLERANCE) {
                        failures.add(name + " " + type + ": max |engine - onnx_eval| = " + worst + " > " + TOLERANCE);
                    }
                }
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    /**
     * --calibration: the text is tokenized by the float package's tokenizer (here the byte fallback: one token per UTF-8
     * byte) and the codes chosen by GPTQ (tools/tests/test_gptq.py checks the arithmetic); the package records it and
     * runs. Bad calibration input is refused naming the option, leaving nothing.
     */
    @Test
    void aCalibratedPackageRecordsItsCalibrationAndRuns() throws IOException {
        assumePython();
        String src = dir.resolve("full-learned").toString();
        String text = "Calibration text, a few sentences long, in the model's own kind of input. ".repeat(8) + "é";
        Path textFile = dir.resolve("calibration.txt");
        Files.writeString(textFile, text);
        Path pkg = dir.resolve("full-learned.int4-gptq");
        CliRun q = CliRun.of("quantize", "--model", src, "--out", pkg.toString(), "--type", "int4", "--calibration", textFile.toString());
        assertEquals(0, q.exit(), q.all());
        assertTrue(q.out().contains("checked: the package loads") && q.out().contains("weights int4"), q.all());
        try (Engine engine = new EngineLoader().systemOverrides(false).load(pkg)) {
            @SuppressWarnings("unchecked")
            Map<String, Object> calibration = (Map<String, Object>) engine.manifest().quantization().get("calibration");
            assertEquals(text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, ((Number) calibration.get("tokens")).intValue());
            assertTrue(String.valueOf(calibration.get("method")).startsWith("GPTQ"), calibration.toString());
            assertEquals("calibration.txt", calibration.get("source"));
            float[] logits = engine.ingest(engine.newSequence(), new int[] {1, 2, 3});
            assertTrue(logits.length > 0 && Float.isFinite(logits[0]));
        }
        Path out = dir.resolve("refused-calibration");
        Path ids = dir.resolve("calibration-bad.ids.txt");
        Files.writeString(ids, "1 2 three");
        CliRun badIds = CliRun.of("quantize", "--model", src, "--out", out.toString(), "--type", "int4", "--calibration-ids", ids.toString());
        assertEquals(2, badIds.exit(), badIds.all());
        assertTrue(badIds.err().contains("--calibration-ids") && badIds.err().contains("token 2 is 'three'"), badIds.all());
        CliRun both = CliRun.of("quantize", "--model", src, "--out", out.toString(), "--type", "int4", "--calibration",
                textFile.toString(), "--calibration-ids", ids.toString());
        assertEquals(2, both.exit(), both.all());
        assertTrue(both.err().contains("--calibration") && both.err().contains("exclude each other"), both.all());
        CliRun missing = CliRun.of("quantize", "--model", src, "--out", out.toString(), "--type", "int8", "--calibration",
                dir.resolve("no-such.txt").toString());
        assertEquals(2, missing.exit(), missing.all());
        assertTrue(missing.err().contains("--calibration"), missing.all());
        assertFalse(Files.exists(out));
    }

    @Test
    void badRequestsAreRefusedNamingTheFieldAndLeaveNothing() throws IOException {
        assumePython();
        String src = dir.resolve("infini").toString();
        Path out = dir.resolve("refused");
        CliRun badType = CliRun.of("quantize", "--model", src, "--out", out.toString(), "--type", "int3");
        assertEquals(2, badType.exit(), badType.all());
        assertTrue(badType.err().contains("--type is 'int3'; valid: int8, int4"), badType.all());
        CliRun badBlock = CliRun.of("quantize", "--model", src, "--out", out.toString(), "--type", "int4", "--block", "48");
        assertEquals(2, badBlock.exit(), badBlock.all());
        assertTrue(badBlock.err().contains("--block is 48; valid: a power of two >= 16"), badBlock.all());
        CliRun notAPackage = CliRun.of("quantize", "--model", dir.toString(), "--out", out.toString(), "--type", "int8");
        assertEquals(2, notAPackage.exit(), notAPackage.all());
        assertTrue(notAPackage.err().contains("no engram.json there"), notAPackage.all());
        assertFalse(Files.exists(out));
        try (var left = Files.list(dir)) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith(".refused")), "temporary folders left behind");
        }
        CliRun exists = CliRun.of("quantize", "--model", src, "--out", dir.resolve("lsh").toString(), "--type", "int8");
        assertEquals(2, exists.exit(), exists.all());
        assertTrue(exists.err().contains("already exists"), exists.all());
    }
}
