package dev.engram.bench.continuous;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.WeightSpec;
import dev.engram.api.Snapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Provider 'continuous' per segment at the paper's scale: N = 512 basis functions, e = 768, 12 heads of
 * 64, segments of 512 tokens, M = 512 samples. {@code pastTokens} is how much was written before the
 * measurement (10K vs 1M): the state is N x e whatever it is, so both costs must be flat in it.
 * Run: java -jar benchmarks/target/benchmarks.jar ContinuousMemoryBenchmark -f 1 -wi 2 -i 3 -w 2s -r 3s
 *
 * <p>Writing 1M tokens takes minutes, and JMH repeats the setup in every trial (read and write are
 * separate trials, each in its own fork). With {@code -jvmArgsAppend -Dengram.bench.stateDir=DIR} the
 * first trial of each (pastTokens, sticky) saves the filled state's snapshot in DIR and later trials
 * restore it instead of writing the tokens again: restore is bit-exact, so the measured memory is the
 * same. Use a fresh DIR per run (nothing checks that a saved state matches the current code).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class ContinuousMemoryBenchmark {
    static final int HEADS = 12;
    static final int HEAD_DIM = 64;
    static final int MODEL_DIM = 768;
    static final int SEGMENT = 512;
    static final int FILL = 4096;

    @Param({"10000", "1000000"})
    public long pastTokens;

    @Param({"false", "true"})
    public boolean sticky;

    private LongTermMemory memory;
    private Segment segment;

    static Tensor normal(SplittableRandom r, float scale, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (Math.sqrt(-2 * Math.log1p(-r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble()) * scale);
        }
        return t;
    }

    @Setup(Level.Trial)
    public void setUp() {
        LayerSpec spec = new LayerSpec(HEADS, HEADS, HEAD_DIM, HEAD_DIM, MODEL_DIM);
        LongTermMemoryProvider p = ProviderRegistry.load().memory("continuous");
        Map<String, Object> config = new HashMap<>(Map.of("basis", 512, "samples", 512, "sticky", sticky));
        ProviderConfig parsed = p.configSchema().parse("bench", config);
        SplittableRandom r = new SplittableRandom(7);
        Map<String, Tensor> weights = new HashMap<>();
        for (WeightSpec w : p.weights(spec, parsed)) {
            weights.put(w.name(), normal(r, 0.03f, w.shape()));
        }
        memory = p.create(ProviderRegistry.context(p, 0, spec, config, weights));
        segment = new Segment(0, normal(r, 1f, HEADS, SEGMENT, HEAD_DIM), null, null, normal(r, 1f, SEGMENT, MODEL_DIM), null);
        // Fill the memory with pastTokens real tokens. Writes of FILL tokens keep the setup to minutes (1M
        // tokens of 512 would take ~2000 full refits); the state is N x e floats either way.
        String dir = System.getProperty("engram.bench.stateDir");
        Path saved = dir == null ? null : Path.of(dir, "continuous-" + pastTokens + "-" + sticky + ".snap");
        try {
            if (saved != null && Files.exists(saved)) {
                memory.restore(Snapshot.fromBytes(Files.readAllBytes(saved)));
            } else {
                int fill = (int) Math.min(FILL, pastTokens);
                Segment big = new Segment(0, normal(r, 1f, HEADS, fill, HEAD_DIM), null, null,
                        normal(r, 1f, fill, MODEL_DIM), null);
                for (long written = 0; written < pastTokens; written += fill) {
                    memory.write(big);
                }
                if (saved != null) {
                    Files.createDirectories(saved.getParent());
                    Path partial = saved.resolveSibling(saved.getFileName() + ".part");
                    Files.write(partial, memory.snapshot().toBytes());
                    Files.move(partial, saved);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        memory.read(segment);
    }

    /** Read with 512 queries of 12 heads: mu, sigma2, the closed-form r, z and the output projection. */
    @Benchmark
    public Readout read() {
        return memory.read(segment);
    }

    /** Write 512 rows: resample the old signal at M = 512 points and refit B (cached solve), then rebuild V. */
    @Benchmark
    public LongTermMemory write() {
        memory.write(segment);
        return memory;
    }
}
