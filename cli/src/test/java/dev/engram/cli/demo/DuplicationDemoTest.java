package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.cli.CliRun;
import dev.engram.runtime.Engine;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `engram demo --only duplication` on two tiny packages (cli/src/test/resources/duplication, written by
 * train_duplication.py at N = 16, d 32, 2 heads): dup-tiny-full (trained 400 steps) and dup-tiny-lsh2 (one step, so
 * just a well-formed lsh package trained with 2 rounds).
 */
class DuplicationDemoTest {
    static final Path PACKAGES = Path.of("src", "test", "resources", "duplication");
    static final Path EXPECTED = Path.of("src", "test", "resources", "duplication-demo-expected.json");

    @TempDir
    Path dir;

    /**
     * The full model's accuracy equals what tools/engram_model/duplication.demo_expectations counts on the demo's own
     * sequences from the package's files (PackageRunner: the ONNX graphs with learned positions, in Python), and the
     * lsh model gets a column per evaluation rounds.
     */
    @Test
    void tableJsonAndChartHaveThePapersShapeAndTheFullModelScoresAsPythonCounts() throws IOException {
        JsonNode expected = new ObjectMapper().readTree(EXPECTED.toFile());
        int trials = expected.get("trials").asInt();
        Path json = dir.resolve("demo.json");
        Path chart = dir.resolve("demo.png");
        CliRun r = CliRun.of("demo", "--models", PACKAGES.toString(), "--only", "duplication", "--trials",
                String.valueOf(trials), "--seed", expected.get("seed").asText(), "--json", json.toString(), "--chart",
                chart.toString());
        assertEquals(0, r.exit(), r.all());
        JsonNode experiments = new ObjectMapper().readTree(json.toFile()).get("experiments");
        assertEquals(1, experiments.size());
        assertEquals("duplication", experiments.get(0).get("name").asText());
        JsonNode rows = experiments.get(0).get("rows");
        assertEquals(1 + 4, rows.size(), "full: its own attention; lsh: 1, 2, 4, 8 rounds");

        JsonNode full = rows.get(0);
        assertEquals("dup-tiny-full", full.get("model").asText());
        assertEquals("full", full.get("strategy").asText());
        assertTrue(full.get("rounds").isNull(), full.toString());
        assertEquals(16, full.get("tokens").asInt());
        assertEquals(16, full.get("train_tokens").asInt());
        int right = 0;
        int exact = 0;
        for (JsonNode c : expected.get("correct")) {
            right += c.asInt();
            exact += c.asInt() == expected.get("scored").asInt() ? 1 : 0;
        }
        assertEquals(right / (double) (trials * expected.get("scored").asInt()), full.get("accuracy").asDouble(), 1e-12);
        assertEquals(exact / (double) trials, full.get("exact").asDouble(), 1e-12);

        List<Integer> rounds = new ArrayList<>();
        for (int i = 1; i < rows.size(); i++) {
            JsonNode row = rows.get(i);
            assertEquals("dup-tiny-lsh2", row.get("model").asText());
            assertEquals("lsh", row.get("strategy").asText());
            assertEquals(2, row.get("train_rounds").asInt());
            double a = row.get("accuracy").asDouble();
            assertTrue(a >= 0 && a <= 1 && row.get("exact").asDouble() <= a, row.toString());
            rounds.add(row.get("rounds").asInt());
        }
        assertEquals(List.of(1, 2, 4, 8), rounds);

        String out = r.out();
        assertTrue(out.contains("| trained with | model | N | eval: full | lsh 1 round | lsh 2 rounds | lsh 4 rounds | lsh 8 rounds |"),
                out);
        assertTrue(out.contains("| full | dup-tiny-full | 16 | " + DuplicationDemo.percent(full.get("accuracy").asDouble())
                + " (" + DuplicationDemo.percent(full.get("exact").asDouble()) + ") | - | - | - | - |"), out);
        assertTrue(out.contains("| lsh, 2 rounds | dup-tiny-lsh2 | 16 | - |"), out);
        assertTrue(out.contains(DuplicationDemo.PAPER_SHAPE) && out.contains(DuplicationDemo.NOT_RUN), out);

        Path png = dir.resolve("demo-duplication.png"); // beside --chart, named after the experiment
        assertTrue(Files.exists(png), out);
        BufferedImage image = ImageIO.read(png.toFile());
        assertTrue(image.getWidth() > 400 && image.getHeight() > 100, image.getWidth() + "x" + image.getHeight());
        DemoCommandTest.assertEdgesBlank(image);
    }

