package dev.engram.runtime;

import dev.engram.api.Tensor;
import dev.engram.runtime.model.SafeTensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A plain, double-precision forward pass of the tiny test models (src/test/python/make_tiny_models.py),
 * written from the format's definition and independent of ONNX Runtime and of the baselines'
 * attention code: embedding, per layer LayerNorm + q/k/v, causal softmax attention (window W or full)
 * with rotate-half RoPE at absolute positions, the test memories of TestMemories, output projection +
 * residual + addend, LayerNorm-GELU MLP, final LayerNorm + unembedding. Tokens go in segments of S
 * aligned to position 0, like the engine.
 */
final class ReferenceModel {
    static final int L = 2, H = 2, G = 1, DK = 4, DV = 4, E = 8, V = 16;
    static final double EPS = 1e-5, THETA = 10000.0;

    /** Per layer: attention window (-1 = full) and memory ("none", "gate-memory", "addend-memory"). */
    record LayerConfig(int window, String memory) {
    }

    private final Map<String, Tensor> w;
    private final Map<String, Tensor> memoryWeights;
    private final List<LayerConfig> layers;
    private final int segment;

    ReferenceModel(Path models, List<LayerConfig> layers, int segment) {
        this.w = SafeTensors.read(models.resolve("tiny-dense.safetensors"));
        this.memoryWeights = SafeTensors.read(models.resolve("tiny/memory.safetensors"));
        this.layers = layers;
        this.segment = segment;
    }

