package dev.engram.bench.infini;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Infini-attention read + combine + write per segment, next to a plain single-thread float matmul
 * doing the same number of multiply-adds in the same run (the practical limit of a JIT-compiled
 * loop on this machine), both a plain i-k-j loop and a register-blocked one. GFLOP/s counts 2 x the
 * multiply-adds (G = H: H reads and H writes of N x d x d each, plus H retrievals for the delta
 * rule). Run the table with
 * {@code java -cp benchmarks/target/benchmarks.jar dev.engram.bench.infini.InfiniBenchmark [JMH options]}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
public class InfiniBenchmark {
    @Param({"12", "32"})
    int heads;

    @Param({"64", "128"})
    int dim;

    @Param({"512", "2048"})
    int tokens;

    private float[] a;
    private float[] b;
    private float[] c;

    /** The memory under test; only {@link #readCombineWrite} uses it, so only it varies {@code update}. */
    @State(Scope.Thread)
    public static class Memory {
        @Param({"linear", "delta"})
        String update;

        LongTermMemory memory;
        Segment segment;
        Tensor local;

        @Setup
        public void setup(InfiniBenchmark shape) {
            int heads = shape.heads;
            int dim = shape.dim;
            int tokens = shape.tokens;
            LayerSpec spec = new LayerSpec(heads, heads, dim, dim, heads * dim);
            memory = ProviderRegistry.load().newMemory("infini", 0, spec, Map.of("update", update),
                    Map.of("beta", Tensor.zeros(heads)));
            SplittableRandom r = new SplittableRandom(1);
            segment = Segment.of(0, random(r, heads, tokens, dim), random(r, heads, tokens, dim),
                    random(r, heads, tokens, dim));
            local = random(r, heads, tokens, dim);
        }
    }

    @Setup
    public void setup() {
        SplittableRandom r = new SplittableRandom(2);
        a = random(r, tokens, dim).toArray();
        b = random(r, dim, dim).toArray();
        c = new float[tokens * dim];
        checkBlockedMatchesPlain();
    }

    /** The blocked peer must compute the same product as the plain loop, or its timing means nothing. */
    private void checkBlockedMatchesPlain() {
        float[] expected = new float[tokens * dim];
        for (int i = 0; i < tokens; i++) {
            for (int k = 0; k < dim; k++) {
                for (int j = 0; j < dim; j++) {
                    expected[i * dim + j] += a[i * dim + k] * b[k * dim + j];
                }
            }
        }
        blocked(a, b, c, tokens, dim);
        for (int i = 0; i < c.length; i++) {
            if (Math.abs(c[i] - expected[i]) > 1e-4f * (1 + Math.abs(expected[i]))) {
                throw new IllegalStateException("blocked matmul differs from the plain one at " + i + ": "
                        + c[i] + " vs " + expected[i]);
            }
        }
        java.util.Arrays.fill(c, 0f);
    }

