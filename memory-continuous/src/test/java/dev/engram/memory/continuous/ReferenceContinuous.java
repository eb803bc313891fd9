package dev.engram.memory.continuous;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.commons.math3.special.Erf;

/**
 * A plain double-precision reference of docs/schemes.md section 2, written straight from the text and
 * independently of the fast path: K and V are formed in full, s = q K_h^T / sqrt(dk) is computed per
 * basis function, every write builds F over all M + n positions and solves (F F^T + lambda I) B = F X
 * with a hand-written Cholesky, sticky sampling draws sample by sample. Only two facts are shared with
 * the fast path on purpose: B is rounded to float32 after each write and the remembered (mu, sigma2)
 * are float32, because that is the state the spec says a memory keeps.
 */
final class ReferenceContinuous {
    final int basis;
    final double[] widths;
    final double lambda;
    final double tau;           // NaN = "uniform": tokens / (tokens + n) at each update
    final int samples;
    final boolean sticky;
    final int bins;
    final double sigmaMin2;
    final long resetEvery;
    final boolean gated;
    final int heads;
    final int dk;
    final int dv;
    final int e;
    // weights
    final double[][] projKey;   // [H*dk][e]
    final double[][] projValue; // [H*dv][e]
    final double[] muW;
    final double muB;
    final double[] sigmaW;
    final double sigmaB;
    final double[][] out;       // [e][H*dv]
    final double[][][] gateW;   // [e][e][3]
    final double[] gateB;

    double[][] b;               // null = empty
    float[] lastMu;             // [H*n]
    float[] lastSigma2;
    long tokens;
    final SplittableRandom random;

    record Read(double[][] output, double[][] mu, double[][] sigma2) {
    }

    ReferenceContinuous(int basis, List<Double> widths, double lambda, double tau, int samples, boolean sticky,
                        int bins, double sigmaMin2, long resetEvery, long seed, int heads, int dk, int dv, int e,
                        double[][] projKey, double[][] projValue, double[] muW, double muB, double[] sigmaW,
                        double sigmaB, double[][] out, double[][][] gateW, double[] gateB) {
        this.basis = basis;
        this.widths = widths.stream().mapToDouble(Double::doubleValue).toArray();
        this.lambda = lambda;
        this.tau = tau;
        this.samples = samples;
        this.sticky = sticky;
        this.bins = bins;
        this.sigmaMin2 = sigmaMin2;
        this.resetEvery = resetEvery;
        this.gated = gateW != null;
        this.heads = heads;
        this.dk = dk;
        this.dv = dv;
        this.e = e;
        this.projKey = projKey;
        this.projValue = projValue;
        this.muW = muW;
        this.muB = muB;
        this.sigmaW = sigmaW;
        this.sigmaB = sigmaB;
        this.out = out;
        this.gateW = gateW;
        this.gateB = gateB;
        this.random = new SplittableRandom(seed);
    }

    double centre(int j) {
        int perWidth = basis / widths.length;
        int c = j / widths.length;
        return perWidth == 1 ? 0 : c / (double) (perWidth - 1);
    }

    double width(int j) {
        return widths[j % widths.length];
    }

    double psi(int j, double t) {
        double w = width(j);
        return Math.exp(-(t - centre(j)) * (t - centre(j)) / (2 * w * w)) / Math.sqrt(2 * Math.PI * w * w);
    }

    static double normalPdf(double x, double mean, double var) {
        return Math.exp(-(x - mean) * (x - mean) / (2 * var)) / Math.sqrt(2 * Math.PI * var);
    }

