package dev.engram.memory.lsh;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.commons.math3.random.Well19937c;

/**
 * A plain, double-precision reference of docs/schemes.md sections 3 and 4, written from the spec
 * without sharing code with the providers: explicit sorts, literal masks (-1e9, -1e5), every round kept
 * and combined at the end, brute-force candidate lists. Slow and obvious on purpose.
 */
final class PlainReference {
    private PlainReference() {
    }

    /** rotations[h][d][r][j] = (float) Well19937c(seed).nextGaussian(), row-major. */
    static float[][][][] rotations(long seed, int heads, int dk, int rounds, int half) {
        Well19937c rng = new Well19937c(seed);
        float[][][][] r = new float[heads][dk][rounds][half];
        for (int h = 0; h < heads; h++) {
            for (int d = 0; d < dk; d++) {
                for (int t = 0; t < rounds; t++) {
                    for (int j = 0; j < half; j++) {
                        r[h][d][t][j] = (float) rng.nextGaussian();
                    }
                }
            }
        }
        return r;
    }

    static float[][][][] rotations(float[] flat, int heads, int dk, int rounds, int half) {
        float[][][][] r = new float[heads][dk][rounds][half];
        int i = 0;
        for (int h = 0; h < heads; h++) {
            for (int d = 0; d < dk; d++) {
                for (int t = 0; t < rounds; t++) {
                    for (int j = 0; j < half; j++) {
                        r[h][d][t][j] = flat[i++];
                    }
                }
            }
        }
        return r;
    }

    /** argmax(concat(xR, -xR)), first maximum wins; xR accumulated in double over d in order. */
    static int bucket(float[] x, float[][][][] rot, int head, int round) {
        int dk = x.length;
        int half = rot[head][0][round].length;
        double[] p = new double[half];
        for (int j = 0; j < half; j++) {
            double s = 0;
            for (int d = 0; d < dk; d++) {
                s += (double) x[d] * rot[head][d][round][j];
            }
            p[j] = s;
        }
        double[] both = new double[2 * half];
        for (int j = 0; j < half; j++) {
            both[j] = p[j];
            both[half + j] = -p[j];
        }
        int best = 0;
        for (int j = 1; j < both.length; j++) {
            if (both[j] > both[best]) {
                best = j;
            }
        }
        return best;
    }

    static int defaultBuckets(int npad, int chunk) {
        int b = 2;
        while (b * 2 <= 2 * npad / chunk) {
            b *= 2;
        }
        return b;
    }

    /** The sorted order of one round: original positions, padding positions (>= n) last. */
    static List<Integer> sortedOrder(float[][] q, float[][][][] rot, int head, int round, int npad) {
        int n = q.length;
        List<Integer> order = new ArrayList<>();
        int[] b = new int[npad];
        for (int i = 0; i < npad; i++) {
            order.add(i);
            b[i] = i < n ? bucket(q[i], rot, head, round) : Integer.MAX_VALUE;
        }
        order.sort(Comparator.<Integer>comparingInt(i -> b[i]).thenComparingInt(i -> i));
        return order;
    }

    /** The positions token i may attend to in one round: its chunk and the previous one (real tokens only, no duplicates). */
    static List<Integer> window(List<Integer> order, int i, int chunk, int n) {
        int s = order.indexOf(i);
        int chunks = order.size() / chunk;
        int c = s / chunk;
        List<Integer> keys = new ArrayList<>();
        List<Integer> cs = new ArrayList<>();
        cs.add(c);
        int prev = Math.floorMod(c - 1, chunks);
        if (prev != c) {
            cs.add(prev);
        }
        for (int cc : cs) {
            for (int t = cc * chunk; t < (cc + 1) * chunk; t++) {
                if (order.get(t) < n) {
                    keys.add(order.get(t));
                }
            }
        }
        return keys;
    }