    private static Tensor random(SplittableRandom r, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] x = t.array();
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextDouble() - 0.5);
        }
        return t;
    }

    @Benchmark
    public void readCombineWrite(Memory m, Blackhole bh) {
        Readout readout = m.memory.read(m.segment);
        bh.consume(m.memory.combine(m.local, readout));
        m.memory.write(m.segment);
    }

    /** 2H products [N x d] x [d x d]: the multiply-adds of H head reads plus H head writes. */
    @Benchmark
    public void plainMatmulSameWork(Blackhole bh) {
        plainProducts();
        bh.consume(c);
    }

    private void plainProducts() {
        for (int rep = 0; rep < 2 * heads; rep++) {
            java.util.Arrays.fill(c, 0f);
            for (int i = 0; i < tokens; i++) {
                for (int k = 0; k < dim; k++) {
                    float aik = a[i * dim + k];
                    int row = k * dim;
                    int out = i * dim;
                    for (int j = 0; j < dim; j++) {
                        c[out + j] += aik * b[row + j];
                    }
                }
            }
        }
    }

    /**
     * The same 2H products with the loop register-blocked (2 rows x 4 reduction steps per pass, the
     * layout of the memory's earlier plain-Java kernels): what an auto-vectorised Java matmul reaches here.
     */
    @Benchmark
    public void blockedMatmulSameWork(Blackhole bh) {
        blockedProducts();
        bh.consume(c);
    }

    private void blockedProducts() {
        for (int rep = 0; rep < 2 * heads; rep++) {
            java.util.Arrays.fill(c, 0f);
            blocked(a, b, c, tokens, dim);
        }
    }

    static void blocked(float[] a, float[] b, float[] c, int rows, int d) {
        int i = 0;
        for (; i + 1 < rows; i += 2) {
            int o0 = i * d;
            int o1 = o0 + d;
            int k = 0;
            for (; k + 3 < d; k += 4) {
                float a0 = a[o0 + k], a1 = a[o0 + k + 1], a2 = a[o0 + k + 2], a3 = a[o0 + k + 3];
                float b0 = a[o1 + k], b1 = a[o1 + k + 1], b2 = a[o1 + k + 2], b3 = a[o1 + k + 3];
                int r0 = k * d;
                int r1 = r0 + d;
                int r2 = r1 + d;
                int r3 = r2 + d;
                for (int j = 0; j < d; j++) {
                    float m0 = b[r0 + j], m1 = b[r1 + j], m2 = b[r2 + j], m3 = b[r3 + j];
                    c[o0 + j] += a0 * m0 + a1 * m1 + a2 * m2 + a3 * m3;
                    c[o1 + j] += b0 * m0 + b1 * m1 + b2 * m2 + b3 * m3;
                }
            }
            for (; k < d; k++) {
                float a0 = a[o0 + k];
                float b0 = a[o1 + k];
                int r0 = k * d;
                for (int j = 0; j < d; j++) {
                    c[o0 + j] += a0 * b[r0 + j];
                    c[o1 + j] += b0 * b[r0 + j];
                }
            }
        }
        for (; i < rows; i++) {
            for (int k = 0; k < d; k++) {
                float aik = a[i * d + k];
                for (int j = 0; j < d; j++) {
                    c[i * d + j] += aik * b[k * d + j];
                }
            }
        }
    }

    /**
     * 2 x the multiply-adds of one segment with G = H: H reads and H writes of N x d x d each, plus H
     * retrievals for the delta rule. The matmul baselines always do 2H products (the linear count).
     */
    static double flops(int heads, int dim, int tokens, boolean delta) {
        return 2.0 * (delta ? 3 : 2) * heads * (double) tokens * dim * dim;
    }

    private static double score(Collection<RunResult> results, String benchmark, RunResult like) {
        return results.stream().filter(p -> p.getParams().getBenchmark().endsWith(benchmark)
                        && p.getParams().getParam("heads").equals(like.getParams().getParam("heads"))
                        && p.getParams().getParam("dim").equals(like.getParams().getParam("dim"))
                        && p.getParams().getParam("tokens").equals(like.getParams().getParam("tokens")))
                .mapToDouble(p -> p.getPrimaryResult().getScore()).findFirst().orElse(Double.NaN);
    }

    /**
     * Runs every shape (or those given as JMH options, e.g. {@code -p heads=12}) and prints the table;
     * {@code --paired [reps]} runs the interleaved measurement of {@link #paired} instead.
     */
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--paired")) {
            paired(args.length > 1 ? Integer.parseInt(args[1]) : 11);
            return;
        }
        OptionsBuilder options = new OptionsBuilder();
        options.parent(new org.openjdk.jmh.runner.options.CommandLineOptions(args));
        options.include(InfiniBenchmark.class.getSimpleName());
        Collection<RunResult> results = new Runner(options.build()).run();
        List<String> rows = new ArrayList<>();
        rows.add(String.format(Locale.ROOT, "| %3s | %4s | %5s | %6s | %9s | %7s | %7s | %9s | %7s | %9s | %7s | %9s |", "H", "d", "N",
                "update", "ms/seg", "+-", "GFLOP/s", "plain ms", "GFLOP/s", "block ms", "GFLOP/s", "ratio"));
        rows.add("|----:|-----:|------:|-------:|----------:|--------:|--------:|----------:|--------:|----------:|--------:|----------:|");
        for (RunResult r : results) {
            if (!r.getParams().getBenchmark().endsWith("readCombineWrite")) {
                continue;
            }
            int h = Integer.parseInt(r.getParams().getParam("heads"));
            int d = Integer.parseInt(r.getParams().getParam("dim"));
            int n = Integer.parseInt(r.getParams().getParam("tokens"));
            double ms = r.getPrimaryResult().getScore();
            double error = r.getPrimaryResult().getScoreError();
            double plain = score(results, "plainMatmulSameWork", r);
            double block = score(results, "blockedMatmulSameWork", r);
            boolean delta = r.getParams().getParam("update").equals("delta");
            double f = flops(h, d, n, delta) / 1e6;
            double fm = flops(h, d, n, false) / 1e6;
            double best = Math.max(Double.isNaN(plain) ? 0 : fm / plain, Double.isNaN(block) ? 0 : fm / block);
            rows.add(String.format(Locale.ROOT, "| %3d | %4d | %5d | %6s | %9.2f | %7.2f | %7.2f | %9.2f | %7.2f | %9.2f | %7.2f | %9.2f |",
                    h, d, n, r.getParams().getParam("update"), ms, error, f / ms, plain, fm / plain, block, fm / block, f / ms / best));
        }
        rows.forEach(System.out::println);
    }

    /**
     * The ratio to the matmul peers measured pair by pair. On a loaded machine the load changes between
     * JMH trials (each benchmark runs minutes after the other), so a ratio of two trial means mixes
     * machine states. Here every repetition times, back to back in one thread: one linear segment, one
     * delta segment, the plain and the blocked matmul (the order reversed every other repetition), and
     * takes the ratio of GFLOP/s against the faster peer within that repetition. The median and the
     * quartiles over the repetitions are printed; a neighbour's burst then moves one pair, not the ratio.
     */
    static void paired(int reps) {
        int[][] shapes = {{12, 64, 512}, {12, 64, 2048}, {32, 64, 512}, {32, 64, 2048},
                {12, 128, 512}, {12, 128, 2048}, {32, 128, 512}, {32, 128, 2048}};
        System.out.println("| H | d | N | linear ms (median) | delta ms (median) | plain ms | blocked ms "
                + "| ratio linear: median [q1, q3] | ratio delta: median [q1, q3] |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---|---|");
        warmUp();
        for (int[] shape : shapes) {
            InfiniBenchmark peer = new InfiniBenchmark();
            peer.heads = shape[0];
            peer.dim = shape[1];
            peer.tokens = shape[2];
            peer.setup();
            Memory linear = memory(peer, "linear");
            Memory delta = memory(peer, "delta");
            double[][] ms = new double[4][reps];
            double[][] ratio = new double[2][reps];
            for (int rep = -2; rep < reps; rep++) { // two untimed repetitions first
                double[] t = new double[4];
                for (int step = 0; step < 4; step++) {
                    int which = rep % 2 == 0 ? step : 3 - step;
                    long start = System.nanoTime();
                    switch (which) {
                        case 0 -> step(linear);
                        case 1 -> step(delta);
                        case 2 -> peer.plainOnce();
                        default -> peer.blockedOnce();
                    }
                    t[which] = (System.nanoTime() - start) / 1e6;
                }
                if (rep < 0) {
                    continue;
                }
                double matmul = Math.min(t[2], t[3]);
                for (int i = 0; i < 4; i++) {
                    ms[i][rep] = t[i];
                }
                // GFLOP/s ratio = (flops / t) / (linear flops / matmul)
                ratio[0][rep] = matmul / t[0];
                ratio[1][rep] = 1.5 * matmul / t[1];
            }
            System.out.printf(Locale.ROOT, "| %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.2f [%.2f, %.2f] | %.2f [%.2f, %.2f] |%n",
                    shape[0], shape[1], shape[2], quantile(ms[0], 0.5), quantile(ms[1], 0.5), quantile(ms[2], 0.5),
                    quantile(ms[3], 0.5), quantile(ratio[0], 0.5), quantile(ratio[0], 0.25), quantile(ratio[0], 0.75),
                    quantile(ratio[1], 0.5), quantile(ratio[1], 0.25), quantile(ratio[1], 0.75));
        }
    }

    /** Compiles the kernels and both matmul loops before anything is timed (a few seconds). */
    private static void warmUp() {
        InfiniBenchmark peer = new InfiniBenchmark();
        peer.heads = 4;
        peer.dim = 64;
        peer.tokens = 512;
        peer.setup();
        Memory linear = memory(peer, "linear");
        Memory delta = memory(peer, "delta");
        long end = System.nanoTime() + 5_000_000_000L;
        while (System.nanoTime() < end) {
            step(linear);
            step(delta);
            peer.plainOnce();
            peer.blockedOnce();
        }
    }

    private static Memory memory(InfiniBenchmark shape, String update) {
        Memory m = new Memory();
        m.update = update;
        m.setup(shape);
        return m;
    }

    private static float sink;

    private static void step(Memory m) {
        Readout readout = m.memory.read(m.segment);
        sink += m.memory.combine(m.local, readout).array()[0];
        m.memory.write(m.segment);
    }

    private void plainOnce() {
        plainProducts();
        sink += c[0];
    }

    private void blockedOnce() {
        blockedProducts();
        sink += c[0];
    }

    private static double quantile(double[] x, double q) {
        double[] s = x.clone();
        java.util.Arrays.sort(s);
        double pos = q * (s.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, s.length - 1);
        return s[lo] + (s[hi] - s[lo]) * (pos - lo);
    }
}
