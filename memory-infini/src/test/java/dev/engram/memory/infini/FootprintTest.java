package dev.engram.memory.infini;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
        int emptyPayload = m.snapshot().payload().length;
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
        assertEquals(emptyPayload, payload.length, "payload bytes");
        StateReader reader = new StateReader(payload);
        // readFloats fails unless the stored length is exactly G * dk * dv (then G * dk); requireEnd
        // fails if anything else was appended.
        float[] mem = reader.readFloats("M", 2 * 16 * 16);
        float[] z = reader.readFloats("z", 2 * 16);
        reader.requireEnd();
        for (float x : mem) {
            assertTrue(Float.isFinite(x), "M stays finite");
        }
        for (float x : z) {
            assertTrue(Float.isFinite(x), "z stays finite");
            // Every feature is positive, so z is a sum of about a million positive values per entry.
            assertTrue(x > 100_000f, "z accumulated the million tokens: " + x);
        }
    }
}
