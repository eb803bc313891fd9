package dev.engram.examples.ema;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.SeededData;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The memory against a plain double-precision reference written from the formula. */
class EmaReferenceTest {
    @Test
    void readCombineAndWriteFollowTheFormula() {
        LayerSpec spec = new LayerSpec(6, 2, 3, 5, 4);
        double decay = 0.7;
        Tensor gate = SeededData.normal(5, 1f, spec.heads());
        LongTermMemory memory = ProviderRegistry.load().newMemory("ema", 0, spec, Map.of("decay", decay), Map.of("gate", gate));

        double[][] s = new double[spec.kvHeads()][spec.valueDim()];
        int[] lengths = {4, 1, 7, 3, 2};
        long position = 0;
        for (int seg = 0; seg < lengths.length; seg++) {
            int n = lengths[seg];
            SeededData.Inputs in = SeededData.inputs(spec, n, seg);
            Segment segment = new Segment(position, in.q(), in.k(), in.v(), in.h(), null);
            Readout readout = memory.read(segment);
            Tensor read = ((Readout.PerHead) readout).values().copy();
            Tensor out = memory.combine(in.local(), readout);
            for (int h = 0; h < spec.heads(); h++) {
                int g = h / (spec.heads() / spec.kvHeads());
                double gh = 1 / (1 + Math.exp(-gate.get(h)));
                for (int i = 0; i < n; i++) {
                    for (int d = 0; d < spec.valueDim(); d++) {
                        assertEquals(s[g][d], read.get(h, i, d), 1e-6, "read h" + h + " i" + i + " d" + d);
                        double want = gh * s[g][d] + (1 - gh) * in.local().get(h, i, d);
                        assertEquals(want, out.get(h, i, d), 1e-5, "output h" + h + " i" + i + " d" + d);
                    }
                }
            }
            memory.write(segment);
            for (int g = 0; g < spec.kvHeads(); g++) {
                for (int d = 0; d < spec.valueDim(); d++) {
                    double mean = 0;
                    for (int t = 0; t < n; t++) {
                        mean += in.v().get(g, t, d);
                    }
                    s[g][d] = decay * s[g][d] + (1 - decay) * mean / n;
                }
            }
            position += n;
        }
    }
}
