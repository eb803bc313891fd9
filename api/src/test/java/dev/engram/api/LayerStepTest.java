package dev.engram.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The layer step's order and outputs, against hand-worked values from fakes that record their calls. */
class LayerStepTest {
    private static final LayerSpec SPEC = new LayerSpec(1, 1, 1, 1, 2);
    private final List<String> calls = new ArrayList<>();

    /** Attention that outputs 1 per row. */
    private final Attention attention = new Attention() {
        @Override public LayerSpec spec() { return SPEC; }
        @Override public Tensor attend(Segment s) { calls.add("attend"); return filled(1f, 1, s.length(), 1); }
        @Override public Tensor attendRows(Segment s, int from) { calls.add("attendRows"); return filled(1f, 1, s.length() - from, 1); }
        @Override public void reset() { }
        @Override public Snapshot snapshot() { return null; }
        @Override public void restore(Snapshot snapshot) { }
        @Override public long stateBytes() { return 0; }
    };

    /** A memory whose readout is per head (10 per row, combined as local + readout) or in model space (addend 5). */
    private LongTermMemory memory(boolean perHead) {
        return new LongTermMemory() {
            @Override public LayerSpec spec() { return SPEC; }
            @Override public Readout read(Segment s) { calls.add("read"); return readout(s.length()); }
            @Override public Readout readRows(Segment s, int from) { calls.add("readRows"); return readout(s.length() - from); }

            private Readout readout(int rows) {
                return perHead ? new Readout.PerHead(filled(10f, 1, rows, 1)) : new Readout.ModelSpace(filled(5f, rows, 2));
            }

            @Override
            public Tensor combine(Tensor local, Readout r) {
                calls.add("combine");
                if (r instanceof Readout.PerHead p) {
                    Tensor out = local.copy();
                    for (int i = 0; i < out.size(); i++) {
                        out.array()[i] += p.values().array()[i];
                    }
                    return out;
                }
                return local;
            }

            @Override public void write(Segment s) { calls.add("write"); }
            @Override public void reset() { }
            @Override public Snapshot snapshot() { return null; }
            @Override public void restore(Snapshot snapshot) { }
            @Override public long stateBytes() { return 0; }
        };
    }

    private static Tensor filled(float value, int... shape) {
        Tensor t = Tensor.zeros(shape);
        t.fill(value);
        return t;
    }

    private static Segment segment(int n) {
        return Segment.of(0, Tensor.zeros(1, n, 1), Tensor.zeros(1, n, 1), Tensor.zeros(1, n, 1));
    }

    @Test
    void attendReadCombineThenWriteWithAPerHeadReadout() {
        Tensor out = filled(-7f, 1, 3, 1);
        Tensor addend = filled(-7f, 3, 2);
        List<String> seenAt = new ArrayList<>();
        LayerStep.run(attention, memory(true), segment(3), out, addend, r -> seenAt.add(String.join(",", calls)));
        assertEquals(List.of("attend", "read", "combine", "write"), calls);
        assertEquals(List.of("attend,read,combine"), seenAt, "the readout is handed over before the write");
        assertArrayEquals(new float[] {11f, 11f, 11f}, out.toArray());
        assertArrayEquals(new float[6], addend.toArray(), "no model-space readout: the addend is zero");
    }

    @Test
    void aModelSpaceReadoutGoesToTheAddendAndLeavesTheAttentionOutput() {
        Tensor out = Tensor.zeros(1, 2, 1);
        Tensor addend = Tensor.zeros(2, 2);
        LayerStep.run(attention, memory(false), segment(2), out, addend, null);
        assertArrayEquals(new float[] {1f, 1f}, out.toArray());
        assertArrayEquals(new float[] {5f, 5f, 5f, 5f}, addend.toArray());
    }

    @Test
    void withoutAMemoryOnlyTheAttentionRunsAndWithoutAnAttentionTheGivenLocalIsUsed() {
        Tensor out = Tensor.zeros(1, 2, 1);
        Tensor addend = filled(3f, 2, 2);
        LayerStep.run(attention, null, segment(2), out, addend, null);
        assertEquals(List.of("attend"), calls);
        assertArrayEquals(new float[] {1f, 1f}, out.toArray());
        assertArrayEquals(new float[4], addend.toArray());
        calls.clear();
        Tensor local = filled(2f, 1, 2, 1);
        LayerStep.run(null, memory(true), segment(2), local, null, null);
        assertEquals(List.of("read", "combine", "write"), calls);
        assertArrayEquals(new float[] {12f, 12f}, local.toArray());
    }

    @Test
    void rowsReadTheNewRowsAndWriteNothing() {
        Tensor out = Tensor.zeros(1, 2, 1);
        LayerStep.rows(attention, memory(true), segment(5), 3, out, null);
        assertEquals(List.of("attendRows", "readRows", "combine"), calls);
        assertArrayEquals(new float[] {11f, 11f}, out.toArray());
    }
}
