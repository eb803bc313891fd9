package dev.engram.memory.continuous;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.SeededData;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A write whose rows are near the float32 limit (3e38) makes coefficients overflow. It must throw
 * {@link NonFiniteStateException} naming the layer and the coefficient, and leave every part of the state
 * (B, the sticky stream's position, the remembered read) as it was: the snapshot is byte-identical and the
 * next good write gives what it gives on a memory that never saw the bad segment.
 */
class NonFiniteWriteTest {
    private static final LayerSpec SPEC = new LayerSpec(2, 2, 4, 4, 6);
    private static final int LAYER = 7;

    private static ContinuousMemory memory(boolean sticky) {
        ContinuousMemoryProvider p = new ContinuousMemoryProvider();
        // Wide, overlapping basis functions with a small lambda (still accepted by the conditioning check):
        // the fit turns new rows of 3e38 into coefficients beyond float32's 3.4e38.
        Map<String, Object> config = Map.of("basis", 16, "samples", 16, "widths", "0.2,0.4", "lambda", 0.01,
                "sticky", sticky);
        var parsed = p.configSchema().parse("test", config);
        return (ContinuousMemory) p.create(ProviderRegistry.context(p, LAYER, SPEC, config,
                SeededData.weights(p.weights(SPEC, parsed), 8)));
    }

    private static Segment segment(long position, long seed, Tensor h) {
        return new Segment(position, SeededData.normal(seed, 1f, 2, h.dim(0), 4), null, null, h, null);
    }

    @ParameterizedTest(name = "sticky={0}")
    @ValueSource(booleans = {false, true})
    void aWriteNearTheFloatLimitIsRefusedNamingTheLayerAndChangesNothing(boolean sticky) {
        ContinuousMemory m = memory(sticky);
        ContinuousMemory untouched = memory(sticky);
        Segment first = segment(0, 1, SeededData.normal(2, 1f, 5, 6));
        float[] huge = new float[5 * 6];
        java.util.Arrays.fill(huge, 3e38f);
        Segment bad = segment(5, 3, Tensor.of(huge, 5, 6));
        for (ContinuousMemory x : new ContinuousMemory[] {m, untouched}) {
            x.write(first);
            x.read(bad); // a sticky write samples where this read attended
        }
        byte[] before = m.snapshot().toBytes();

        NonFiniteStateException e = assertThrows(NonFiniteStateException.class, () -> m.write(bad));
        assertTrue(e.getMessage().startsWith("provider 'continuous' layer " + LAYER + " (all heads): coefficient B["),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("in this write; the state was left as before the segment"), e.getMessage());
        assertArrayEquals(before, m.snapshot().toBytes(), "the refused write changed the state");

        Segment next = segment(5, 4, SeededData.normal(5, 1f, 5, 6));
        m.write(next);
        untouched.write(next);
        assertArrayEquals(untouched.coefficients(), m.coefficients(), "the refused write left a trace");
    }
}
