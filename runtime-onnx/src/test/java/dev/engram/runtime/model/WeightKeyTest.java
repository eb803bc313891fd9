package dev.engram.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class WeightKeyTest {
    @Test
    void spellsAndReadsTheSameKey() {
        assertEquals("layers.3.lsh-knn.gate", WeightKey.of(3, "lsh-knn", "gate"));
        assertEquals(Optional.of(new WeightKey(3, "lsh-knn", "gate")), WeightKey.parse("layers.3.lsh-knn.gate"));
        // the weight's own name may hold dots; the provider may not
        assertEquals(Optional.of(new WeightKey(0, "continuous", "proj.key")), WeightKey.parse("layers.0.continuous.proj.key"));
        assertEquals("layers.0.continuous.proj.key", new WeightKey(0, "continuous", "proj.key").toString());
    }

    @Test
    void refusesOtherNames() {
        assertTrue(WeightKey.parse("layer.3.infini.beta").isEmpty());
        assertTrue(WeightKey.parse("layers.x.infini.beta").isEmpty());
        assertTrue(WeightKey.parse("layers.3.Infini.beta").isEmpty());
        assertTrue(WeightKey.parse("layers.3.infini").isEmpty());
        assertTrue(WeightKey.parse("layers.99999999999.infini.beta").isEmpty());
    }
}
