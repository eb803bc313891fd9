package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The demo's trials draw prompt lengths that put the question at every offset of its 32-token segment. */
class PasskeyDemoLengthTest {

    @Test
    void trialsSpreadTheQuestionOverEveryOffsetOfItsSegment() {
        Set<Integer> lengths = new HashSet<>();
        for (int depth = 0; depth < PasskeyDemo.DEPTHS.length; depth++) {
            for (int trial = 0; trial < 20; trial++) {
                int length = PasskeyDemo.trialLength(42, 8192, depth, trial, 5);
                assertTrue(length > 8192 - 32 && length <= 8192, length + ": within the 32 tokens up to the named length");
                lengths.add(length);
            }
        }
        Set<Integer> offsets = new HashSet<>();
        lengths.forEach(n -> offsets.add((n - 6) % 32)); // the question's offset: 5 answer digits after it
        assertTrue(offsets.size() >= 30, offsets.size() + " of the 32 offsets in 120 trials"); // 32 (1 - (31/32)^120) = 31.4
        assertEquals(PasskeyDemo.trialLength(42, 8192, 3, 7, 5), PasskeyDemo.trialLength(42, 8192, 3, 7, 5), "reproducible");
    }

    @Test
    void aShortLengthIsNeverCutBelowWhatTheTaskNeeds() {
        for (int trial = 0; trial < 200; trial++) {
            int length = PasskeyDemo.trialLength(1, 16, 0, trial, 5);
            assertTrue(length >= 14 && length <= 16, length + ": bos, the block of 7 and the question of 6 need 14");
            PasskeyTask.room(length, 5); // throws if too short
        }
    }
}
