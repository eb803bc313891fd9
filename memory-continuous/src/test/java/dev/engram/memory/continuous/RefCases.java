package dev.engram.memory.continuous;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.spi.ProviderConfig;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Builds conformance cases (docs/conformance.md) whose expected values come from
 * {@link ReferenceContinuous}, never from the fast path. {@link RefCaseGeneratorTest} writes
 * {@link #all()} to src/test/resources/conformance/ref-*.json; {@link ReferenceAgreementTest} builds
 * more of them with other seeds in memory.
 */
final class RefCases {
    static final ObjectMapper JSON = new ObjectMapper();

    record Spec(String name, String description, int heads, int kvHeads, int dk, int dv, int e,
                Map<String, Object> config, int[] lengths, boolean giveUniforms, long seed) {
    }

    private RefCases() {
    }

    static Map<String, Object> small(Object... extra) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("basis", 16);
        c.put("widths", List.of(0.05, 0.1));
        c.put("samples", 12);
        c.put("bins", 10);
        for (int i = 0; i < extra.length; i += 2) {
            c.put((String) extra[i], extra[i + 1]);
        }
        return c;
    }

    static List<Spec> all() {
        return List.of(
                new Spec("ref-plain", "uniform resampling, lambda 0.5, tau 0.5; four segments of varying length",
                        2, 1, 4, 3, 6, small(), new int[] {5, 3, 7, 4}, false, 11),
                new Spec("ref-sticky-uniforms", "sticky memories with the draws given as segment uniforms",
                        2, 2, 4, 3, 6, small("sticky", true), new int[] {6, 4, 5, 6}, true, 12),
                new Spec("ref-sticky-seeded", "sticky memories drawing from the seeded stream (seed 42: "
                        + "java.util.SplittableRandom(42).nextDouble())",
                        2, 2, 4, 3, 6, small("sticky", true, "seed", 42), new int[] {4, 6, 3, 5}, false, 13),
                new Spec("ref-gated", "input gate conv (kernel 3, padding 1) on the new rows",
                        2, 2, 4, 3, 6, small("inputGate", "conv"), new int[] {5, 4, 6}, false, 14),
                new Spec("ref-reset", "resetEvery 8: the third segment's write starts from an empty memory",
                        2, 2, 4, 3, 6, small("resetEvery", 8, "tau", 0.3, "lambda", 0.2), new int[] {5, 4, 3, 6}, false, 15),
                new Spec("ref-default-widths", "basis 64 with the default widths [0.005, 0.01] and 3 heads",
                        3, 3, 4, 2, 5, Map.of("basis", 64, "samples", 40, "tau", 0.6), new int[] {8, 5, 9}, false, 16),
                new Spec("ref-uniform-tau", "tau uniform: the old signal on [0, written / (written + n)] (5/8, 8/15, "
                        + "then resetEvery 9 empties the memory before the fourth write, and 4/10)",
                        2, 2, 4, 3, 6, small("tau", "uniform", "resetEvery", 9), new int[] {5, 3, 7, 4, 6}, false, 17),
                new Spec("ref-uniform-tau-sticky", "tau uniform with sticky memories drawing from the seeded stream",
                        2, 2, 4, 3, 6, small("tau", "uniform", "sticky", true, "seed", 7), new int[] {6, 4, 5, 6}, false,
                        18));
    }

    /** Normal(0, scale^2) values rounded to float32 (what a case file stores). */
    private static double[] normal(SplittableRandom r, int count, double scale) {
        double[] x = new double[count];
        for (int i = 0; i < count; i++) {
            double u1 = r.nextDouble();
            double u2 = r.nextDouble();
            x[i] = (float) (Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2) * scale);
        }
        return x;
    }

    private static double[][] matrix(double[] flat, int rows, int cols) {
        double[][] m = new double[rows][cols];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(flat, i * cols, m[i], 0, cols);
        }
        return m;
    }

    private static ObjectNode tensor(double[] data, int... shape) {
        ObjectNode t = JSON.createObjectNode();
        ArrayNode s = t.putArray("shape");
        for (int d : shape) {
            s.add(d);
        }
        ArrayNode a = t.putArray("data");
        for (double x : data) {
            a.add((float) x);
        }
        return t;
    }

    private static double[] flat(double[][] m) {
        int cols = m[0].length;
        double[] f = new double[m.length * cols];
        for (int i = 0; i < m.length; i++) {
            System.arraycopy(m[i], 0, f, i * cols, cols);
        }
        return f;
    }

    static String build(Spec s) {
        ProviderConfig c = new ContinuousMemoryProvider().configSchema().parse(s.name(), s.config());
        int n = c.get(ContinuousMemoryProvider.BASIS);
        int hk = s.heads() * s.dk();
        int hv = s.heads() * s.dv();
        int e = s.e();
        int m = c.get(ContinuousMemoryProvider.SAMPLES);
        boolean gated = c.get(ContinuousMemoryProvider.INPUT_GATE) == ContinuousMemoryProvider.InputGate.CONV;
        SplittableRandom r = new SplittableRandom(s.seed());
        double[] projKey = normal(r, hk * e, 1.0);
        double[] projValue = normal(r, hv * e, 1.0);
        double[] muW = normal(r, n, 2.0);
        double[] muB = normal(r, 1, 0.5);
        double[] sigmaW = normal(r, n, 2.0);
        double[] sigmaB = {-3.0};
        double[] out = normal(r, e * hv, 0.5);
        double[] gateW = gated ? normal(r, e * e * 3, 0.5) : null;
        double[] gateB = gated ? normal(r, e, 0.5) : null;
        double[][][] gateW3 = null;
        if (gated) {
            gateW3 = new double[e][e][3];
            for (int o = 0; o < e; o++) {
                for (int i = 0; i < e; i++) {
                    for (int k = 0; k < 3; k++) {
                        gateW3[o][i][k] = gateW[(o * e + i) * 3 + k];
                    }
                }
            }
        }
        ReferenceContinuous ref = new ReferenceContinuous(n, c.get(ContinuousMemoryProvider.WIDTHS),
                c.get(ContinuousMemoryProvider.LAMBDA),
                c.get(ContinuousMemoryProvider.TAU).uniform() ? Double.NaN : c.get(ContinuousMemoryProvider.TAU).fixed(), m,
                c.get(ContinuousMemoryProvider.STICKY), c.get(ContinuousMemoryProvider.BINS),
                c.get(ContinuousMemoryProvider.SIGMA_MIN2), c.get(ContinuousMemoryProvider.RESET_EVERY),
                c.get(ContinuousMemoryProvider.SEED), s.heads(), s.dk(), s.dv(), e,
                matrix(projKey, hk, e), matrix(projValue, hv, e), muW, muB[0], sigmaW, sigmaB[0],
                matrix(out, e, hv), gateW3, gateB);

        ObjectNode doc = JSON.createObjectNode();
        doc.put("format", "engram-conformance/1");
        doc.put("kind", "memory");
        doc.put("provider", "continuous");
        doc.put("description", s.description() + ". Expected values from the plain double-precision reference "
                + "ReferenceContinuous (src/test/java), regenerate with RefCaseGeneratorTest.");
        ObjectNode layer = doc.putObject("layer");
        layer.put("heads", s.heads());
        layer.put("kvHeads", s.kvHeads());
        layer.put("keyDim", s.dk());
        layer.put("valueDim", s.dv());
        layer.put("modelDim", e);
        doc.set("config", JSON.valueToTree(s.config()));
        ObjectNode weights = doc.putObject("weights");
        weights.set("proj_key", tensor(projKey, hk, e));
        weights.set("proj_value", tensor(projValue, hv, e));
        weights.set("mu.weight", tensor(muW, n));
        weights.set("mu.bias", tensor(muB, 1));
        weights.set("sigma.weight", tensor(sigmaW, n));
        weights.set("sigma.bias", tensor(sigmaB, 1));
        weights.set("out", tensor(out, e, hv));
        if (gated) {
            weights.set("gate.weight", tensor(gateW, e, e, 3));
            weights.set("gate.bias", tensor(gateB, e));
        }
        ArrayNode segments = doc.putArray("segments");
        ArrayNode expected = doc.putArray("expected");
        for (int length : s.lengths()) {
            double[] q = normal(r, s.heads() * length * s.dk(), 1.0);
            double[] h = normal(r, length * e, 1.0);
            ObjectNode seg = segments.addObject();
            seg.set("q", tensor(q, s.heads(), length, s.dk()));
            seg.set("h", tensor(h, length, e));
            double[] u = null;
            if (s.giveUniforms()) {
                u = new double[m];
                for (int i = 0; i < m; i++) {
                    u[i] = Math.min((float) r.nextDouble(), Math.nextDown(1f));
                }
                seg.set("uniforms", tensor(u, m));
            }
            double[][][] q3 = new double[s.heads()][length][s.dk()];
            for (int hh = 0; hh < s.heads(); hh++) {
                for (int t = 0; t < length; t++) {
                    System.arraycopy(q, (hh * length + t) * s.dk(), q3[hh][t], 0, s.dk());
                }
            }
            ReferenceContinuous.Read read = ref.read(q3);
            ObjectNode exp = expected.addObject();
            exp.set("output", tensor(flat(read.output()), length, e));
            if (read.mu() != null) {
                exp.set("mu", tensor(flat(read.mu()), s.heads(), length));
                exp.set("sigma2", tensor(flat(read.sigma2()), s.heads(), length));
            }
            ref.write(matrix(h, length, e), u);
        }
        ObjectNode tol = doc.putObject("tolerance");
        tol.put("abs", 1e-4);
        tol.put("rel", 1e-3);
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(doc);
        } catch (Exception ex) {
            throw new IllegalStateException(ex);
        }
    }
}
