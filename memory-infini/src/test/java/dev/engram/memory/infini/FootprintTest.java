package dev.engram.memory.infini;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.api.StateReader;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class FootprintTest {
    @Test
    void aMillionTokensLeaveTheStateSizeUnchangedAndFinite() {
        LayerSpec spec = new LayerSpec(4, 2, 16, 16, 64);
        LongTermMemory m = Fixtures.memory(spec, true, new double[] {0, 0, 0, 0});
        int n = 2048;
        SplittableRandom r = new SplittableRandom(5);
        Tensor q = Fixtures.tensor(Fixtures.random(r, 4, n, 16, 1));
        Tensor k = Fixtures.tensor(Fixtures.random(r, 2, n, 16, 1));
        Tensor v = Fixtures.tensor(Fixtures.random(r, 2, n, 16, 1));
        int emptySize = m.snapshot().toBytes().length;
        long bytes = m.stateBytes();
        assertEquals(4L * 2 * 16 * (16 + 1), bytes, "G * dk * (dv + 1) floats");
        for (long position = 0; position < 1_000_000; position += n) {
            Segment s = Segment.of(position, q, k, v);
            m.read(s);
            m.write(s);
        }
        assertEquals(bytes, m.stateBytes());
        byte[] payload = m.snapshot().payload();
        assertEquals(emptySize, m.snapshot().toBytes().length);
        StateReader reader = new StateReader(payload);
        for (float x : reader.readFloats("M", 2 * 16 * 16)) {
            assertEquals(true, Float.isFinite(x), "M stays finite");
        }
    }
}
