package dev.engram.baselines;

import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import dev.engram.baselines.position.PositionalEncoding;
import java.util.ArrayList;
import java.util.List;

/**
 * A plain double-precision reference for {@code full} and {@code window}, written from the
 * definitions and sharing no code with the fast path: it keeps every token of the sequence, applies
 * the positional encoding to every q and k afresh at its absolute position, and for each query
 * attends to exactly the keys the definition allows.
 *
 * <ul>
 *   <li>full: query at position p sees keys at positions 0..p;</li>
 *   <li>window W: query at position p of a segment starting at S sees positions max(0, S - W)..p.</li>
 * </ul>
 * Logits: q.k / sqrt(dk), minus m_h * (p - j) for ALiBi with m_h = 2^(-8 (h + 1) / H); RoPE rotates
 * dimension i with i + dk/2 by angle position * theta^(-2i/dk).
 */
final class ReferenceAttention {
    private ReferenceAttention() {
    }

    /** One segment's inputs: q [H, N, dk], k [G, N, dk], v [G, N, dv]. */
    record Inputs(Tensor q, Tensor k, Tensor v) {
        int length() {
            return q.dim(1);
        }
    }

    /**
     * @param window -1 for {@code full}, else the window size
     * @return per segment the output [H, N, dv] in double precision, flattened row-major
     */
    static List<double[]> run(LayerSpec spec, PositionalEncoding positional, double theta, int window, List<Inputs> segments) {
        int heads = spec.heads();
        int kvHeads = spec.kvHeads();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int total = 0;
        for (Inputs s : segments) {
            total += s.length();
        }
        double[][][] q = new double[heads][total][dk];
        double[][][] k = new double[kvHeads][total][dk];
        double[][][] v = new double[kvHeads][total][dv];
        int position = 0;
        for (Inputs s : segments) {
            int n = s.length();
            for (int t = 0; t < n; t++) {
                int p = position + t;
                for (int h = 0; h < heads; h++) {
                    for (int d = 0; d < dk; d++) {
                        q[h][p][d] = s.q().get(h, t, d);
                    }
                    if (positional == PositionalEncoding.ROPE) {
                        q[h][p] = rope(q[h][p], p, theta);
                    }
                }
                for (int g = 0; g < kvHeads; g++) {
                    for (int d = 0; d < dk; d++) {
                        k[g][p][d] = s.k().get(g, t, d);
                    }
                    if (positional == PositionalEncoding.ROPE) {
                        k[g][p] = rope(k[g][p], p, theta);
                    }
                    for (int d = 0; d < dv; d++) {
                        v[g][p][d] = s.v().get(g, t, d);
                    }
                }
            }
            position += n;
        }

        List<double[]> outputs = new ArrayList<>();
        int segmentStart = 0;
        for (Inputs s : segments) {
            int n = s.length();
            double[] out = new double[heads * n * dv];
            int first = window < 0 ? 0 : Math.max(0, segmentStart - window);
            for (int h = 0; h < heads; h++) {
                int g = h / (heads / kvHeads);
                double slope = Math.pow(2.0, -8.0 * (h + 1) / heads);
                for (int t = 0; t < n; t++) {
                    int p = segmentStart + t;
                    double[] logits = new double[p - first + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = first; j <= p; j++) {
                        double dot = 0;
                        for (int d = 0; d < dk; d++) {
                            dot += q[h][p][d] * k[g][j][d];
                        }
                        double logit = dot / Math.sqrt(dk);
                        if (positional == PositionalEncoding.ALIBI) {
                            logit -= slope * (p - j);
                        }
                        logits[j - first] = logit;
                        max = Math.max(max, logit);
                    }
                    double z = 0;
                    for (int j = 0; j < logits.length; j++) {
                        logits[j] = Math.exp(logits[j] - max);
                        z += logits[j];
                    }
                    for (int j = first; j <= p; j++) {
                        double w = logits[j - first] / z;
                        for (int d = 0; d < dv; d++) {
                            out[(h * n + t) * dv + d] += w * v[g][j][d];
                        }
                    }
                }
            }
            outputs.add(out);
            segmentStart += n;
        }
        return outputs;
    }

    /** Rotate-half RoPE of one vector at absolute position {@code p}. */
    static double[] rope(double[] x, int p, double theta) {
        int d = x.length;
        int half = d / 2;
        double[] y = new double[d];
        for (int i = 0; i < half; i++) {
            double angle = p * Math.pow(theta, -2.0 * i / d);
            double c = Math.cos(angle);
            double s = Math.sin(angle);
            y[i] = x[i] * c - x[i + half] * s;
            y[i + half] = x[i + half] * c + x[i] * s;
        }
        return y;
    }
}
