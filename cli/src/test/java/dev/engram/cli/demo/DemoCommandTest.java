package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.cli.CliRun;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `engram demo`'s passkey experiment: the depths, --json (issue 15's shape), --only, and a chart that fits. */
class DemoCommandTest {
    static final Map<String, Integer> TRAIN_TOKENS = Map.of("passkey-window", 4 * 32, "passkey-infini", 192 * 32,
            "passkey-lsh-knn", 32 * 32, "passkey-continuous", 16 * 32);

    @TempDir
    Path dir;

    @Test
    void jsonHasARowPerModelLengthAndDepthWithFractions() throws IOException {
        Path json = dir.resolve("out/demo.json");
        Path chart = dir.resolve("demo.png");
        CliRun r = CliRun.of("demo", "--models", BundledModelsTest.MODELS.toString(), "--only", "passkey", "--lengths", "64,96", "--trials", "2", "--json", json.toString(),
                "--chart", chart.toString());
        assertEquals(0, r.exit(), r.all());
        JsonNode experiments = new ObjectMapper().readTree(json.toFile()).get("experiments");
        assertEquals(1, experiments.size());
        assertEquals("passkey", experiments.get(0).get("name").asText());
        JsonNode rows = experiments.get(0).get("rows");
        assertEquals(4 * 2 * 6, rows.size(), "4 bundled models x 2 lengths x 6 depths");
        Set<Double> depths = new TreeSet<>();
        Set<String> models = new TreeSet<>();
        for (JsonNode row : rows) {
            for (String field : List.of("model", "strategy", "tokens", "train_tokens", "accuracy", "exact", "depth")) {
                assertTrue(row.has(field), field + " in " + row);
            }
            depths.add(row.get("depth").asDouble());
            models.add(row.get("model").asText());
            double accuracy = row.get("accuracy").asDouble();
            double exact = row.get("exact").asDouble();
            assertTrue(accuracy >= 0 && accuracy <= 1 && exact >= 0 && exact <= 1, row.toString());
            assertTrue(exact <= accuracy, "an exact answer has every digit right: " + row);
            assertTrue(Set.of(64, 96).contains(row.get("tokens").asInt()), row.toString());
            // the longest training contexts models/README.md lists (segments x 32)
            assertEquals(TRAIN_TOKENS.get(row.get("model").asText()), row.get("train_tokens").asInt(), row.toString());
        }
        assertEquals(new TreeSet<>(List.of(0.0, 0.25, 0.5, 0.75, 0.9, 1.0)), depths);
        assertEquals(Set.of("passkey-continuous", "passkey-infini", "passkey-lsh-knn", "passkey-window"), models);
        assertTrue(r.out().contains("| 1 (last seg) |"), r.out());
        assertTrue(r.out().contains("| passkey-window | window |"), r.out());
        BufferedImage image = ImageIO.read(chart.toFile());
        assertTrue(image.getWidth() > 400 && image.getHeight() > 300);
        assertEdgesBlank(image);
    }

    @Test
    void theChartGrowsToHoldLongNamesInsteadOfCuttingThem() throws IOException {
        List<PasskeyDemo.Result> results = new ArrayList<>();
        for (String name : List.of("a-model-with-a-really-rather-long-package-name-indeed", "b")) {
            double[][] exact = {{0, 0.25, 0.5, 0.75, 0.9, 1}, {1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 0}};
            results.add(new PasskeyDemo.Result(name, "continuous+lsh-knn", 1024, new int[] {512, 65536, 100000}, exact,
                    exact, new double[3], new long[3]));
        }
        Path chart = dir.resolve("long.png");
        AccuracyChart.write(chart, results, 20);
        assertEdgesBlank(ImageIO.read(chart.toFile()));
    }

    /** Nothing drawn touches the border: a label running off the image would leave ink in the last columns. */
    static void assertEdgesBlank(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        for (int y = 0; y < h; y++) {
            for (int x : new int[] {0, 1, w - 2, w - 1}) {
                assertEquals(0xffffff, image.getRGB(x, y) & 0xffffff, "ink at the edge (" + x + ", " + y + ")");
            }
        }
        for (int x = 0; x < w; x++) {
            for (int y : new int[] {0, 1, h - 2, h - 1}) {
                assertEquals(0xffffff, image.getRGB(x, y) & 0xffffff, "ink at the edge (" + x + ", " + y + ")");
            }
        }
    }

    /** --no-progress: the bar prints nothing (the library writes to file descriptor 2, so its consumer is checked). */
    @Test
    void noProgressKeepsTheBarSilent() {
        for (boolean shown : new boolean[] {true, false}) {
            List<String> printed = new ArrayList<>();
            try (me.tongfei.progressbar.ProgressBar bar = DemoProgress.tokens("passkey", 4000, 10, shown,
                    new me.tongfei.progressbar.DelegatingProgressBarConsumer(printed::add))) {
                bar.stepBy(2500);
            }
            assertEquals(shown, printed.stream().anyMatch(line -> line.contains("passkey") && line.contains("Ktok")),
                    "shown " + shown + ": " + printed);
        }
        CliRun r = CliRun.of("demo", "--models", BundledModelsTest.MODELS.toString(), "--only", "passkey", "--lengths",
                "64", "--trials", "1", "--no-progress", "--chart", dir.resolve("demo.png").toString());
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.out().contains("| passkey-window | window |"), r.out());
    }

    @Test
    void onlyRefusesAnUnknownExperimentAndListsTheKnownOnes() {
        CliRun r = CliRun.of("demo", "--only", "passkey,needle", "--lengths", "64", "--trials", "1");
        assertEquals(2, r.exit(), r.all());
        assertTrue(r.err().contains("no experiment named 'needle'; available: [sorting, duplication, passkey]"), r.err());
    }

    @Test
    void eachExperimentRunsOnlyOnThePackagesTrainedForItsTask() throws IOException {
        Path models = dir.resolve("models");
        copyPackage(BundledModelsTest.MODELS.resolve("passkey-window"), models.resolve("passkey-window"));
        Path other = models.resolve("sorting-like");
        copyPackage(BundledModelsTest.MODELS.resolve("passkey-infini"), other);
        ObjectMapper mapper = new ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode manifest =
                (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(other.resolve("engram.json").toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) manifest.get("training")).put("task", "some-other-task");
        mapper.writeValue(other.resolve("engram.json").toFile(), manifest);
        Path json = dir.resolve("demo.json");
        CliRun r = CliRun.of("demo", "--models", models.toString(), "--lengths", "64", "--trials", "1",
                "--json", json.toString(), "--chart", dir.resolve("demo.png").toString());
        assertEquals(0, r.exit(), r.all());
        Set<String> seen = new TreeSet<>();
        new ObjectMapper().readTree(json.toFile()).get("experiments").get(0).get("rows")
                .forEach(row -> seen.add(row.get("model").asText()));
        assertEquals(Set.of("passkey-window"), seen, "the package trained for another task is not a passkey model");

        Files.delete(models.resolve("passkey-window").resolve("engram.json"));
        CliRun none = CliRun.of("demo", "--models", models.toString(), "--only", "passkey", "--lengths", "64",
                "--trials", "1", "--chart", dir.resolve("demo2.png").toString());
        assertEquals(2, none.exit(), none.all());
        assertTrue(none.err().contains("experiment 'passkey' has no model package"), none.err());
    }

    private static void copyPackage(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
    }

    @Test
    void helpSaysLongGoesOnTo64K() {
        CliRun r = CliRun.of("demo", "--help");
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.out().contains("16384,32768,65536"), r.out());
    }
}