    /**
     * LSH attention of one head. q [N][dk], v [N][dv]; rot [heads][dk][rounds][half].
     * Returns out [N][dv] in double.
     */
    static double[][] lshHead(float[][] q, float[][] v, float[][][][] rot, int head, int rounds, int chunk,
                              boolean causal) {
        int n = q.length;
        int dk = q[0].length;
        int dv = v[0].length;
        int npad = (n + chunk - 1) / chunk * chunk;
        double[][] k = new double[n][dk];
        for (int j = 0; j < n; j++) {
            double norm = 0;
            for (int d = 0; d < dk; d++) {
                norm += (double) q[j][d] * q[j][d];
            }
            norm = Math.sqrt(norm);
            for (int d = 0; d < dk; d++) {
                k[j][d] = norm == 0 ? 0 : q[j][d] / norm;
            }
        }
        double[][][] o = new double[rounds][n][dv];
        double[][] lse = new double[rounds][n];
        for (int r = 0; r < rounds; r++) {
            List<Integer> order = sortedOrder(q, rot, head, r, npad);
            for (int i = 0; i < n; i++) {
                List<Integer> keys = window(order, i, chunk, n);
                double[] logit = new double[keys.size()];
                for (int t = 0; t < keys.size(); t++) {
                    int j = keys.get(t);
                    double s = 0;
                    for (int d = 0; d < dk; d++) {
                        s += q[i][d] * k[j][d];
                    }
                    if (causal && j > i) {
                        s = -1e9;
                    }
                    if (j == i) {
                        s = -1e5;
                    }
                    logit[t] = s;
                }
                double max = Double.NEGATIVE_INFINITY;
                for (double x : logit) {
                    max = Math.max(max, x);
                }
                double sum = 0;
                for (double x : logit) {
                    sum += Math.exp(x - max);
                }
                lse[r][i] = max + Math.log(sum);
                for (int t = 0; t < keys.size(); t++) {
                    double p = Math.exp(logit[t] - lse[r][i]);
                    for (int e = 0; e < dv; e++) {
                        o[r][i][e] += p * v[keys.get(t)][e];
                    }
                }
            }
        }
        double[][] out = new double[n][dv];
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int r = 0; r < rounds; r++) {
                max = Math.max(max, lse[r][i]);
            }
            double z = 0;
            for (int r = 0; r < rounds; r++) {
                z += Math.exp(lse[r][i] - max);
            }
            double total = max + Math.log(z);
            for (int r = 0; r < rounds; r++) {
                double w = Math.exp(lse[r][i] - total);
                for (int e = 0; e < dv; e++) {
                    out[i][e] += w * o[r][i][e];
                }
            }
        }
        return out;
    }

    /** Full attention of one head with the shared-QK logits, the self mask -1e5 and (optionally) the causal mask. */
    static double[][] fullHead(float[][] q, float[][] v, boolean causal) {
        int n = q.length;
        int dk = q[0].length;
        int dv = v[0].length;
        double[][] out = new double[n][dv];
        for (int i = 0; i < n; i++) {
            double[] logit = new double[n];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                double norm = 0;
                for (int d = 0; d < dk; d++) {
                    norm += (double) q[j][d] * q[j][d];
                }
                norm = Math.sqrt(norm);
                double s = 0;
                for (int d = 0; d < dk; d++) {
                    s += q[i][d] * (norm == 0 ? 0 : q[j][d] / norm);
                }
                logit[j] = j == i ? -1e5 : causal && j > i ? -1e9 : s;
                max = Math.max(max, logit[j]);
            }
            double sum = 0;
            for (int j = 0; j < n; j++) {
                sum += Math.exp(logit[j] - max);
            }
            for (int j = 0; j < n; j++) {
                double p = Math.exp(logit[j] - max) / sum;
                for (int e = 0; e < dv; e++) {
                    out[i][e] += p * v[j][e];
                }
            }
        }
        return out;
    }

    /** The kNN memory of docs/schemes.md section 4 for one layer, kept as plain lists. */
    static final class Knn {
        final int heads;
        final int kvHeads;
        final int capacity;
        final int k;
        final double scale;
        final boolean exact;
        final float[][][][] rot; // [G][dk][rounds][half] or null
        final int rounds;
        final List<List<float[]>> keys = new ArrayList<>();   // per kv head, oldest first, normalised (float32 state)
        final List<List<float[]>> values = new ArrayList<>();

        Knn(int heads, int kvHeads, int capacity, int k, double scale, boolean exact, float[][][][] rot, int rounds) {
            this.heads = heads;
            this.kvHeads = kvHeads;
            this.capacity = capacity;
            this.k = k;
            this.scale = scale;
            this.exact = exact;
            this.rot = rot;
            this.rounds = rounds;
            for (int g = 0; g < kvHeads; g++) {
                keys.add(new ArrayList<>());
                values.add(new ArrayList<>());
            }
        }

        static float[] normalised(float[] x) {
            double ss = 0;
            for (float e : x) {
                ss += (double) e * e;
            }
            float[] out = new float[x.length];
            double norm = Math.sqrt(ss);
            for (int d = 0; d < x.length; d++) {
                out[d] = norm == 0 ? 0f : (float) (x[d] / norm);
            }
            return out;
        }

        /** q [H][N][dk] -> readout [H][N][dv]. */
        double[][][] read(float[][][] q, int dv) {
            int n = q[0].length;
            double[][][] out = new double[heads][n][dv];
            for (int h = 0; h < heads; h++) {
                int g = h / (heads / kvHeads);
                List<float[]> ks = keys.get(g);
                for (int i = 0; i < n; i++) {
                    float[] qn = normalised(q[h][i]);
                    List<Integer> cand = new ArrayList<>();
                    for (int a = 0; a < ks.size(); a++) {
                        boolean shares = exact;
                        for (int r = 0; r < rounds && !shares; r++) {
                            shares = bucket(ks.get(a), rot, g, r) == bucket(qn, rot, g, r);
                        }
                        if (shares) {
                            cand.add(a);
                        }
                    }
                    double[] score = new double[ks.size()];
                    for (int a : cand) {
                        double s = 0;
                        for (int d = 0; d < qn.length; d++) {
                            s += (double) qn[d] * ks.get(a)[d];
                        }
                        score[a] = s;
                    }
                    // best score first; equal scores: older (smaller index) first
                    cand.sort((x, y) -> score[x] != score[y] ? Double.compare(score[y], score[x]) : Integer.compare(x, y));
                    List<Integer> top = cand.subList(0, Math.min(k, cand.size()));
                    if (top.isEmpty()) {
                        continue;
                    }
                    double max = score[top.get(0)];
                    double z = 0;
                    for (int a : top) {
                        z += Math.exp(scale * (score[a] - max));
                    }
                    for (int a : top) {
                        double w = Math.exp(scale * (score[a] - max)) / z;
                        for (int e = 0; e < dv; e++) {
                            out[h][i][e] += w * values.get(g).get(a)[e];
                        }
                    }
                }
            }
            return out;
        }

        /** k [G][N][dk], v [G][N][dv]: append in order, evicting the oldest beyond capacity. */
        void write(float[][][] kIn, float[][][] vIn) {
            for (int g = 0; g < kvHeads; g++) {
                for (int i = 0; i < kIn[g].length; i++) {
                    keys.get(g).add(normalised(kIn[g][i]));
                    values.get(g).add(vIn[g][i].clone());
                    if (keys.get(g).size() > capacity) {
                        keys.get(g).remove(0);
                        values.get(g).remove(0);
                    }
                }
            }
        }
    }
}
