package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.baselines.position.PositionalEncoding;
import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.SeededData;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The float32 fast path against the double-precision {@link ReferenceAttention}, many segments. */
class FastPathVersusReferenceTest {
    /** |fast - reference| <= ABS + REL * |reference| for every output value. */
    private static final double ABS = 2e-6;
    private static final double REL = 2e-5;

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (PositionalEncoding p : PositionalEncoding.values()) {
            list.add(Arguments.of("full", p, -1, new LayerSpec(4, 2, 8, 6, 8)));
            list.add(Arguments.of("full", p, -1, new LayerSpec(3, 1, 6, 5, 8)));
            list.add(Arguments.of("window", p, 0, new LayerSpec(4, 2, 8, 6, 8)));
            list.add(Arguments.of("window", p, 5, new LayerSpec(4, 4, 4, 3, 8)));
            list.add(Arguments.of("window", p, 13, new LayerSpec(2, 1, 10, 4, 8)));
        }
        return list.stream();
    }

    @ParameterizedTest(name = "{0} {1} window={2} {3}")
    @MethodSource("cases")
    void fastPathMatchesReference(String provider, PositionalEncoding positional, int window, LayerSpec spec) {
        double theta = positional == PositionalEncoding.ROPE ? 500.0 : 10000.0;
        Map<String, Object> config = new HashMap<>();
        config.put("positional", positional.name().toLowerCase());
        config.put("ropeTheta", theta);
        if (window >= 0) {
            config.put("window", window);
        }
        Attention attention = ProviderRegistry.load().newAttention(provider, 0, spec, config, Map.of());
        // 150 tokens: more than the 64 preallocated, so the full cache grows at least once.
        int[] lengths = {1, 7, 3, 12, 2, 9, 30, 5, 16, 1, 40, 24};
        List<ReferenceAttention.Inputs> inputs = new ArrayList<>();
        for (int s = 0; s < lengths.length; s++) {
            SeededData.Inputs in = SeededData.inputs(spec, lengths[s], 31 * s + window + 7);
            inputs.add(new ReferenceAttention.Inputs(in.q(), in.k(), in.v()));
        }
        List<double[]> expected = ReferenceAttention.run(spec, positional, theta, window, inputs);
        long position = 0;
        for (int s = 0; s < inputs.size(); s++) {
            ReferenceAttention.Inputs in = inputs.get(s);
            Tensor out = attention.attend(Segment.of(position, in.q(), in.k(), in.v()));
            float[] got = out.toArray();
            double[] want = expected.get(s);
            for (int i = 0; i < want.length; i++) {
                double err = Math.abs(got[i] - want[i]);
                assertTrue(err <= ABS + REL * Math.abs(want[i]),
                        "segment " + s + " value " + i + ": fast " + got[i] + ", reference " + want[i]);
            }
            position += in.length();
        }
    }
}
