package dev.engram.memory.infini;

/**
 * A plain double-precision Infini-attention written straight from docs/schemes.md section 1, with
 * no buffers, no layout tricks and no shared code with the fast path. Arrays are [head][token][dim].
 */
final class InfiniReference {
    final int heads;
    final int kvHeads;
    final int dk;
    final int dv;
    final boolean delta;
    final double eps;
    final double[] beta;
    final double[][][] m;   // [g][dk][dv]
    final double[][] z;     // [g][dk]

    InfiniReference(int heads, int kvHeads, int dk, int dv, boolean delta, double eps, double[] beta) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.dk = dk;
        this.dv = dv;
        this.delta = delta;
        this.eps = eps;
        this.beta = beta;
        this.m = new double[kvHeads][dk][dv];
        this.z = new double[kvHeads][dk];
    }

    static double elu1(double x) {
        return x > 0 ? x + 1 : Math.exp(x);
    }

    /** A_mem for query rows q[h][t][:], using only what was written before. */
    double[][][] read(double[][][] q) {
        int n = q[0].length;
        double[][][] out = new double[heads][n][dv];
        for (int h = 0; h < heads; h++) {
            int g = h / (heads / kvHeads);
            for (int t = 0; t < n; t++) {
                out[h][t] = retrieve(g, q[h][t]);
            }
        }
        return out;
    }

    private double[] retrieve(int g, double[] x) {
        double[] s = new double[dk];
        double denominator = 0;
        for (int i = 0; i < dk; i++) {
            s[i] = elu1(x[i]);
            denominator += s[i] * z[g][i];
        }
        double[] r = new double[dv];
        for (int j = 0; j < dv; j++) {
            double num = 0;
            for (int i = 0; i < dk; i++) {
                num += s[i] * m[g][i][j];
            }
            r[j] = num / Math.max(denominator, eps);
        }
        return r;
    }

    /** g_h * memory + (1 - g_h) * local, g_h = sigmoid(beta_h). */
    double[][][] combine(double[][][] local, double[][][] memory) {
        double[][][] out = new double[heads][][];
        for (int h = 0; h < heads; h++) {
            double gate = 1 / (1 + Math.exp(-beta[h]));
            out[h] = new double[local[h].length][dv];
            for (int t = 0; t < local[h].length; t++) {
                for (int j = 0; j < dv; j++) {
                    out[h][t][j] = gate * memory[h][t][j] + (1 - gate) * local[h][t][j];
                }
            }
        }
        return out;
    }

    void write(double[][][] k, double[][][] v) {
        int n = k[0].length;
        for (int g = 0; g < kvHeads; g++) {
            double[][] update = new double[dk][dv];
            for (int t = 0; t < n; t++) {
                double[] target = v[g][t].clone();
                if (delta) {
                    double[] r = retrieve(g, k[g][t]);
                    for (int j = 0; j < dv; j++) {
                        target[j] -= r[j];
                    }
                }
                for (int i = 0; i < dk; i++) {
                    double s = elu1(k[g][t][i]);
                    for (int j = 0; j < dv; j++) {
                        update[i][j] += s * target[j];
                    }
                }
            }
            for (int t = 0; t < n; t++) {
                for (int i = 0; i < dk; i++) {
                    z[g][i] += elu1(k[g][t][i]);
                }
            }
            for (int i = 0; i < dk; i++) {
                for (int j = 0; j < dv; j++) {
                    m[g][i][j] += update[i][j];
                }
            }
        }
    }
}
