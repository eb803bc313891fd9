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
import dev.engram.baselines.position.Rope;
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
            for (String name : new String[] {"full", "window", "window-aligned"}) {
                Map<String, Object> exact = new HashMap<>(config);
                if (name.equals("window")) {
                    exact.put("window", 9);
                    exact.put("sinks", 3); // unaligned eviction: the per-token move of the keys
                } else if (name.equals("window-aligned")) {
                    name = "window";
                    exact.put("window", 16); // with segments of 7: whole-tile moves whenever the move is aligned
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

    /**
     * With rope the cache rounds each key after rotating it: the same as a float32 cache without positional encoding
     * given queries and keys rotated beforehand (by the same {@link Rope}) and keys and values rounded, bit for bit.
     */
    @Test
    void withRopeTheKeysAreRoundedAfterTheirRotation() {
        Attention half = registry.newAttention("full", 0, SPEC, Map.of("kvCache", "bfloat16"), Map.of());
        Attention plain = registry.newAttention("full", 0, SPEC, Map.of("positional", "none"), Map.of());
        Attention exact = registry.newAttention("full", 0, SPEC, Map.of(), Map.of());
        Rope rope = new Rope(SPEC.keyDim(), 10000.0);
        boolean differs = false;
        for (int s = 0; s < 3; s++) {
            long start = (long) N * s;
            SeededData.Inputs in = SeededData.inputs(SPEC, N, 60 + s);
            Tensor q = rotated(rope, in.q(), start);
            Tensor k = roundedToBfloat16(rotated(rope, in.k(), start));
            float[] want = copy(plain.attend(Segment.of(start, q, k, roundedToBfloat16(in.v()))));
            float[] got = copy(half.attend(Segment.of(start, in.q(), in.k(), in.v())));
            assertArrayEquals(want, got, "segment " + s);
            differs |= !java.util.Arrays.equals(got, copy(exact.attend(Segment.of(start, in.q(), in.k(), in.v()))));
        }
        assertTrue(differs, "rotated keys are no bfloat16 numbers: rounding them must show against float32");
    }

    /** Each row of [rows, N, dk] rotated at positions start .. start + N - 1. */
    private static Tensor rotated(Rope rope, Tensor t, long start) {
        Tensor c = t.copy();
        int rows = t.dim(0);
        int n = t.dim(1);
        int dk = t.dim(2);
        for (int r = 0; r < rows; r++) {
            rope.rotate(t.array(), t.offset() + r * n * dk, c.array(), c.offset() + r * n * dk, start, n);
        }
        return c;
    }

    @Test
    void aSnapshotRestoresOnlyIntoTheSameStorage() {
        Attention exact = registry.newAttention("full", 0, SPEC, Map.of(), Map.of());
        Attention half = registry.newAttention("full", 0, SPEC, Map.of("kvCache", "bfloat16"), Map.of());
        SeededData.Inputs in = SeededData.inputs(SPEC, N, 7);
        exact.attend(Segment.of(0, in.q(), in.k(), in.v()));
        half.attend(Segment.of(0, in.q(), in.k(), in.v()));
        byte[] exactBefore = exact.snapshot().payload();
        byte[] halfBefore = half.snapshot().payload();
        SnapshotException intoHalf = assertThrows(SnapshotException.class, () -> half.restore(exact.snapshot()));
        assertTrue(intoHalf.getMessage().contains("kvCache is float32") && intoHalf.getMessage().contains("bfloat16"),
                intoHalf.getMessage());
        SnapshotException intoExact = assertThrows(SnapshotException.class, () -> exact.restore(half.snapshot()));
        assertTrue(intoExact.getMessage().contains("kvCache is bfloat16"), intoExact.getMessage());
        // the refused restores changed nothing
        assertArrayEquals(exactBefore, exact.snapshot().payload());
        assertArrayEquals(halfBefore, half.snapshot().payload());
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