    /** The evaluation's rounds reach the lsh provider (else every column would be the trained rounds). */
    @Test
    void theRoundsOverrideReplacesThePackagedRounds() throws IOException {
        DuplicationDemo.Model m = DuplicationDemo.model(PACKAGES.resolve("dup-tiny-lsh2"));
        assertEquals("lsh", m.attention());
        assertEquals(2, m.trainRounds());
        try (Engine packaged = DuplicationDemo.open(m, null, 5); Engine eight = DuplicationDemo.open(m, 8, 5)) {
            // the typed values the provider is built from
            Map<String, Object> before = packaged.plan().layers().get(0).attention().config().asMap();
            Map<String, Object> after = eight.plan().layers().get(0).attention().config().asMap();
            assertEquals("2", String.valueOf(before.get("rounds")), before.toString());
            assertEquals("8", String.valueOf(after.get("rounds")), after.toString());
            assertEquals("5", String.valueOf(after.get("seed")), after.toString());
            assertEquals(String.valueOf(before.get("buckets")), String.valueOf(after.get("buckets")));
        }
    }

    /**
     * Regression floor for the bundled models/dup-full (99.9% per token at 16 trials when it was bundled; issue 15's
     * target is 99%): 4 sequences at N = 1024, teacher-forced, must stay at or above 99%.
     */
    @Test
    void theBundledFullModelStillCopies() throws IOException {
        DuplicationDemo.Model m = DuplicationDemo.model(BundledModelsTest.MODELS.resolve("dup-full"));
        assertEquals(1024, m.length());
        DuplicationDemo.Cell c = DuplicationDemo.evaluate(m, null, 4, 7);
        assertTrue(c.accuracy() >= 0.99, "per-token accuracy " + c.accuracy());
    }

    /**
     * Issue 15's target held for the bundled models/dup-lsh4 (95.6% per token at 4 rounds, 16 trials, when it was
     * bundled on 2026-12-05 afternoon; the target is 95%): 4 sequences, 4 rounds, at or above 95%, and 1 round below 4
     * (the paper's shape: fewer rounds find fewer partners).
     */
    @Test
    void theBundledLshModelStillCopiesWithFourRounds() throws IOException {
        DuplicationDemo.Model m = DuplicationDemo.model(BundledModelsTest.MODELS.resolve("dup-lsh4"));
        DuplicationDemo.Cell four = DuplicationDemo.evaluate(m, 4, 4, 7);
        DuplicationDemo.Cell one = DuplicationDemo.evaluate(m, 1, 4, 7);
        assertTrue(four.accuracy() >= 0.95, "per-token accuracy with 4 rounds " + four.accuracy());
        assertTrue(one.accuracy() < four.accuracy(), "1 round " + one.accuracy() + ", 4 rounds " + four.accuracy());
    }

    @Test
    void aDuplicationPackageWithAnotherAttentionIsRefusedNamingTheField() throws IOException {
        Path pkg = dir.resolve("models/dup-window");
        Files.createDirectories(pkg);
        Files.writeString(pkg.resolve("engram.json"), "{\"memory\": {\"layers\": {\"default\": {\"attention\": "
                + "{\"provider\": \"window\"}}}}, \"training\": {\"task\": \"duplication\", \"length\": 16}}");
        CliRun r = CliRun.of("demo", "--models", dir.resolve("models").toString(), "--only", "duplication", "--chart",
                dir.resolve("c.png").toString());
        assertTrue(r.exit() != 0, r.all());
        assertTrue(r.all().contains("memory.layers.default.attention.provider is 'window'"), r.all());
    }
}
