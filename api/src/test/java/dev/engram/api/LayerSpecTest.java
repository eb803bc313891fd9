package dev.engram.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class LayerSpecTest {
    @Test
    void queryHeadsMapToKvHeadsGroupedNotTiled() {
        LayerSpec spec = new LayerSpec(8, 2, 4, 4, 16);
        assertEquals(4, spec.groupSize());
        assertEquals(0, spec.kvHeadOf(3), "heads 0..3 share kv head 0");
        assertEquals(1, spec.kvHeadOf(4), "heads 4..7 share kv head 1 (tiling would give 0)");
    }

    @Test
    void errorsNameTheFieldAndTheValidRange() {
        assertEquals("heads: is 0; valid: >= 1",
                assertThrows(InvalidInputException.class, () -> new LayerSpec(0, 1, 4, 4, 4)).getMessage());
        assertEquals("kvHeads: is 3; valid: a divisor of heads (8)",
                assertThrows(InvalidInputException.class, () -> new LayerSpec(8, 3, 4, 4, 4)).getMessage());
        assertEquals("modelDim: is -2; valid: >= 1",
                assertThrows(InvalidInputException.class, () -> new LayerSpec(8, 4, 4, 4, -2)).getMessage());
    }
}
