package dev.engram.tck;

import dev.engram.conformance.SeededData;
import dev.engram.api.Attention;
import dev.engram.api.Capability;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.AttentionProvider;
import dev.engram.spi.LayerContext;
import dev.engram.spi.Provider;
import java.util.List;

/**
 * The test kit for an {@link AttentionProvider}. A plugin's test is a subclass:
 * <pre>{@code
 * class MyAttentionTest extends AttentionContract {
 *     protected AttentionProvider provider() { return new MyAttentionProvider(); }
 * }
 * }</pre>
 * Providers without grouped-query support are tested with kvHeads == heads, so v is [H, N, dv]
 * and serves shared-QK attentions as well.
 */
public abstract class AttentionContract extends SequenceStateContract<Attention> {
    protected abstract AttentionProvider provider();

    @Override
    protected final Provider providerUnderTest() {
        return provider();
    }

    @Override
    final Attention create(LayerContext context) {
        return provider().create(context);
    }

    @Override
    final List<Tensor> step(Attention attention, long start, SeededData.Inputs in) {
        return List.of(produce(attention, start, in).get(0).copy());
    }

    @Override
    final List<Tensor> produce(Attention attention, long start, SeededData.Inputs in) {
        return List.of(attention.attend(new Segment(start, in.q(), in.k(), in.v(), in.h())));
    }

    @Override
    final List<Tensor> partialRows(Attention attention, long start, SeededData.Inputs in, int from) {
        return List.of(attention.attendRows(new Segment(start, in.q(), in.k(), in.v(), in.h()), from).copy());
    }

    /** append leaves the state that attend leaves, bit for bit: what it saves and what it gives afterwards. */
    @org.junit.jupiter.api.Test
    void appendLeavesTheStateAttendLeaves() {
        List<SeededData.Inputs> in = inputs(spec());
        int at = in.size() - 2;
        Attention attended = freshAfter(in, at);
        Attention appended = freshAfter(in, at);
        long start = startOf(in, at);
        SeededData.Inputs segment = in.get(at);
        attended.attend(new Segment(start, segment.q(), segment.k(), segment.v(), segment.h()));
        appended.append(new Segment(start, segment.q(), segment.k(), segment.v(), segment.h()));
        org.junit.jupiter.api.Assertions.assertArrayEquals(attended.snapshot().toBytes(), appended.snapshot().toBytes(),
                "the saved state after append");
        assertBitEqual(run(attended, in, at + 1, in.size()), run(appended, in, at + 1, in.size()),
                "the steps after append");
    }

    /**
     * HELD_ROWS: a segment decoded a row at a time, with {@link Attention#attendNewRows} given each row's keys and
     * values only (the earlier rows zero), gives bit for bit what {@link Attention#attendRows} gives for the segment
     * so far, and leaves the state as it was; an attention holding no rows of the segment (restored, or fresh after
     * other segments) refuses with an IllegalStateException and changes nothing, not even what later steps read.
     */
    @org.junit.jupiter.api.Test
    void newRowsEqualPartialRowsAndNeedTheEarlierRowsHeld() {
        if (!supports(Capability.HELD_ROWS)) {
            return; // the runtime gives such an attention the whole segment so far with every row
        }
        org.junit.jupiter.api.Assertions.assertTrue(supports(Capability.PARTIAL_ROWS),
                "Capability.HELD_ROWS is declared without PARTIAL_ROWS, which it qualifies");
        List<SeededData.Inputs> in = inputs(spec());
        int at = in.size() - 2;
        Attention held = freshAfter(in, at);
        Attention given = freshAfter(in, at);
        long start = startOf(in, at);
        byte[] before = held.snapshot().toBytes();
        SeededData.Inputs segment = in.get(at);
        int n = segment.q().dim(1);
        for (int r = 0; r < n; r++) {
            Tensor expected = given.attendRows(firstRows(start, segment, r + 1, 0), r).copy();
            Tensor got = held.attendNewRows(firstRows(start, segment, r + 1, r), r).copy();
            org.junit.jupiter.api.Assertions.assertTrue(expected.bitEquals(got),
                    "attendNewRows of row " + r + " differs in bits from attendRows of the segment so far");
        }
        assertSameState(before, held, "the state after a segment's rows given one by one");
        Attention restored = fresh();
        restored.restore(Snapshot.fromBytes(before));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> restored.attendNewRows(firstRows(start, segment, 2, 1), 1), "rows from 1 with none held");
        assertSameState(before, restored, "the state after refusing rows it does not hold");
        Attention control = fresh();
        control.restore(Snapshot.fromBytes(before));
        assertBitEqual(run(control, in, at, in.size()), run(restored, in, at, in.size()),
                "the steps after a refused attendNewRows");
    }

    /** The segment's first {@code rows} rows, k and v zero before {@code from} (as the runtime gives new rows). */
    private static Segment firstRows(long start, SeededData.Inputs in, int rows, int from) {
        java.util.function.BiFunction<Tensor, Integer, Tensor> cut = (t, zeroBefore) -> {
            Tensor out = Tensor.zeros(t.dim(0), rows, t.dim(2));
            for (int a = 0; a < t.dim(0); a++) {
                for (int i = zeroBefore; i < rows; i++) {
                    out.select(a).select(i).copyFrom(t.select(a).select(i));
                }
            }
            return out;
        };
        Tensor h = Tensor.zeros(rows, in.h().dim(1));
        for (int i = 0; i < rows; i++) {
            h.select(i).copyFrom(in.h().select(i));
        }
        return new Segment(start, cut.apply(in.q(), 0), cut.apply(in.k(), from), cut.apply(in.v(), from), h);
    }

    @Override
    final void complete(Attention attention, long start, SeededData.Inputs in) {
        // attend is the whole segment
    }
}
