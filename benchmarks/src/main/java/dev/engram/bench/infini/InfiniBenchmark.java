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
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Infini-attention read + combine + write per segment, next to a plain single-thread float matmul
 * doing the same number of multiply-adds in the same run (the practical limit of a JIT-compiled
 * loop on this machine). Run the table with
 * {@code java -cp benchmarks/target/benchmarks.jar dev.engram.bench.infini.InfiniBenchmark}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class InfiniBenchmark {
    @Param({"12", "32"})
    int heads;

    @Param({"64", "128"})
    int dim;

    @Param({"512", "2048"})
    int tokens;

    @Param({"linear"})
    String update;

    private LongTermMemory memory;
    private Segment segment;
    private Tensor local;
    private float[] a;
    private float[] b;
    private float[] c;

    @Setup
    public void setup() {
        LayerSpec spec = new LayerSpec(heads, heads, dim, dim, heads * dim);
        memory = ProviderRegistry.load().newMemory("infini", 0, spec, Map.of("update", update),
                Map.of("beta", Tensor.zeros(heads)));
        SplittableRandom r = new SplittableRandom(1);
        segment = Segment.of(0, random(r, heads, tokens, dim), random(r, heads, tokens, dim), random(r, heads, tokens, dim));
        local = random(r, heads, tokens, dim);
        a = random(r, tokens, dim).toArray();
        b = random(r, dim, dim).toArray();
        c = new float[tokens * dim];
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
    public void readCombineWrite(Blackhole bh) {
        Readout readout = memory.read(segment);
        bh.consume(memory.combine(local, readout));
        memory.write(segment);
    }

    /** 2H products [N x d] x [d x d]: the multiply-adds of H head reads plus H head writes. */
    @Benchmark
    public void plainMatmulSameWork(Blackhole bh) {
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
        bh.consume(c);
    }

    /** Multiply-adds x 2 of one read + write with the linear rule (the matmul baseline does the same count). */
    static double flops(int heads, int dim, int tokens) {
        return 2.0 * 2 * heads * (double) tokens * dim * dim;
    }

    public static void main(String[] args) throws RunnerException {
        Collection<RunResult> results = new Runner(new OptionsBuilder()
                .include(InfiniBenchmark.class.getSimpleName())
                .build()).run();
        List<String> rows = new ArrayList<>();
        rows.add(String.format(Locale.ROOT, "| %5s | %4s | %6s | %12s | %10s | %14s | %10s | %8s |", "H", "d", "N",
                "infini ms/seg", "GFLOP/s", "matmul ms", "GFLOP/s", "ratio"));
        for (RunResult r : results) {
            if (!r.getParams().getBenchmark().endsWith("readCombineWrite")) {
                continue;
            }
            int h = Integer.parseInt(r.getParams().getParam("heads"));
            int d = Integer.parseInt(r.getParams().getParam("dim"));
            int n = Integer.parseInt(r.getParams().getParam("tokens"));
            double ms = r.getPrimaryResult().getScore();
            double peer = results.stream().filter(p -> p.getParams().getBenchmark().endsWith("plainMatmulSameWork")
                            && p.getParams().getParam("heads").equals(r.getParams().getParam("heads"))
                            && p.getParams().getParam("dim").equals(r.getParams().getParam("dim"))
                            && p.getParams().getParam("tokens").equals(r.getParams().getParam("tokens")))
                    .mapToDouble(p -> p.getPrimaryResult().getScore()).findFirst().orElse(Double.NaN);
            double gf = flops(h, d, n) / (ms * 1e6);
            double peerGf = flops(h, d, n) / (peer * 1e6);
            rows.add(String.format(Locale.ROOT, "| %5d | %4d | %6d | %12.2f | %10.2f | %14.2f | %10.2f | %8.2f |", h, d, n,
                    ms, gf, peer, peerGf, gf / peerGf));
        }
        rows.forEach(System.out::println);
    }
}
