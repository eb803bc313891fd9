package dev.engram.memory.infini;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateReader;
import dev.engram.api.StateWriter;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A snapshot whose M or z holds NaN or an infinity is refused with a {@link SnapshotException} that
 * names the layer, the field and the kv head, and the live state is left as it was. The bad snapshot is
 * otherwise valid (right header, right lengths, a fresh checksum), so only the finiteness check can
 * refuse it.
 */
class RestoreRefusesNonFiniteStateTest {
    private static final LayerSpec SPEC = new LayerSpec(4, 2, 3, 5, 8);

    @ParameterizedTest(name = "{0}[{1}] = {2}")
    @CsvSource({
            "M, 0, NaN, 0",
            "M, 17, Infinity, 1",
            "M, 29, -Infinity, 1",
            "z, 1, NaN, 0",
            "z, 4, Infinity, 1"})
    void aNonFiniteValueIsRefusedNamingTheFieldAndKvHead(String field, int index, float bad, int kvHead) {
        LongTermMemory source = written(1);
        Snapshot good = source.snapshot();
        StateReader reader = new StateReader(good.payload());
        float[] m = reader.readFloats("M", 2 * 3 * 5);
        float[] z = reader.readFloats("z", 2 * 3);
        (field.equals("M") ? m : z)[index] = bad;
        Snapshot damaged = new Snapshot(good.provider(), good.stateVersion(), good.spec(),
                new StateWriter().writeFloats(m).writeFloats(z).toBytes());
        // Round-trip through bytes: the checksum is recomputed, so the bytes themselves are well formed.
        Snapshot fromBytes = Snapshot.fromBytes(damaged.toBytes());

        LongTermMemory target = written(2);
        byte[] before = target.snapshot().toBytes();
        SnapshotException e = assertThrows(SnapshotException.class, () -> target.restore(fromBytes));
        int perHead = field.equals("M") ? 3 * 5 : 3;
        assertEquals("provider 'infini' layer 4: snapshot." + field + " of kv head " + kvHead + " holds " + bad
                + " at index " + index % perHead + "; valid: finite values (a write never stores anything else)",
                e.getMessage());
        assertArrayEquals(before, target.snapshot().toBytes(), "a refused snapshot leaves the state as it was");

        target.restore(good);
        assertArrayEquals(good.toBytes(), target.snapshot().toBytes(), "the undamaged snapshot still restores");
    }

    private static LongTermMemory written(long seed) {
        LongTermMemory m = Fixtures.memory(SPEC, true, new double[] {0, 1, -1, 2});
        SplittableRandom r = new SplittableRandom(seed);
        m.write(Segment.of(0, null, Fixtures.tensor(Fixtures.random(r, 2, 6, 3, 1)),
                Fixtures.tensor(Fixtures.random(r, 2, 6, 5, 1))));
        return m;
    }
}
