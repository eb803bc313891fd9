package dev.engram.bench.lsh;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Cost of {@code lsh} attention against the {@code full} baseline over one segment of N tokens (one head,
 * dk = dv = 64), both created through the provider registry and timed in the same run. A plain main
 * rather than JMH: a 64K-token full attention takes seconds per call, so the table needs few, long calls
 * and a least-squares fit of log(time) on log(N).
 *
 * <p>Run: {@code java -cp benchmarks/target/benchmarks.jar dev.engram.bench.lsh.LshAttentionScaling [maxFull] [maxN]}.
 * {@code full} runs only up to {@code maxFull} tokens (default 16384) so the run finishes in minutes; with
 * {@code maxFull} 65536 it adds one call each at 32K and 64K (about 4 more minutes).
 */
public final class LshAttentionScaling {
    private static final int DIM = 64;

    public static void main(String[] args) {
        int maxFull = args.length > 0 ? Integer.parseInt(args[0]) : 16384;
        int maxN = args.length > 1 ? Integer.parseInt(args[1]) : 65536;
        ProviderRegistry registry = ProviderRegistry.load();
        LayerSpec spec = new LayerSpec(1, 1, DIM, DIM, DIM);
        // rounds and buckets per column; buckets 0 = the docs/schemes.md default rule (grows with N)
        int[] rounds = {1, 4, 4};
        int[] buckets = {0, 0, 64};
        String[] labels = {"lsh r=1", "lsh r=4", "lsh r=4 b=64"};

        // warm-up: let the JIT compile both kernels before anything is timed
        for (int i = 0; i < 5; i++) {
            Tensor[] in = inputs(4096, i);
            for (int ri = 0; ri < rounds.length; ri++) {
                lsh(registry, spec, rounds[ri], buckets[ri]).attend(Segment.of(0, in[0], in[0], in[1]));
            }
            full(registry, spec).attend(Segment.of(0, in[0], in[0], in[1]));
        }

        List<Integer> lengths = new ArrayList<>();
        for (int n = 256; n <= maxN; n *= 2) {
            lengths.add(n);
        }
        double[][] lshMs = new double[rounds.length][lengths.size()];
        double[] fullMs = new double[lengths.size()];
        System.out.printf("| %6s | %12s | %12s | %14s | %10s | %s |%n", "N", labels[0] + " ms", labels[1] + " ms",
                labels[2] + " ms", "full ms", "full / lsh r=4");
        for (int li = 0; li < lengths.size(); li++) {
            int n = lengths.get(li);
            Tensor[] in = inputs(n, 100 + li);
            Segment segment = Segment.of(0, in[0], in[0], in[1]);
            int reps = n <= 8192 ? 5 : 3;
            for (int ri = 0; ri < rounds.length; ri++) {
                Attention a = lsh(registry, spec, rounds[ri], buckets[ri]);
                a.attend(segment); // sizes the buffers and rotations for this N
                lshMs[ri][li] = bestMs(reps, () -> a.attend(segment));
            }
            if (n <= maxFull) {
                // 16K takes ~10 s per call, 64K ~3 minutes: beyond 16K one call each
                int fullReps = n <= 4096 ? 5 : n <= 8192 ? 3 : n <= 16384 ? 2 : 1;
                // a fresh instance per call: full keeps a growing cache across segments
                fullMs[li] = bestMs(fullReps, () -> full(registry, spec).attend(segment));
            } else {
                fullMs[li] = Double.NaN;
            }
            System.out.printf("| %6d | %12.1f | %12.1f | %14.1f | %10s | %14s |%n", n, lshMs[0][li], lshMs[1][li], lshMs[2][li],
                    Double.isNaN(fullMs[li]) ? "not run" : String.format("%.1f", fullMs[li]),
                    Double.isNaN(fullMs[li]) ? "" : String.format("%.2f", fullMs[li] / lshMs[1][li]));
        }
        for (int ri = 0; ri < rounds.length; ri++) {
            System.out.printf("%s: time ~ N^%.2f (fit over N >= 1024)%n", labels[ri], exponent(lengths, lshMs[ri], 1024));
        }
        System.out.printf("full: time ~ N^%.2f (fit over 1024 <= N <= %d)%n", exponent(lengths, fullMs, 1024), maxFull);
        for (int ri = 0; ri < rounds.length; ri++) {
            // the smallest measured N from which lsh is faster at every N where both ran
            String cross = "full is faster at the largest N where both ran";
            for (int li = lengths.size() - 1; li >= 0; li--) {
                if (Double.isNaN(fullMs[li])) {
                    continue;
                }
                if (lshMs[ri][li] >= fullMs[li]) {
                    break;
                }
                cross = "lsh is faster from N = " + lengths.get(li) + " on";
            }
            System.out.printf("crossover, %s: %s%n", labels[ri], cross);
        }
    }

    private static Attention lsh(ProviderRegistry registry, LayerSpec spec, int rounds, int buckets) {
        return registry.newAttention("lsh", 0, spec,
                Map.of("rounds", rounds, "buckets", buckets, "chunk", 64, "causal", true), Map.of());
    }

    private static Attention full(ProviderRegistry registry, LayerSpec spec) {
        return registry.newAttention("full", 0, spec, Map.of("positional", "none"), Map.of());
    }

    private static Tensor[] inputs(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] q = new float[n * DIM];
        float[] v = new float[n * DIM];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (random.nextDouble() * 2 - 1);
            v[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return new Tensor[] {Tensor.of(q, 1, n, DIM), Tensor.of(v, 1, n, DIM)};
    }

    private static double bestMs(int reps, Runnable r) {
        double[] t = new double[reps];
        for (int i = 0; i < reps; i++) {
            long start = System.nanoTime();
            r.run();
            t[i] = (System.nanoTime() - start) / 1e6;
        }
        Arrays.sort(t);
        return t[0]; // the fastest call: on a shared machine, slower calls measure the neighbours

    }

    /** Least-squares slope of log(time) on log(N) over the measured points with N >= from. */
    static double exponent(List<Integer> lengths, double[] ms, int from) {
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int m = 0;
        for (int i = 0; i < lengths.size(); i++) {
            if (lengths.get(i) < from || Double.isNaN(ms[i])) {
                continue;
            }
            double x = Math.log(lengths.get(i));
            double y = Math.log(ms[i]);
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
            m++;
        }
        return (m * sxy - sx * sy) / (m * sxx - sx * sx);
    }
}
