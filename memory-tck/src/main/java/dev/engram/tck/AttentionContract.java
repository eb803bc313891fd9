package dev.engram.tck;

import dev.engram.conformance.SeededData;
import dev.engram.api.Attention;
import dev.engram.api.Segment;
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
        Attention attended = fresh();
        Attention appended = fresh();
        run(attended, in, 0, at);
        run(appended, in, 0, at);
        long start = startOf(in, at);
        SeededData.Inputs segment = in.get(at);
        attended.attend(new Segment(start, segment.q(), segment.k(), segment.v(), segment.h()));
        appended.append(new Segment(start, segment.q(), segment.k(), segment.v(), segment.h()));
        org.junit.jupiter.api.Assertions.assertArrayEquals(attended.snapshot().toBytes(), appended.snapshot().toBytes(),
                "the saved state after append");
        assertBitEqual(run(attended, in, at + 1, in.size()), run(appended, in, at + 1, in.size()),
                "the steps after append");
    }

    @Override
    final void complete(Attention attention, long start, SeededData.Inputs in) {
        // attend is the whole segment
    }
}
