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

    @Override
    final void complete(Attention attention, long start, SeededData.Inputs in) {
        // attend is the whole segment
    }
}
