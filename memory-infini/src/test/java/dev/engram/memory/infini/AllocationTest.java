package dev.engram.memory.infini;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * After warm-up, read + combine + write allocate no buffers: the bytes allocated per segment stay far
 * below the size of one readout (H * N * dv floats = 64 KiB here). A few bytes of argument checking
 * (varargs shape arrays before the JIT removes them) are allowed; a buffer per segment is not.
 */
class AllocationTest {
    @ParameterizedTest(name = "delta={0}")
    @CsvSource({"false", "true"})
    void aStreamOfSegmentsAllocatesNoBuffers(boolean delta) {
        java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(bean instanceof com.sun.management.ThreadMXBean);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) bean;
        LayerSpec spec = new LayerSpec(4, 2, 16, 16, 64);
        LongTermMemory m = Fixtures.memory(spec, delta, new double[] {0, 1, -1, 2});
        SplittableRandom r = new SplittableRandom(3);
        int n = 256;
        Segment[] segments = new Segment[2];
        for (int i = 0; i < segments.length; i++) {
            segments[i] = Segment.of(i * n, Fixtures.tensor(Fixtures.random(r, 4, n, 16, 1)),
                    Fixtures.tensor(Fixtures.random(r, 2, n, 16, 1)), Fixtures.tensor(Fixtures.random(r, 2, n, 16, 1)));
        }
        Tensor local = Fixtures.tensor(Fixtures.random(r, 4, n, 16, 1));
        for (int i = 0; i < 200; i++) {
            step(m, segments[i % 2], local);
        }
        // The bound holds once C2 has compiled the loops (its escape analysis removes the argument checks' arrays);
        // until then the same code allocates megabytes per segment (-XX:TieredStopAtLevel=1: ~7 MB). The JIT compiles
        // in the background, so on a slow or loaded machine it may not be done after a fixed warm-up: windows of 200
        // segments are measured until one stays under the bound, for up to a minute. A buffer allocated per segment
        // (64 KiB) exceeds it in every window.
        int rounds = 200;
        long deadline = System.nanoTime() + 60_000_000_000L;
        int windows = 0;
        long perSegment;
        do {
            long before = threads.getThreadAllocatedBytes(Thread.currentThread().getId());
            for (int i = 0; i < rounds; i++) {
                step(m, segments[i % 2], local);
            }
            perSegment = (threads.getThreadAllocatedBytes(Thread.currentThread().getId()) - before) / rounds;
            windows++;
        } while (perSegment >= 2048 && System.nanoTime() < deadline);
        assertTrue(perSegment < 2048, perSegment + " bytes allocated per segment in the last of " + windows
                + " windows of " + rounds + " (one readout is " + 4 * 4 * n * 16 + ")");
    }

    private static void step(LongTermMemory m, Segment s, Tensor local) {
        Readout readout = m.read(s);
        m.combine(local, readout);
        m.write(s);
    }
}
