package dev.engram.memory.continuous;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A smooth signal written into the memory comes back from B more faithfully as N grows. */
class ReconstructionTest {
    static double signal(double t, int c) {
        return Math.sin(2 * Math.PI * 3 * t + c) + 0.5 * Math.cos(2 * Math.PI * 7 * t * t);
    }

    /** RMS error of psi(t)^T B against the signal at points between the fit positions. */
    static double error(int basisSize) {
        int n = 400;
        int e = 3;
        LayerSpec spec = new LayerSpec(1, 1, 2, 2, e);
        ContinuousMemory memory = Fixtures.randomMemory(spec, Map.of("basis", basisSize, "lambda", 0.05), 5);
        float[] h = new float[n * e];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < e; c++) {
                h[i * e + c] = (float) signal((i + 0.5) / n, c);
            }
        }
        Fixtures.write(memory, Tensor.of(h, n, e), null);
        float[] b = memory.coefficients();
        RbfBasis basis = memory.fits().basis();
        double sq = 0;
        int count = 0;
        for (int i = 1; i < n; i++) {
            double t = (double) i / n; // midway between two fit positions
            for (int c = 0; c < e; c++) {
                double x = 0;
                for (int j = 0; j < basisSize; j++) {
                    x += basis.psi(j, t) * b[j * e + c];
                }
                sq += (x - signal(t, c)) * (x - signal(t, c));
                count++;
            }
        }
        return Math.sqrt(sq / count);
    }

    @Test
    void errorShrinksAsTheBasisGrows() {
        int[] sizes = {32, 64, 128, 256, 512};
        double previous = Double.POSITIVE_INFINITY;
        StringBuilder seen = new StringBuilder();
        for (int size : sizes) {
            double err = error(size);
            seen.append(size).append(": ").append(err).append("; ");
            assertTrue(err < previous * 0.8, "error did not shrink enough with N: " + seen);
            previous = err;
        }
        assertTrue(previous < 0.02, "N = 512 should reconstruct a smooth signal closely: " + seen);
    }

    @Test
    void theRidgeSolveIsCachedPerPositionSet() {
        LayerSpec spec = new LayerSpec(1, 1, 2, 2, 3);
        ContinuousMemory memory = Fixtures.randomMemory(spec, Map.of("basis", 20, "samples", 9, "lambda", 0.37), 5);
        int before = memory.fits().solves();
        for (int s = 0; s < 6; s++) {
            Fixtures.write(memory, dev.engram.conformance.SeededData.normal(s, 1f, s % 2 == 0 ? 5 : 7, 3), null);
        }
        // first write (n=5), updates with n=7 and n=5: three position sets, however many segments
        assertEquals(3, memory.fits().solves() - before);
    }

    @Test
    void aUniformTauSolvesEachWriteOfASequenceOnceForEverySequence() {
        LayerSpec spec = new LayerSpec(1, 1, 2, 2, 3);
        Map<String, Object> config = Map.of("basis", 20, "samples", 9, "lambda", 0.41, "tau", "uniform");
        ContinuousMemory first = Fixtures.randomMemory(spec, config, 5);
        int before = first.fits().solves();
        for (int s = 0; s < 40; s++) {
            Fixtures.write(first, dev.engram.conformance.SeededData.normal(s, 1f, 5, 3), null);
        }
        // the first write, then 39 updates each at its own tau = 5k / (5k + 5)
        assertEquals(40, first.fits().solves() - before);
        ContinuousMemory second = Fixtures.randomMemory(spec, config, 6);
        for (int s = 0; s < 40; s++) {
            Fixtures.write(second, dev.engram.conformance.SeededData.normal(100 + s, 1f, 5, 3), null);
        }
        assertEquals(40, second.fits().solves() - before, "a second sequence of the same lengths reuses every solve");
    }
}
