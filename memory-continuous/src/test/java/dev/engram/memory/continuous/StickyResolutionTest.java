package dev.engram.memory.continuous;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Property: when every read attends to where the content of an original region R0 now lives, sticky
 * memories keep that content at a higher resolution across many updates than uniform resampling.
 *
 * <p>The test tracks, for every placement point u_i = i tau / M of the memory, which original position
 * phi(u_i) its content came from (an update places the old memory at s_i onto u_i, so
 * phi_new(u_i) = phi_old(s_i), with phi_old interpolated linearly between its points). After K updates it
 * measures the reconstruction error psi(u_i)^T B - X0(phi(u_i)) over the points whose content lies in R0.
 * When no point holds content of R0 any more (uniform resampling halves the region's span with every
 * update, so after about log2(M * 0.2) updates it falls between two sample points) the region is lost:
 * its error is then the RMS of X0 over R0 itself, what a memory that knows nothing of it would score.
 */
class StickyResolutionTest {
    private static final int BASIS = 64;
    private static final int SAMPLES = 256;
    private static final int BINS = 128;
    private static final double TAU = 0.5;
    private static final double R0_LO = 0.3;
    private static final double R0_HI = 0.5;
    private static final int E = 3;
    /** Sticky must reconstruct the attended region with at most this fraction of uniform's RMS error. */
    private static final double MARGIN = 0.5;

    static double x0(double t, int c) {
        return Math.sin(2 * Math.PI * 5 * t + c);
    }

    /** RMS error over the memory points holding content of R0, and how many such points there were. */
    record Outcome(double rms, int points) {
    }

    /** The RMS of X0 over R0 (midpoint rule, fine grid): the error of a memory that lost the region. */
    static double totalLoss() {
        int steps = 20_000;
        double sq = 0;
        for (int i = 0; i < steps; i++) {
            double t = R0_LO + (R0_HI - R0_LO) * (i + 0.5) / steps;
            for (int c = 0; c < E; c++) {
                sq += x0(t, c) * x0(t, c);
            }
        }
        return Math.sqrt(sq / (steps * E));
    }

    Outcome run(boolean sticky, int updates) {
        Map<String, Object> config = new HashMap<>(Map.of("basis", BASIS, "widths", List.of(0.016, 0.032), "samples",
                SAMPLES, "bins", BINS, "tau", TAU, "lambda", 0.01, "sticky", sticky));
        ContinuousMemory memory = Fixtures.randomMemory(new LayerSpec(1, 1, 2, 2, E), config, 3);
        int n = 256;
        float[] h = new float[n * E];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < E; c++) {
                h[i * E + c] = (float) x0((i + 0.5) / n, c);
            }
        }
        Fixtures.write(memory, Tensor.of(h, n, E), null);
        // phi as sorted (memory position, original position) pairs; identity after the first write
        List<double[]> phi = List.of(new double[] {0, 0}, new double[] {1, 1});
        SplittableRandom random = new SplittableRandom(99);
        int queries = 64;
        for (int k = 0; k < updates; k++) {
            double lo = Double.POSITIVE_INFINITY;
            double hi = Double.NEGATIVE_INFINITY;
            for (double[] p : phi) {
                if (p[1] >= R0_LO && p[1] <= R0_HI) {
                    lo = Math.min(lo, p[0]);
                    hi = Math.max(hi, p[0]);
                }
            }
            if (k == 0) {
                lo = R0_LO;
                hi = R0_HI;
            }
            float[] mu = new float[queries];
            float[] sigma2 = new float[queries];
            for (int i = 0; i < queries; i++) {
                mu[i] = (float) (lo + (hi - lo) * (i + 0.5) / queries);
                sigma2[i] = (float) Math.pow((hi - lo) / queries, 2);
            }
            float[] u = new float[SAMPLES];
            double[] ud = new double[SAMPLES];
            for (int i = 0; i < SAMPLES; i++) {
                u[i] = (float) random.nextDouble();
                ud[i] = u[i];
            }
            double[] s = new double[SAMPLES];
            if (sticky) {
                double[] p = new double[BINS];
                int[] counts = new int[BINS];
                StickySampler.binWeights(mu, sigma2, queries, BINS, p, new double[BINS + 1]);
                StickySampler.drawCounts(p, BINS, ud, SAMPLES, counts, new double[BINS]);
                int i = 0;
                for (int b = 0; b < BINS; b++) {
                    for (int c = 0; c < counts[b]; c++) {
                        s[i++] = (double) b / BINS;
                    }
                }
                memory.rememberRead(mu, sigma2);
            } else {
                for (int i = 0; i < SAMPLES; i++) {
                    s[i] = (i + 1.0) / SAMPLES;
                }
            }
            List<double[]> next = new ArrayList<>();
            next.add(new double[] {0, interpolate(phi, 0)});
            for (int i = 0; i < SAMPLES; i++) {
                next.add(new double[] {(i + 1) * TAU / SAMPLES, interpolate(phi, s[i])});
            }
            next.add(new double[] {1, -1}); // new rows: not from R0
            phi = next;
            Fixtures.write(memory, Tensor.zeros(32, E), Tensor.of(u, SAMPLES));
        }
        float[] b = memory.coefficients();
        RbfBasis basis = memory.fits().basis();
        double sq = 0;
        int count = 0;
        int points = 0;
        for (double[] p : phi) {
            if (p[1] < R0_LO || p[1] > R0_HI) {
                continue;
            }
            points++;
            for (int c = 0; c < E; c++) {
                double x = 0;
                for (int j = 0; j < BASIS; j++) {
                    x += basis.psi(j, p[0]) * b[j * E + c];
                }
                sq += Math.pow(x - x0(p[1], c), 2);
                count++;
            }
        }
        return points == 0 ? new Outcome(totalLoss(), 0) : new Outcome(Math.sqrt(sq / count), points);
    }

    private static double interpolate(List<double[]> phi, double u) {
        for (int i = 1; i < phi.size(); i++) {
            double[] a = phi.get(i - 1);
            double[] b = phi.get(i);
            if (u <= b[0]) {
                return b[0] == a[0] ? b[1] : a[1] + (b[1] - a[1]) * (u - a[0]) / (b[0] - a[0]);
            }
        }
        return phi.get(phi.size() - 1)[1];
    }

    @Test
    void theTotalLossIsTheSignalsRms() {
        // X0 is a sine with one full period over R0 in every channel: RMS 1 / sqrt(2).
        assertEquals(Math.sqrt(0.5), totalLoss(), 1e-6);
    }

    @ParameterizedTest(name = "{0} updates")
    @ValueSource(ints = {4, 16, 64})
    void stickyMemoriesKeepTheAttendedRegionSharper(int updates) {
        Outcome uniform = run(false, updates);
        Outcome sticky = run(true, updates);
        System.out.printf("attended-region RMS error after %d updates: uniform %.4f (%d points), sticky %.4f (%d points)%n",
                updates, uniform.rms(), uniform.points(), sticky.rms(), sticky.points());
        assertTrue(sticky.points() > 0, "sticky memories lost the attended region after " + updates + " updates");
        assertTrue(sticky.rms() < MARGIN * uniform.rms(), "after " + updates + " updates sticky " + sticky
                + " vs uniform " + uniform + ": sticky must be below " + MARGIN + " x uniform");
    }
}
