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
 * on the demo's trials (seed 42, 20 trials, L0 and 8 L0) every greedy per-position accuracy equals what
 * {@code train_sorting.py --evaluate models/sorting-NAME.model.pt --eval-trials 20} computes from the torch model
 * (the numbers below), and the continuous model stays above chance at 8 L0. A retrained model changes these numbers
 * on purpose: rerun --evaluate and update them with models/README.md ("Sorting by frequency").
 */
class BundledSortingModelsTest {
    /** model, accuracy at L0 = 256 and at 8 L0 = 2048 (PyTorch, train_sorting --evaluate, 2026-12-04). */
    static final Object[][] PYTORCH = {
            {"sorting-continuous", 0.14, 0.075},
            {"sorting-window", 0.0675, 0.0575},
            {"sorting-infini", 0.035, 0.0275},
    };

    @Test
    void greedyAccuracyEqualsThePyTorchCheckpointsOnTheDemosTrials() throws IOException {
        for (Object[] row : PYTORCH) {
            Path pkg = BundledModelsTest.MODELS.resolve((String) row[0]);
            SortingDemo demo = new SortingDemo(List.of(pkg), new int[] {1, 8}, 20, 42, new PrintWriter(new StringWriter()));
            SortingDemo.Result r = demo.run().get(0);
            assertEquals(256, r.trainLength(), row[0] + ": L0");
            assertEquals((double) row[1], r.accuracy()[0], 1e-9, row[0] + " at L0");
            assertEquals((double) row[2], r.accuracy()[1], 1e-9, row[0] + " at 8 L0");
            if (row[0].equals("sorting-continuous")) {
                assertTrue(r.accuracy()[1] > 1.0 / SortingTask.SYMBOLS, "continuous above chance at 8 L0: " + r.accuracy()[1]);
            }
        }
    }
}
