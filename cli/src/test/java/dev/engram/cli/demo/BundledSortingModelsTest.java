package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The bundled sorting models (models/README.md ("Sorting by frequency")) in the Java runtime against the PyTorch checkpoints beside them:
 * on the demo's trials (seed 42, 20 trials, L0 and 8 L0) every per-position accuracy, teacher-forced and greedy,
 * equals what {@code train_sorting.py --evaluate models/sorting-NAME.model.pt --eval-trials 20} computes from the torch
 * model (the numbers below), and the continuous model stays above chance at 8 L0. A retrained model changes these numbers
 * on purpose: rerun --evaluate and update them with models/README.md ("Sorting by frequency").
 */
class BundledSortingModelsTest {
    /**
     * model, greedy accuracy at L0 = 256 and at 8 L0 = 2048, teacher-forced accuracy at L0 and 8 L0 (PyTorch,
     * train_sorting --evaluate: "accuracy" and "teacherForced", 2026-12-04).
     */
    static final Object[][] PYTORCH = {
            {"sorting-continuous", 0.14, 0.075, 0.435, 0.1475},
            {"sorting-window", 0.0675, 0.0575, 0.31, 0.2025},
            {"sorting-infini", 0.035, 0.0275, 0.275, 0.185},
    };

    /**
     * Teacher-forced at 8 L0, one answer position of the 400 may go either way: the continuous model's best two logits
     * at trial 16, position 19 are 5.7e-4 apart in PyTorch, within what 2,048 tokens of float32 in another order move.
     */
    static final double ONE_NEAR_TIE = 1.0 / (20 * SortingTask.SYMBOLS) + 1e-9;

    @Test
    void accuracyEqualsThePyTorchCheckpointsOnTheDemosTrials() throws IOException {
        for (Object[] row : PYTORCH) {
            Path pkg = BundledModelsTest.MODELS.resolve((String) row[0]);
            SortingDemo demo = new SortingDemo(List.of(pkg), new int[] {1, 8}, 20, 42, new PrintWriter(new StringWriter()));
            SortingDemo.Result r = demo.run().get(0);
            assertEquals(256, r.trainLength(), row[0] + ": L0");
            assertEquals((double) row[1], r.greedyAccuracy()[0], 1e-9, row[0] + " greedy at L0");
            assertEquals((double) row[2], r.greedyAccuracy()[1], 1e-9, row[0] + " greedy at 8 L0");
            assertEquals((double) row[3], r.accuracy()[0], 1e-9, row[0] + " teacher-forced at L0");
            assertEquals((double) row[4], r.accuracy()[1], ONE_NEAR_TIE, row[0] + " teacher-forced at 8 L0");
            if (row[0].equals("sorting-continuous")) {
                assertTrue(r.greedyAccuracy()[1] > 1.0 / SortingTask.SYMBOLS, "continuous above chance at 8 L0: " + r.greedyAccuracy()[1]);
            }
        }
    }
}