    /** q [H][n][dk]. */
    Read read(double[][][] q) {
        int n = q[0].length;
        double[][] output = new double[n][e];
        if (b == null) {
            lastMu = null;
            return new Read(output, null, null);
        }
        double[][] k = new double[basis][heads * dk];
        double[][] v = new double[basis][heads * dv];
        for (int j = 0; j < basis; j++) {
            for (int a = 0; a < heads * dk; a++) {
                for (int c = 0; c < e; c++) {
                    k[j][a] += b[j][c] * projKey[a][c];
                }
            }
            for (int a = 0; a < heads * dv; a++) {
                for (int c = 0; c < e; c++) {
                    v[j][a] += b[j][c] * projValue[a][c];
                }
            }
        }
        double[][] mu = new double[heads][n];
        double[][] sigma2 = new double[heads][n];
        lastMu = new float[heads * n];
        lastSigma2 = new float[heads * n];
        double[][] concat = new double[n][heads * dv];
        for (int h = 0; h < heads; h++) {
            for (int t = 0; t < n; t++) {
                double am = muB;
                double as = sigmaB;
                for (int j = 0; j < basis; j++) {
                    double s = 0;
                    for (int d = 0; d < dk; d++) {
                        s += q[h][t][d] * k[j][h * dk + d];
                    }
                    s /= Math.sqrt(dk);
                    am += muW[j] * s;
                    as += sigmaW[j] * s;
                }
                mu[h][t] = 1 / (1 + Math.exp(-am));
                double softplus = as > 20 ? as : Math.log(1 + Math.exp(as));
                sigma2[h][t] = Math.max(softplus, sigmaMin2);
                lastMu[h * n + t] = (float) mu[h][t];
                lastSigma2[h * n + t] = (float) sigma2[h][t];
                for (int j = 0; j < basis; j++) {
                    double r = normalPdf(mu[h][t], centre(j), sigma2[h][t] + width(j) * width(j));
                    for (int d = 0; d < dv; d++) {
                        concat[t][h * dv + d] += r * v[j][h * dv + d];
                    }
                }
            }
        }
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < e; c++) {
                double s = 0;
                for (int a = 0; a < heads * dv; a++) {
                    s += out[c][a] * concat[t][a];
                }
                output[t][c] = s;
            }
        }
        return new Read(output, mu, sigma2);
    }

    /** h [n][e]; uniforms [M] or null for the seeded stream. */
    void write(double[][] h, double[] uniforms) {
        int n = h.length;
        double[][] x = gated ? gate(h) : h;
        if (resetEvery > 0 && tokens >= resetEvery) {
            b = null;
            tokens = 0;
        }
        double[] positions;
        double[][] rows;
        if (b == null) {
            positions = new double[n];
            for (int i = 1; i <= n; i++) {
                positions[i - 1] = (i - 0.5) / n;
            }
            rows = x;
        } else {
            double[] s = sticky ? stickyPoints(uniforms) : uniformPoints();
            double tau = Double.isNaN(this.tau) ? tokens / (double) (tokens + n) : this.tau;
            positions = new double[samples + n];
            rows = new double[samples + n][];
            for (int i = 1; i <= samples; i++) {
                positions[i - 1] = i * tau / samples;
                double[] old = new double[e];
                for (int j = 0; j < basis; j++) {
                    double p = psi(j, s[i - 1]);
                    for (int c = 0; c < e; c++) {
                        old[c] += p * b[j][c];
                    }
                }
                rows[i - 1] = old;
            }
            for (int j = 1; j <= n; j++) {
                positions[samples + j - 1] = tau + (1 - tau) * j / n;
                rows[samples + j - 1] = x[j - 1];
            }
        }
        b = ridge(positions, rows);
        tokens += n;
        lastMu = null;
    }

    private double[] uniformPoints() {
        double[] s = new double[samples];
        for (int i = 1; i <= samples; i++) {
            s[i - 1] = i / (double) samples;
        }
        return s;
    }

    private double[] stickyPoints(double[] uniforms) {
        double[] p = new double[bins];
        for (int r = 0; r < lastMu.length; r++) {
            double sigma = Math.sqrt(lastSigma2[r]);
            for (int j = 0; j < bins; j++) {
                p[j] += phi((j + 1.0) / bins, lastMu[r], sigma) - phi((double) j / bins, lastMu[r], sigma);
            }
        }
        double total = Arrays.stream(p).sum();
        double[] points = new double[samples];
        for (int i = 0; i < samples; i++) {
            double u = uniforms != null ? uniforms[i] : random.nextDouble();
            double cumulative = 0;
            int chosen = bins - 1;
            for (int j = 0; j < bins; j++) {
                cumulative += p[j];
                if (cumulative / total > u) {
                    chosen = j;
                    break;
                }
            }
            points[i] = (double) chosen / bins;
        }
        Arrays.sort(points);
        return points;
    }

    private static double phi(double x, double mean, double sigma) {
        return 0.5 * (1 + Erf.erf((x - mean) / (sigma * Math.sqrt(2))));
    }

    private double[][] gate(double[][] h) {
        int n = h.length;
        double[][] g = new double[n][e];
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < e; o++) {
                double y = gateB[o];
                for (int c = 0; c < e; c++) {
                    for (int k = 0; k < 3; k++) {
                        int src = t + k - 1;
                        if (src >= 0 && src < n) {
                            y += gateW[o][c][k] * h[src][c];
                        }
                    }
                }
                g[t][o] = h[t][o] / (1 + Math.exp(-y));
            }
        }
        return g;
    }

    /** B = (F F^T + lambda I)^-1 F X, rounded to float32. */
    private double[][] ridge(double[] positions, double[][] rows) {
        int p = positions.length;
        double[][] f = new double[basis][p];
        for (int j = 0; j < basis; j++) {
            for (int i = 0; i < p; i++) {
                f[j][i] = psi(j, positions[i]);
            }
        }
        double[][] a = new double[basis][basis];
        for (int j = 0; j < basis; j++) {
            for (int k = 0; k < basis; k++) {
                for (int i = 0; i < p; i++) {
                    a[j][k] += f[j][i] * f[k][i];
                }
            }
            a[j][j] += lambda;
        }
        double[][] rhs = new double[basis][e];
        for (int j = 0; j < basis; j++) {
            for (int i = 0; i < p; i++) {
                for (int c = 0; c < e; c++) {
                    rhs[j][c] += f[j][i] * rows[i][c];
                }
            }
        }
        double[][] solution = choleskySolve(a, rhs);
        for (double[] row : solution) {
            for (int c = 0; c < row.length; c++) {
                row[c] = (float) row[c];
            }
        }
        return solution;
    }

    static double[][] choleskySolve(double[][] a, double[][] rhs) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = a[i][j];
                for (int k = 0; k < j; k++) {
                    s -= l[i][k] * l[j][k];
                }
                l[i][j] = i == j ? Math.sqrt(s) : s / l[j][j];
            }
        }
        int m = rhs[0].length;
        double[][] y = new double[n][m];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < m; c++) {
                double s = rhs[i][c];
                for (int k = 0; k < i; k++) {
                    s -= l[i][k] * y[k][c];
                }
                y[i][c] = s / l[i][i];
            }
        }
        double[][] xs = new double[n][m];
        for (int i = n - 1; i >= 0; i--) {
            for (int c = 0; c < m; c++) {
                double s = y[i][c];
                for (int k = i + 1; k < n; k++) {
                    s -= l[k][i] * xs[k][c];
                }
                xs[i][c] = s / l[i][i];
            }
        }
        return xs;
    }
}
