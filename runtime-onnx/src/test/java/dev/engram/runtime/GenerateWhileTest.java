package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GenerateWhileTest {
    @Test
    void returningFalseEndsGenerationAfterThatTokenWhichIsFed() {
        try (Engine e = new EngineLoader().systemOverrides(false).load(EngineTest.TINY)) {
            int[] prompt = {1, 2, 3};
            int[] all = e.generate(e.newSequence(), prompt, GenerationParams.greedy(6), null);
            List<Integer> seen = new ArrayList<>();
            ModelSequence seq = e.newSequence();
            int[] two = e.generateWhile(seq, prompt, GenerationParams.greedy(6), t -> {
                seen.add(t);
                return seen.size() < 2;
            });
            assertArrayEquals(java.util.Arrays.copyOf(all, 2), two, "the same first tokens, then stop");
            assertEquals(List.of(two[0], two[1]), seen);
            assertEquals(prompt.length + 2, seq.position(), "the last emitted token was fed too");
        }
    }
}
