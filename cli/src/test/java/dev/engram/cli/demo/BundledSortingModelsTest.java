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
 * model (the numbers below), and the continuous model meets issue 15's target there: at 8 L0 at least 20 points above
 * window and within 10 points of its own L0 score (teacher-forced). A retrained model changes these numbers on purpose:
 * rerun --evaluate and update them with models/README.md ("Sorting by frequency").
 */
class BundledSortingModelsTest {
    /**
     * model, greedy accuracy at L0 = 256 and at 8 L0 = 2048, teacher-forced accuracy at L0 and 8 L0 (PyTorch,
     * train_sorting --evaluate: "accuracy" and "teacherForced"; the models of 2026-12-05, continuous and infini
     * fine-tuned quantization-aware that night and once more late that night: continuous stage 4; infini stage 7, trained
     * for int4 blocks of 16 on 2026-12-06).
     */
    static final Object[][] PYTORCH = {
            {"sorting-continuous", 0.5025, 0.4225, 0.7325, 0.6875},
            {"sorting-window", 0.095, 0.0825, 0.375, 0.29},
            {"sorting-infini", 0.8825, 0.6675, 0.94, 0.8225},
    };

    /**
     * Teacher-forced at 8 L0, one answer position of the 400 may go either way where a model's best two logits are
     * closer than what 2,048 tokens of float32 summed in another order move (the 2026-12-04 continuous model had one,
     * 5.7e-4 apart in PyTorch).
     */
    static final double ONE_NEAR_TIE = 1.0 / (20 * SortingTask.SYMBOLS) + 1e-9;

    @Test
    void accuracyEqualsThePyTorchCheckpointsOnTheDemosTrials() throws IOException {
        double windowAt8 = Double.NaN;
        double continuousAt1 = Double.NaN;
        double continuousAt8 = Double.NaN;
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
                continuousAt1 = r.accuracy()[0];
                continuousAt8 = r.accuracy()[1];
            } else if (row[0].equals("sorting-window")) {
                windowAt8 = r.accuracy()[1];
            }
        }
        assertTrue(continuousAt8 >= windowAt8 + 0.20, "continuous at 8 L0 " + continuousAt8 + " against window " + windowAt8);
        assertTrue(continuousAt8 >= continuousAt1 - 0.10, "continuous at 8 L0 " + continuousAt8 + " against L0 " + continuousAt1);
    }
}
