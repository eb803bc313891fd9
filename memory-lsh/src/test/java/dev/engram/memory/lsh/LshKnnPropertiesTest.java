package dev.engram.memory.lsh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class LshKnnPropertiesTest {
    private static final LshKnnProvider PROVIDER = new LshKnnProvider();

    /**
     * Runs {@code segments} random segments through the provider and the plain reference side by side,
     * comparing every readout. Small capacities make eviction happen many times.
     */
    private static void compareWithReference(boolean exact, int heads, int kvHeads, int capacity, int k, int rounds,
                                             int buckets, double scale, int segments, long seed) {
        int dk = 6;
        int dv = 3;
        LayerSpec spec = new LayerSpec(heads, kvHeads, dk, dv, 8);
        Map<String, Object> config = new HashMap<>(Map.of("exact", exact, "capacity", capacity, "k", k,
                "rounds", rounds, "buckets", buckets, "seed", seed));
        if (scale != 0) {
            config.put("scale", scale);
        }
        Map<String, Tensor> weights = Map.of("gate", Fixtures.gaussian(seed, heads));
        LongTermMemory memory = PROVIDER.create(Fixtures.context(PROVIDER, spec, config, weights));
        float[][][][] rot = exact ? null : PlainReference.rotations(seed, kvHeads, dk, rounds, buckets / 2);
        PlainReference.Knn ref = new PlainReference.Knn(heads, kvHeads, capacity, k,
                scale == 0 ? Math.sqrt(dk) : scale, exact, rot, rounds);
        for (int s = 0; s < segments; s++) {
            int n = 1 + (int) ((seed + s * 7L) % 9);
            Tensor q = Fixtures.gaussian(seed * 1000 + s * 3, heads, n, dk);
            Tensor kk = Fixtures.gaussian(seed * 1000 + s * 3 + 1, kvHeads, n, dk);
            Tensor v = Fixtures.gaussian(seed * 1000 + s * 3 + 2, kvHeads, n, dv);
            Segment segment = Segment.of(0, q, kk, v);
            Readout readout = memory.read(segment);
            double[][][] expected = ref.read(Fixtures.heads(q), dv);
            Tensor got = ((Readout.PerHead) readout).values();
            assertTrue(Fixtures.maxAbsDiff(got, expected) < 1e-5, "segment " + s + ": readout differs from the reference");
            memory.write(segment);
            ref.write(Fixtures.heads(kk), Fixtures.heads(v));
        }
    }

    @ParameterizedTest(name = "H={0} G={1} capacity={2} k={3}")
    @CsvSource({"1, 1, 5, 2", "4, 2, 7, 3", "4, 1, 20, 32", "2, 2, 3, 1"})
    void exactEqualsBruteForceKnnAttention(int heads, int kvHeads, int capacity, int k) {
        compareWithReference(true, heads, kvHeads, capacity, k, 1, 2, 0, 12, heads * 10L + capacity);
    }

    @ParameterizedTest(name = "rounds={0} buckets={1} capacity={2}")
    @CsvSource({"1, 4, 6", "2, 4, 9", "4, 8, 16", "3, 2, 5", "2, 16, 40"})
    void hashedEqualsTheReferenceThroughManyEvictions(int rounds, int buckets, int capacity) {
        compareWithReference(false, 4, 2, capacity, 3, rounds, buckets, 2.5, 20, rounds * 100L + buckets);
    }

    @Test
    void hashedWithTwoBucketsAndManyRoundsFindsWhatExactFinds() {
        // with 2 buckets a pair misses the query in a round with probability ~ angle/pi; with 32 rounds almost never
        LayerSpec spec = new LayerSpec(1, 1, 4, 2, 8);
        Map<String, Tensor> weights = Map.of("gate", Tensor.zeros(1));
        LongTermMemory hashed = PROVIDER.create(Fixtures.context(PROVIDER, spec,
                Map.of("rounds", 32, "buckets", 2, "k", 1), weights));
        LongTermMemory exact = PROVIDER.create(Fixtures.context(PROVIDER, spec, Map.of("exact", true, "k", 1), weights));
        Tensor k = Fixtures.gaussian(1, 1, 50, 4);
        Tensor v = Fixtures.gaussian(2, 1, 50, 2);
        hashed.write(Segment.of(0, null, k, v));
        exact.write(Segment.of(0, null, k, v));
        // queries that are stored keys: the best match is the key itself, which shares every bucket
        Tensor q = Tensor.of(k.toArray(), 1, 50, 4);
        Tensor a = ((Readout.PerHead) hashed.read(Segment.of(50, q, null, null))).values().copy();
        Tensor b = ((Readout.PerHead) exact.read(Segment.of(50, q, null, null))).values();
        assertTrue(a.bitEquals(b));
    }

    @Test
    void snapshotRoundTripRebuildsTheIndexWithIdenticalResults() {
        LayerSpec spec = new LayerSpec(2, 1, 4, 2, 8);
        Map<String, Object> config = Map.of("capacity", 10, "rounds", 2, "buckets", 4, "k", 3);
        Map<String, Tensor> weights = Map.of("gate", Tensor.zeros(2));
        LongTermMemory a = PROVIDER.create(Fixtures.context(PROVIDER, spec, config, weights));
        for (int s = 0; s < 5; s++) { // 35 pairs through a 10-pair store: the ring has wrapped
            a.write(Segment.of(0, null, Fixtures.gaussian(s, 1, 7, 4), Fixtures.gaussian(s + 50, 1, 7, 2)));
        }
        LongTermMemory b = PROVIDER.create(Fixtures.context(PROVIDER, spec, config, weights));
        b.restore(Snapshot.fromBytes(a.snapshot().toBytes()));
        for (int s = 0; s < 4; s++) {
            Segment seg = Segment.of(0, Fixtures.gaussian(s + 7, 2, 5, 4), Fixtures.gaussian(s + 8, 1, 5, 4),
                    Fixtures.gaussian(s + 9, 1, 5, 2));
            Tensor x = ((Readout.PerHead) a.read(seg)).values().copy();
            Tensor y = ((Readout.PerHead) b.read(seg)).values();
            assertTrue(x.bitEquals(y), "step " + s);
            a.write(seg);
            b.write(seg);
            assertArrayEquals(a.snapshot().toBytes(), b.snapshot().toBytes());
        }
        assertEquals(a.stateBytes(), b.stateBytes());
    }

    @Test
    void aSegmentLongerThanTheCapacityKeepsItsOwnLastPairs() {
        LayerSpec spec = new LayerSpec(1, 1, 2, 1, 8);
        LongTermMemory m = PROVIDER.create(Fixtures.context(PROVIDER, spec,
                Map.of("capacity", 2, "exact", true, "k", 4, "scale", 1e-9), Map.of("gate", Tensor.zeros(1))));
        Tensor k = Tensor.of(new float[] {1, 0, 0, 1, 1, 1, -1, 0, 0, -1}, 1, 5, 2);
        Tensor v = Tensor.of(new float[] {10, 20, 30, 40, 50}, 1, 5, 1);
        m.write(Segment.of(0, null, k, v));
        // scale ~ 0 makes the softmax uniform over what is stored: the mean of the last two values
        Tensor r = ((Readout.PerHead) m.read(Segment.of(5, Tensor.of(new float[] {1, 0}, 1, 1, 2), null, null))).values();
        assertEquals(45f, r.get(0, 0, 0), 1e-4);
    }

    @Test
    void rotationsAreNotAWeightOfTheExactMemory() {
        LayerSpec spec = new LayerSpec(1, 1, 2, 1, 8);
        Map<String, Tensor> weights = Map.of("gate", Tensor.zeros(1), "rotations", Tensor.zeros(1, 2, 4, 32));
        assertThrows(ConfigException.class, () -> Fixtures.context(PROVIDER, spec, Map.of("exact", true), weights));
        Fixtures.context(PROVIDER, spec, Map.of(), weights);
        ConfigException missingGate = assertThrows(ConfigException.class,
                () -> Fixtures.context(PROVIDER, spec, Map.of(), Map.of()));
        assertTrue(missingGate.getMessage().contains("'gate'"), missingGate.getMessage());
    }
}
