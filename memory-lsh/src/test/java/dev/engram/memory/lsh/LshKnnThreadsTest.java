package dev.engram.memory.lsh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.kernel.ParallelHeads;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code lsh-knn} reads and writes its kv heads on the helper threads ({@link ParallelHeads}). A kv head's store and
 * the query heads reading it are handled whole by one thread, so a layer of four kv heads gives, for each of them,
 * the same bits as a layer holding only that kv head (its rotations, its queries, keys and values), whose calls never
 * use a helper.
 */
class LshKnnThreadsTest {
    private static final LshKnnProvider PROVIDER = new LshKnnProvider();

    @ParameterizedTest(name = "exact={0}")
    @ValueSource(booleans = {false, true})
    void aKvHeadGivesTheSameBitsAloneAsBesideOthersOnHelperThreads(boolean exact) {
        assertEquals(2, ParallelHeads.helpers(), "the test JVM runs two helpers (surefire argLine)");
        int kvHeads = 4;
        int group = 2;
        int heads = kvHeads * group;
        int dk = 32;
        int dv = 16;
        int rounds = 4;
        int buckets = 16;
        int n = 128;
        Map<String, Object> config = Map.of("exact", exact, "capacity", 300, "k", 8, "rounds", rounds,
                "buckets", buckets);
        Tensor rotations = Fixtures.gaussian(5, kvHeads, dk, rounds, buckets / 2);
        Tensor gates = Fixtures.gaussian(6, heads);
        LongTermMemory all = memory(new LayerSpec(heads, kvHeads, dk, dv, 8), config, exact, rotations, gates);
        LongTermMemory[] alone = new LongTermMemory[kvHeads];
        for (int g = 0; g < kvHeads; g++) {
            Tensor gGates = Tensor.of(Arrays.copyOfRange(gates.toArray(), g * group, (g + 1) * group), group);
            alone[g] = memory(new LayerSpec(group, 1, dk, dv, 8), config, exact,
                    rotations.select(g).copy().reshape(1, dk, rounds, buckets / 2), gGates);
        }
        for (int s = 0; s < 4; s++) { // 512 pairs through a capacity of 300: the later reads search evicted stores
            Tensor q = Fixtures.gaussian(100 + s, heads, n, dk);
            Tensor k = Fixtures.gaussian(200 + s, kvHeads, n, dk);
            Tensor v = Fixtures.gaussian(300 + s, kvHeads, n, dv);
            Segment segment = Segment.of(0, q, k, v);
            long readWork = (long) heads * n * Math.min(s * n, 300) * dk / (exact ? 1 : buckets / rounds);
            assertTrue(s == 0 || readWork >= ParallelHeads.WORTH_A_HELPER, "reads must be big enough for helpers");
            Tensor together = ((Readout.PerHead) all.read(segment)).values().copy();
            for (int g = 0; g < kvHeads; g++) {
                Segment own = Segment.of(0, slice(q, g * group, group), slice(k, g, 1), slice(v, g, 1));
                Tensor single = ((Readout.PerHead) alone[g].read(own)).values();
                assertTrue(slice(together, g * group, group).bitEquals(single), "segment " + s + ", kv head " + g);
                alone[g].write(own);
            }
            all.write(segment);
        }
    }

    private static LongTermMemory memory(LayerSpec spec, Map<String, Object> config, boolean exact, Tensor rotations,
                                         Tensor gates) {
        Map<String, Tensor> weights = exact ? Map.of("gate", gates) : Map.of("gate", gates, "rotations", rotations);
        return PROVIDER.create(Fixtures.context(PROVIDER, spec, config, weights));
    }

    /** Heads [from, from + count) of a [heads, N, d] tensor, as a tensor of its own. */
    private static Tensor slice(Tensor t, int from, int count) {
        int perHead = t.dim(1) * t.dim(2);
        float[] a = t.toArray();
        return Tensor.of(Arrays.copyOfRange(a, from * perHead, (from + count) * perHead), count, t.dim(1), t.dim(2));
    }
}
