package dev.engram.memory.continuous;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.engram.api.LayerSpec;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.StateWriter;
import dev.engram.api.Tensor;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * r_j = E_{t ~ N(mu, sigma2)}[psi_j(t)] = Normal(mu; c_j, sigma2 + w_j^2) checked against numerical
 * integration of the product of the two Gaussians. The memory is set up so that its read returns r
 * itself: B = I (restored from a snapshot), W_V = I, W_out = I, w_mu = w_sigma = 0 and the biases chosen
 * to give the wanted mu and sigma2.
 */
class ClosedFormTest {
    @ParameterizedTest
    @CsvSource({"0.3, 0.01", "0.5, 0.0001", "0.05, 0.2", "0.97, 0.002", "0.5, 3.0"})
    void readWeightsEqualTheIntegralOfTheProductOfGaussians(double mu, double sigma2) {
        int n = 16;
        List<Double> widths = List.of(0.03, 0.08);
        LayerSpec spec = new LayerSpec(1, 1, 2, n, n);
        Map<String, Tensor> w = new HashMap<>();
        w.put("proj_key", Tensor.zeros(2, n));
        w.put("proj_value", identity(n));
        w.put("out", identity(n));
        w.put("mu.weight", Tensor.zeros(n));
        w.put("sigma.weight", Tensor.zeros(n));
        w.put("mu.bias", Tensor.of(new float[] {(float) Math.log(mu / (1 - mu))}, 1));
        w.put("sigma.bias", Tensor.of(new float[] {(float) Math.log(Math.expm1(sigma2))}, 1));
        ContinuousMemory memory = Fixtures.memory(spec, Map.of("basis", n, "widths", widths, "samples", 8), w);
        StateWriter sw = new StateWriter().writeBoolean(false).writeFloats(identity(n).toArray())
                .writeLong(0).writeLong(0).writeBoolean(false);
        memory.restore(new Snapshot("continuous", 1, spec, sw.toBytes()));

        Readout.ModelSpace read = (Readout.ModelSpace) memory.read(
                new Segment(0, Tensor.zeros(1, 1, 2), null, null, null, null));
        double actualMu = read.diagnostics().get("mu").get(0, 0);
        double actualSigma2 = read.diagnostics().get("sigma2").get(0, 0);
        RbfBasis basis = new RbfBasis(n, widths);
        for (int j = 0; j < n; j++) {
            double integral = integrate(actualMu, actualSigma2, basis.centre(j), basis.width(j));
            assertEquals(integral, read.addend().get(0, j), 1e-5 + 1e-4 * Math.abs(integral), "r_" + j);
        }
    }

    /** Simpson's rule over mu +- 12 sd of the narrower factor, fine enough for both. */
    private static double integrate(double mu, double sigma2, double centre, double width) {
        double sd = Math.sqrt(sigma2);
        double lo = Math.min(mu - 12 * sd, centre - 12 * width);
        double hi = Math.max(mu + 12 * sd, centre + 12 * width);
        int steps = 400_000;
        double h = (hi - lo) / steps;
        double sum = 0;
        for (int i = 0; i <= steps; i++) {
            double t = lo + i * h;
            double f = ReferenceContinuous.normalPdf(t, mu, sigma2) * ReferenceContinuous.normalPdf(t, centre, width * width);
            sum += f * (i == 0 || i == steps ? 1 : i % 2 == 1 ? 4 : 2);
        }
        return sum * h / 3;
    }

    private static Tensor identity(int n) {
        Tensor t = Tensor.zeros(n, n);
        for (int i = 0; i < n; i++) {
            t.set(1f, i, i);
        }
        return t;
    }
}
