package dev.engram.bench.baselines;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.baselines.WindowAttentionProvider;
import dev.engram.spi.ProviderRegistry;
import java.util.List;
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

/**
 * One {@code window} attention call per segment in steady state, on the shape of {@code engram bench --quick}
 * (H = G = 4, dk = dv = 64, rope, segment 128): window 128 is the bench's {@code window} strategy, window 0 the
 * local attention of its {@code infini}, {@code continuous} and {@code lsh-knn} strategies. The provider is made
 * directly (not through the ServiceLoader), so another build of the baselines placed first on the class path is
 * measured the same way (the README's before/after):
 * {@code java -cp benchmarks/target/benchmarks.jar dev.engram.bench.baselines.WindowAttentionBenchmark}
 * or {@code java -cp OLD-baselines.jar:benchmarks.jar org.openjdk.jmh.Main WindowAttentionBenchmark}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
public class WindowAttentionBenchmark {
    @Param({"0", "128"})
    int window;

    private static final int N = 128;
    private Attention attention;
    private Tensor q;
    private Tensor k;
    private Tensor v;
    private long position;

    @Setup
    public void setup() {
        LayerSpec spec = new LayerSpec(4, 4, 64, 64, 256);
        attention = ProviderRegistry.of(List.of(new WindowAttentionProvider()))
                .newAttention("window", 0, spec, Map.of("window", window, "positional", "rope"), Map.of());
        SplittableRandom r = new SplittableRandom(1);
        q = random(r, 4, N, 64);
        k = random(r, 4, N, 64);
        v = random(r, 4, N, 64);
        for (int s = 0; s < 4; s++) {
            segment();
        }
    }

    @Benchmark
    public Tensor segment() {
        Tensor out = attention.attend(Segment.of(position, q, k, v));
        position += N;
        return out;
    }

    private static Tensor random(SplittableRandom r, int... shape) {
        float[] a = new float[shape[0] * shape[1] * shape[2]];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return Tensor.of(a, shape);
    }

    public static void main(String[] args) throws Exception {
        org.openjdk.jmh.Main.main(args.length > 0 ? args : new String[] {WindowAttentionBenchmark.class.getSimpleName()});
    }
}
