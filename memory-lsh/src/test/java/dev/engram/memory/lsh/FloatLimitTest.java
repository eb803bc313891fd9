package dev.engram.memory.lsh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.NonFiniteStateException;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Inputs near the float32 limit (3e38): what each provider does with them. */
class FloatLimitTest {
    private static final int LAYER = 3;

    /** A causal {@code lsh} attention with chunks of 8 and {@code rounds} hash rounds, on layer {@link #LAYER}. */
    private static Attention lsh(LayerSpec spec, int rounds) {
        LshAttentionProvider p = new LshAttentionProvider();
        return p.create(ProviderRegistry.context(p, LAYER, spec, Map.of("rounds", rounds, "chunk", 8, "causal", true), Map.of()));
    }

    /**
     * {@code lsh}'s logit is q_i . k_j with the raw query: for q of norm above 3.4e38 it overflows to
     * infinity, the softmax would be NaN, and the provider refuses with the layer, head and token instead.
     * Head 0 is ordinary; in head 1 every query is (3e38, 3e38, 3e38, 3e38), norm 6e38. Token 0 sees only
     * itself under the causal mask (its self logit is the constant -1e5), so token 1 is the first to fail.
     */
    @Test
    void anLshLogitThatOverflowsNamesTheLayerHeadAndToken() {
        LayerSpec spec = new LayerSpec(2, 2, 4, 2, 8);
        Attention a = lsh(spec, 2);
        float[] q = Fixtures.gaussian(1, 2, 3, 4).toArray();
        for (int i = 3 * 4; i < q.length; i++) {
            q[i] = 3e38f;
        }
        Tensor v = Fixtures.gaussian(2, 2, 3, 2);
        Segment huge = Segment.of(0, Tensor.of(q, 2, 3, 4), null, v);
        NonFiniteStateException e = assertThrows(NonFiniteStateException.class, () -> a.attend(huge));
        assertEquals("provider 'lsh' layer " + LAYER + " head 1 token 1: a logit overflowed float32 (query norm too large)",
                e.getMessage());

        // Stateless: the same instance still attends an ordinary segment, and gives what a fresh one gives.
        Segment ordinary = Segment.of(0, Fixtures.gaussian(3, 2, 3, 4), null, v);
        Tensor after = a.attend(ordinary).copy();
        assertTrue(after.bitEquals(lsh(spec, 2).attend(ordinary)));
    }

    /**
     * A query just under the limit is fine: q = (1.5e38, 0, 0, 0) against unit keys gives logits of at
     * most 1.5e38, which float32 holds; the output is a convex combination of the values.
     */
    @Test
    void anLshQueryJustUnderTheLimitStillAttends() {
        LayerSpec spec = new LayerSpec(1, 1, 4, 1, 8);
        Attention a = lsh(spec, 1);
        Tensor q = Tensor.of(new float[] {1.5e38f, 0, 0, 0, 1.5e38f, 0, 0, 0}, 1, 2, 4);
        Tensor v = Tensor.of(new float[] {2, 5}, 1, 2, 1);
        Tensor out = a.attend(Segment.of(0, q, null, v));
        assertEquals(2f, out.get(0, 0, 0), "token 0 sees only itself");
        assertEquals(2f, out.get(0, 1, 0), "token 1: logit 1.5e38 for token 0 beats its own -1e5");
    }

    /**
     * {@code lsh-knn} has no overflow to report: its readout is a softmax-weighted mean of stored values,
     * every one finite (the segment and snapshot checks refuse others), accumulated in double, so it lies
     * within [min v, max v]. Stored values at +-Float.MAX_VALUE read back as exactly that, with no infinity
     * (a float accumulator would overflow here: 4 x 3.4e38).
     */
    @Test
    void anLshKnnReadoutOfValuesAtTheFloatLimitStaysFinite() {
        LayerSpec spec = new LayerSpec(2, 1, 2, 2, 8);
        LshKnnProvider p = new LshKnnProvider();
        LongTermMemory m = p.create(ProviderRegistry.context(p, LAYER, spec,
                Map.of("exact", true, "k", 4, "scale", 1e-9), Map.of("gate", Tensor.zeros(2))));
        float max = Float.MAX_VALUE;
        Tensor k = Tensor.of(new float[] {1, 0, 0, 1, 1, 1, -1, 0}, 1, 4, 2);
        Tensor v = Tensor.of(new float[] {max, -max, max, -max, max, -max, max, -max}, 1, 4, 2);
        m.write(Segment.of(0, null, k, v));
        Tensor q = Tensor.of(new float[] {1, 0, 0, 3e38f}, 2, 1, 2);
        Tensor r = ((Readout.PerHead) m.read(Segment.of(4, q, null, null))).values();
        for (int h = 0; h < 2; h++) {
            assertEquals(max, r.get(h, 0, 0), "head " + h);
            assertEquals(-max, r.get(h, 0, 1), "head " + h);
        }
    }
}
