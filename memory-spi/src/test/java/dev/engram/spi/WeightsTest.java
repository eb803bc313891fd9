package dev.engram.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.engram.api.ConfigException;
import dev.engram.api.Tensor;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WeightsTest {
    private static final List<WeightSpec> SPECS = List.of(WeightSpec.required("beta", 2), WeightSpec.optional("rotations", 2, 3));

    @Test
    void aNonFiniteWeightIsNamedWithTheElementAndTheValue() {
        Tensor rotations = Tensor.zeros(2, 3);
        rotations.set(Float.POSITIVE_INFINITY, 1, 2);
        ConfigException e = assertThrows(ConfigException.class, () -> Weights.validate("layer 4 provider 'x'", SPECS,
                Map.of("beta", Tensor.of(new float[] {0.5f, Float.NaN}, 2), "rotations", rotations)));
        assertEquals(List.of("weight 'beta': element [1] is NaN; valid: finite values",
                "weight 'rotations': element [1, 2] is Infinity; valid: finite values"), e.problems());
        assertEquals("layer 4 provider 'x': 2 problems\n  - weight 'beta': element [1] is NaN; valid: finite values\n"
                + "  - weight 'rotations': element [1, 2] is Infinity; valid: finite values", e.getMessage());
    }

    @Test
    void finiteWeightsOfTheRightShapeAreAccepted() {
        Weights w = Weights.validate("ctx", SPECS, Map.of("beta", Tensor.zeros(2)));
        assertEquals(2, w.get("beta").size());
        assertEquals(true, w.find("rotations").isEmpty());
    }
}
