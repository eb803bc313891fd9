package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.SnapshotException;
import dev.engram.api.Tensor;
import dev.engram.conformance.SeededData;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.kernel.FloatKernels;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code kvCache: bfloat16}. Where the keys and values are bfloat16 numbers already (no rotary encoding, which would
 * turn a key into another number before it is stored), storing them as bfloat16 loses nothing, so the outputs must be
 * those of the float32 cache bit for bit, which the conformance cases hold to independent references. With rope the
 * rotated keys are rounded: the outputs then stay within what that rounding allows.
 */
class Bfloat16CacheTest {
    /** 4 heads over 2 kv heads, dk = dv = 16 (a whole SIMD vector at 512 bits), 3 segments of 7 tokens. */
    private static final LayerSpec SPEC = new LayerSpec(4, 2, 16, 16, 32);
    private static final int N = 7;
    private final ProviderRegistry registry = ProviderRegistry.load();

    @Test
    void keysAndValuesThatAreBfloat16NumbersGiveTheFloat32OutputsBitForBit() {
        for (Map<String, Object> config : new Map[] {Map.of("positional", "none"), Map.of("positional", "alibi")}) {
            for (String name : new String[] {"full", "window"}) {
                Map<String, Object> exact = new HashMap<>(config);
                if (name.equals("window")) {
                    exact.put("window", 9);
                    exact.put("sinks", 3); // unaligned eviction: the per-token move of the keys
                }
                Map<String, Object> half = new HashMap<>(exact);
                half.put("kvCache", "bfloat16");
                Attention a = registry.newAttention(name, 0, SPEC, exact, Map.of());
                Attention b = registry.newAttention(name, 0, SPEC, half, Map.of());
                for (int s = 0; s < 3; s++) {
                    SeededData.Inputs in = SeededData.inputs(SPEC, N, 40 + s);
                    Tensor k = roundedToBfloat16(in.k());
                    Tensor v = roundedToBfloat16(in.v());
                    float[] want = copy(a.attend(Segment.of((long) N * s, in.q(), k, v)));
                    float[] got = copy(b.attend(Segment.of((long) N * s, in.q(), k, v)));
                    assertArrayEquals(want, got, name + " " + config + " segment " + s);
                }
                if (name.equals("full")) { // 21 tokens, each 2 kv heads x (16 + 16) components and a long position
                    assertEquals(21L * (2 * 32 * 4 + 8), a.stateBytes());
                    assertEquals(21L * (2 * 32 * 2 + 8), b.stateBytes(), "2 bytes per key and value component");
                }
            }
        }
    }

    @Test
    void withRopeTheRoundedKeysAndValuesMoveTheOutputsByLessThanTheirRounding() {
        Attention a = registry.newAttention("full", 0, SPEC, Map.of(), Map.of());
        Attention b = registry.newAttention("full", 0, SPEC, Map.of("kvCache", "bfloat16"), Map.of());
        boolean differs = false;
        for (int s = 0; s < 3; s++) {
            SeededData.Inputs in = SeededData.inputs(SPEC, N, 60 + s);
            float[] want = copy(a.attend(Segment.of((long) N * s, in.q(), in.k(), in.v())));
            float[] got = copy(b.attend(Segment.of((long) N * s, in.q(), in.k(), in.v())));
            for (int i = 0; i < want.length; i++) {
                // a rounded value is off by at most 2^-9 of itself, so an average of values by 2^-9 max|v| < 0.01
                // (|v| < 5 for these 16-dim normal draws); a rounded key moves a logit by at most
                // |q| |k| 2^-9 / sqrt(dk) < 6 * 6 * 2^-9 / 4 < 0.018, so each weight by a factor within e^(+-0.036),
                // the output by less than 0.036 * (max v - min v) < 0.36 in the worst case: bound 0.37
                assertEquals(want[i], got[i], 0.37, "segment " + s + " output " + i);
                differs |= want[i] != got[i];
            }
        }
        assertTrue(differs, "rotated keys are no bfloat16 numbers: rounding them must show somewhere");
    }

    @Test
    void aSnapshotRestoresOnlyIntoTheSameStorage() {
        Attention exact = registry.newAttention("full", 0, SPEC, Map.of(), Map.of());
        Attention half = registry.newAttention("full", 0, SPEC, Map.of("kvCache", "bfloat16"), Map.of());
        SeededData.Inputs in = SeededData.inputs(SPEC, N, 7);
        exact.attend(Segment.of(0, in.q(), in.k(), in.v()));
        half.attend(Segment.of(0, in.q(), in.k(), in.v()));
        SnapshotException intoHalf = assertThrows(SnapshotException.class, () -> half.restore(exact.snapshot()));
        assertTrue(intoHalf.getMessage().contains("kvCache is float32") && intoHalf.getMessage().contains("bfloat16"),
                intoHalf.getMessage());
        SnapshotException intoExact = assertThrows(SnapshotException.class, () -> exact.restore(half.snapshot()));
        assertTrue(intoExact.getMessage().contains("kvCache is bfloat16"), intoExact.getMessage());
        // the refused restores changed nothing: both continue as before
        Attention fresh = registry.newAttention("full", 0, SPEC, Map.of("kvCache", "bfloat16"), Map.of());
        fresh.restore(half.snapshot());
        SeededData.Inputs next = SeededData.inputs(SPEC, N, 8);
        assertArrayEquals(copy(half.attend(Segment.of(N, next.q(), next.k(), next.v()))),
                copy(fresh.attend(Segment.of(N, next.q(), next.k(), next.v()))));
    }

    @Test
    void anUnknownStorageIsRefusedByName() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> registry.newAttention("window", 0, SPEC, Map.of("kvCache", "float16"), Map.of()));
        assertTrue(e.getMessage().contains("kvCache") && e.getMessage().contains("bfloat16"), e.getMessage());
        assertFalse(e.getMessage().isBlank());
    }

    private static Tensor roundedToBfloat16(Tensor t) {
        Tensor c = t.copy();
        float[] x = c.array();
        for (int i = c.offset(); i < c.offset() + c.size(); i++) {
            x[i] = FloatKernels.fromBfloat16(FloatKernels.toBfloat16(x[i]));
        }
        return c;
    }

    private static float[] copy(Tensor t) {
        float[] out = new float[t.size()];
        System.arraycopy(t.array(), t.offset(), out, 0, t.size());
        return out;
    }
}
