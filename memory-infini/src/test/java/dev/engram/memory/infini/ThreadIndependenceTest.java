package dev.engram.memory.infini;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.spi.kernel.ParallelHeads;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A whole segment's read runs its heads on the helper threads ({@link ParallelHeads}); one row read alone runs
 * on the calling thread. Each head is computed whole by one thread, so the two give the same bits.
 */
class ThreadIndependenceTest {

    @Test
    void aRowReadAloneEqualsTheSameRowOfTheParallelReadBitForBit() {
        assertEquals(2, ParallelHeads.helpers(), "the test JVM runs two helpers (surefire argLine)");
        int heads = 4;
        int n = 128;
        int dk = 64;
        int dv = 40;
        LayerSpec spec = new LayerSpec(heads, 2, dk, dv, 8);
        LongTermMemory memory = Fixtures.memory(spec, true, new double[] {0, 1, -1, 2});
        SplittableRandom r = new SplittableRandom(11);
        for (int s = 0; s < 3; s++) { // two writes (parallel by kv head), then the reads
            Segment segment = Segment.of(s * (long) n, Fixtures.tensor(Fixtures.random(r, heads, n, dk, 2)),
                    Fixtures.tensor(Fixtures.random(r, 2, n, dk, 2)), Fixtures.tensor(Fixtures.random(r, 2, n, dv, 1)));
            float[] whole = ((Readout.PerHead) memory.read(segment)).values().toArray();
            for (int from : new int[] {n - 1, n / 2 + 3}) {
                float[] rows = ((Readout.PerHead) memory.readRows(segment, from)).values().toArray();
                for (int h = 0; h < heads; h++) {
                    float[] expected = java.util.Arrays.copyOfRange(whole, (h * n + from) * dv, (h + 1) * n * dv);
                    float[] actual = java.util.Arrays.copyOfRange(rows, h * (n - from) * dv, (h + 1) * (n - from) * dv);
                    assertArrayEquals(expected, actual, "segment " + s + ", head " + h + ", rows from " + from);
                }
            }
            memory.write(segment);
        }
    }
}
