package dev.engram.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SnapshotSupportTest {
    private final LayerSpec spec = new LayerSpec(2, 2, 4, 4, 8);
    private final LayerContext context = new LayerContext("fake", 2, spec,
            new FakeProvider("fake", SpiVersion.CURRENT).configSchema().defaults(), Weights.none());

    @Test
    void installsOnlyWhenTheWholePayloadParsed() {
        AtomicInteger live = new AtomicInteger(5);
        Snapshot s = SnapshotSupport.save(context, 1, w -> w.writeInt(9).writeInt(10));
        SnapshotSupport.load(context, 1, s, r -> {
            int a = r.readInt();
            int b = r.readInt();
            return () -> live.set(a + b);
        });
        assertEquals(19, live.get());

        Snapshot tooLong = SnapshotSupport.save(context, 1, w -> w.writeInt(1).writeInt(2).writeInt(3));
        SnapshotException e = assertThrows(SnapshotException.class, () -> SnapshotSupport.load(context, 1, tooLong, r -> {
            int a = r.readInt();
            int b = r.readInt();
            return () -> live.set(a + b);
        }));
        assertEquals("provider 'fake' layer 2: snapshot.payload has 4 unread bytes: layout mismatch", e.getMessage());
        assertEquals(19, live.get(), "a refused snapshot installs nothing");
    }

    @Test
    void unexpectedParseFailuresBecomeSnapshotExceptions() {
        Snapshot s = SnapshotSupport.save(context, 1, w -> w.writeInt(-1));
        SnapshotException e = assertThrows(SnapshotException.class, () -> SnapshotSupport.load(context, 1, s, r -> {
            int[] bad = new int[r.readInt()];
            return () -> Map.of().size();
        }));
        assertTrue(e.getMessage().startsWith("provider 'fake' layer 2: snapshot payload is inconsistent"), e.getMessage());
    }
}
