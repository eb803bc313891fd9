package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.InvalidInputException;
import dev.engram.cli.CliRun;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sorting experiment on a tiny random package (layer 0: the segment + sticky continuous memory, layer 1: window
 * 32; src/test/resources/sorting-tiny, written with sorting-tiny.expected.json by train_sorting.demo_fixture): the
 * demo's teacher-forced per-position accuracy, and the greedy per-position accuracy and exact share, must equal what
 * the PyTorch model gives on the same trials (the same SplittableRandom seeds and SortingTask sequences, drawn in
 * Python by sorting.py; every deciding logit gap there is over 1e-3).
 */
class SortingDemoTest {
    static final Path RESOURCES = Path.of("src", "test", "resources");
    static final Path TINY = RESOURCES.resolve("sorting-tiny");

    @TempDir
    Path dir;

    @Test
    void accuracyAndExactMatchThePyTorchModelsAnswers() throws IOException {
        JsonNode expected = new ObjectMapper().readTree(RESOURCES.resolve("sorting-tiny.expected.json").toFile());
        StringWriter text = new StringWriter();
        SortingDemo demo = new SortingDemo(List.of(TINY), SortingDemo.MULTIPLES, expected.get("trials").asInt(),
                expected.get("seed").asLong(), new PrintWriter(text));
        List<SortingDemo.Result> results = demo.run();
        assertEquals(1, results.size());
        SortingDemo.Result r = results.get(0);
        assertEquals(32, r.trainLength(), "L0 from the manifest's training.lengths");
        assertEquals("continuous+window", r.strategy());
        for (int li = 0; li < SortingDemo.MULTIPLES.length; li++) {
            assertEquals(expected.get("lengths").get(li).asInt(), r.lengths()[li]);
            assertEquals(expected.get("teacherForcedAccuracy").get(li).asDouble(), r.accuracy()[li], 1e-12,
                    "teacher-forced accuracy at " + r.lengths()[li]);
            assertEquals(expected.get("accuracy").get(li).asDouble(), r.greedyAccuracy()[li], 1e-12,
                    "greedy accuracy at " + r.lengths()[li]);
            assertEquals(expected.get("exact").get(li).asDouble(), r.exact()[li], 1e-12, "exact at " + r.lengths()[li]);
        }
        demo.print(results);
        String table = text.toString();
        assertTrue(table.contains("| sorting-tiny | continuous+window | 32 | 256 | 8 |"), table);
        assertTrue(table.contains(SortingDemo.PAPER_SHAPE), "the paper's shape is stated beside the table");

        List<Map<String, Object>> rows = demo.jsonRows(results);
        assertEquals(4, rows.size());
        for (Map<String, Object> row : rows) {
            assertTrue(row.keySet().containsAll(List.of("model", "strategy", "tokens", "train_tokens", "accuracy",
                    "greedy_accuracy", "exact")), row.toString());
            double accuracy = (double) row.get("accuracy");
            double greedy = (double) row.get("greedy_accuracy");
            assertTrue(accuracy >= 0 && accuracy <= 1 && greedy >= 0 && (double) row.get("exact") <= greedy, row.toString());
        }
        Path chart = dir.resolve("charts/sorting.png");
        demo.chart(chart, results);
        BufferedImage image = ImageIO.read(chart.toFile());
        assertTrue(image.getWidth() >= 500 && image.getHeight() >= 300, image.getWidth() + "x" + image.getHeight());
    }

    @Test
    void aPackageWithoutATrainingLengthIsRefusedNamingTheField() throws IOException {
        Path copy = dir.resolve("no-length");
        Files.createDirectories(copy);
        try (var files = Files.list(TINY)) {
            for (Path f : files.toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        Path manifest = copy.resolve("engram.json");
        Files.writeString(manifest, Files.readString(manifest).replaceAll("\"lengths\": \\[[^]]*]", "\"lengthz\": 1"));
        SortingDemo demo = new SortingDemo(List.of(copy), SortingDemo.MULTIPLES, 1, 1, new PrintWriter(new StringWriter()));
        InvalidInputException e = assertThrows(InvalidInputException.class, demo::run);
        assertTrue(e.getMessage().contains("training.lengths"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new SortingDemo(List.of(TINY), new int[] {0}, 1, 1, null));
        assertThrows(IllegalArgumentException.class, () -> new SortingDemo(List.of(TINY), SortingDemo.MULTIPLES, 0, 1, null));
    }

    @Test
    void demoOnlySortingWritesItsTableChartAndJson() throws IOException {
        Path models = dir.resolve("models");
        Files.createDirectories(models.resolve("sorting-tiny"));
        try (var files = Files.list(TINY)) {
            for (Path f : files.toList()) {
                Files.copy(f, models.resolve("sorting-tiny").resolve(f.getFileName()));
            }
        }
        Path json = dir.resolve("demo.json");
        Path chart = dir.resolve("demo.png");
        CliRun r = CliRun.of("demo", "--models", models.toString(), "--only", "sorting", "--trials", "1", "--json",
                json.toString(), "--chart", chart.toString());
        assertEquals(0, r.exit(), r.all());
        JsonNode experiments = new ObjectMapper().readTree(json.toFile()).get("experiments");
        assertEquals(1, experiments.size());
        assertEquals("sorting", experiments.get(0).get("name").asText());
        assertEquals(4, experiments.get(0).get("rows").size());
        assertEquals(32, experiments.get(0).get("rows").get(3).get("train_tokens").asInt());
        assertEquals(256, experiments.get(0).get("rows").get(3).get("tokens").asInt());
        assertTrue(Files.exists(dir.resolve("demo-sorting.png")), "the sorting chart goes beside --chart");
        assertTrue(r.out().contains("Sorting by frequency"), r.out());
    }
}