    /** Logits [tokens][V] of every token. */
    double[][] logits(int[] tokens) {
        int total = tokens.length;
        // history per layer of pre-RoPE k, v, and h, for attention and the memories
        List<double[][][]> kHist = new ArrayList<>();
        List<double[][][]> vHist = new ArrayList<>();
        List<double[][]> hHist = new ArrayList<>();
        for (int l = 0; l < L; l++) {
            kHist.add(new double[G][total][]);
            vHist.add(new double[G][total][]);
            hHist.add(new double[total][]);
        }
        double[][] out = new double[total][];
        for (int start = 0; start < total; start += segment) {
            int n = Math.min(segment, total - start);
            double[][] x = new double[n][];
            for (int t = 0; t < n; t++) {
                x[t] = row(w.get("embed.weight"), tokens[start + t]);
            }
            for (int l = 0; l < L; l++) {
                String p = "layers." + l + ".";
                LayerConfig cfg = layers.get(l);
                double[][] hs = new double[n][];
                double[][][] q = new double[H][n][];
                for (int t = 0; t < n; t++) {
                    hs[t] = layerNorm(x[t], w.get(p + "norm1.weight"), w.get(p + "norm1.bias"));
                    double[] qa = matvec(w.get(p + "wq"), hs[t]);
                    double[] ka = matvec(w.get(p + "wk"), hs[t]);
                    double[] va = matvec(w.get(p + "wv"), hs[t]);
                    for (int h = 0; h < H; h++) {
                        q[h][t] = java.util.Arrays.copyOfRange(qa, h * DK, (h + 1) * DK);
                    }
                    for (int g = 0; g < G; g++) {
                        kHist.get(l)[g][start + t] = java.util.Arrays.copyOfRange(ka, g * DK, (g + 1) * DK);
                        vHist.get(l)[g][start + t] = java.util.Arrays.copyOfRange(va, g * DV, (g + 1) * DV);
                    }
                    hHist.get(l)[start + t] = hs[t];
                }
                double[][] merged = new double[n][H * DV];
                for (int h = 0; h < H; h++) {
                    int g = h / (H / G);
                    for (int t = 0; t < n; t++) {
                        int pos = start + t;
                        int first = cfg.window() < 0 ? 0 : Math.max(0, start - cfg.window());
                        double[] qr = rope(q[h][t], pos);
                        double[] logit = new double[pos - first + 1];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = first; j <= pos; j++) {
                            logit[j - first] = dot(qr, rope(kHist.get(l)[g][j], j)) / Math.sqrt(DK);
                            max = Math.max(max, logit[j - first]);
                        }
                        double z = 0;
                        for (int j = 0; j < logit.length; j++) {
                            logit[j] = Math.exp(logit[j] - max);
                            z += logit[j];
                        }
                        for (int d = 0; d < DV; d++) {
                            double acc = 0;
                            for (int j = first; j <= pos; j++) {
                                acc += logit[j - first] / z * vHist.get(l)[g][j][d];
                            }
                            merged[t][h * DV + d] = acc;
                        }
                        if (cfg.memory().equals("gate-memory") && start > 0) {
                            double gate = memoryWeights.get(p + "gate-memory.gate").get(h);
                            for (int d = 0; d < DV; d++) {
                                double mean = 0;
                                for (int j = 0; j < start; j++) {
                                    mean += vHist.get(l)[g][j][d];
                                }
                                merged[t][h * DV + d] += gate * mean / start;
                            }
                        }
                    }
                }
                for (int t = 0; t < n; t++) {
                    double[] o = matvec(w.get(p + "wo"), merged[t]);
                    for (int d = 0; d < E; d++) {
                        o[d] += x[t][d];
                        if (cfg.memory().equals("addend-memory") && start > 0) {
                            double mean = 0;
                            for (int j = 0; j < start; j++) {
                                mean += hHist.get(l)[j][d];
                            }
                            o[d] += memoryWeights.get(p + "addend-memory.scale").get(d) * mean / start;
                        }
                    }
                    double[] m = layerNorm(o, w.get(p + "norm2.weight"), w.get(p + "norm2.bias"));
                    double[] f = matvec(w.get(p + "w1"), m);
                    for (int i = 0; i < f.length; i++) {
                        f[i] = gelu(f[i] + w.get(p + "b1").get(i));
                    }
                    double[] m2 = matvec(w.get(p + "w2"), f);
                    for (int d = 0; d < E; d++) {
                        o[d] += m2[d] + w.get(p + "b2").get(d);
                    }
                    x[t] = o;
                }
            }
            for (int t = 0; t < n; t++) {
                out[start + t] = matvec(w.get("unembed.weight"),
                        layerNorm(x[t], w.get("final_norm.weight"), w.get("final_norm.bias")));
            }
        }
        return out;
    }

    private static double[] rope(double[] x, int pos) {
        double[] r = new double[DK];
        int half = DK / 2;
        for (int i = 0; i < half; i++) {
            double a = pos * Math.pow(THETA, -2.0 * i / DK);
            r[i] = x[i] * Math.cos(a) - x[i + half] * Math.sin(a);
            r[i + half] = x[i + half] * Math.cos(a) + x[i] * Math.sin(a);
        }
        return r;
    }

    private static double[] row(Tensor m, int i) {
        double[] r = new double[m.dim(1)];
        for (int j = 0; j < r.length; j++) {
            r[j] = m.get(i, j);
        }
        return r;
    }

    /** m [out, in] times x [in]. */
    private static double[] matvec(Tensor m, double[] x) {
        double[] r = new double[m.dim(0)];
        for (int i = 0; i < r.length; i++) {
            double acc = 0;
            for (int j = 0; j < x.length; j++) {
                acc += m.get(i, j) * x[j];
            }
            r[i] = acc;
        }
        return r;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static double[] layerNorm(double[] x, Tensor g, Tensor b) {
        double mean = 0;
        for (double v : x) {
            mean += v;
        }
        mean /= x.length;
        double var = 0;
        for (double v : x) {
            var += (v - mean) * (v - mean);
        }
        var /= x.length;
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            r[i] = (x[i] - mean) / Math.sqrt(var + EPS) * g.get(i) + b.get(i);
        }
        return r;
    }

    /** Exact GELU, x * Phi(x), with erf from Abramowitz-Stegun 7.1.26 (error < 1.5e-7). */
    static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    static double erf(double x) {
        double s = Math.signum(x);
        double a = Math.abs(x);
        double t = 1 / (1 + 0.3275911 * a);
        double y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
                * Math.exp(-a * a);
        return s * y;
    }
}
