package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The top alternatives reported with logprobs: the k most likely, most likely first, ties by lower id. */
class ScoredTopTest {

    @Test
    void handWorkedTiesPutTheLowerIdFirst() {
        float[] logits = {1f, 3f, 2f, 3f, 0f, 2f};
        // by logit: 3 (ids 1, 3), then 2 (ids 2, 5), then 1 (id 0), then 0 (id 4)
        assertArrayEquals(new int[] {1, 3, 2, 5}, Generation.Scored.of(logits, 0, 4).topIds());
        assertArrayEquals(new int[] {1}, Generation.Scored.of(logits, 0, 1).topIds());
        assertArrayEquals(new int[] {1, 3, 2, 5, 0, 4}, Generation.Scored.of(logits, 0, 20).topIds());
        assertEquals(0, Generation.Scored.of(logits, 0, 0).topIds().length);
    }

    @Test
    void equalsAFullSortOnRandomLogitsWithManyTies() {
        Random random = new Random(7);
        for (int trial = 0; trial < 200; trial++) {
            int vocab = 1 + random.nextInt(300);
            float[] logits = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                logits[i] = random.nextInt(12) - 6; // few distinct values: ties everywhere
            }
            int k = random.nextInt(21);
            int[] expected = IntStream.range(0, vocab).boxed()
                    .sorted(Comparator.<Integer>comparingDouble(i -> -logits[i]).thenComparingInt(i -> i))
                    .limit(k).mapToInt(Integer::intValue).toArray();
            Generation.Scored scored = Generation.Scored.of(logits, 0, k);
            assertArrayEquals(expected, scored.topIds(), "vocab " + vocab + ", k " + k);
            double logZ = dev.engram.runtime.LogProbs.logNormalizer(logits);
            for (int r = 0; r < expected.length; r++) {
                assertEquals(logits[expected[r]] - logZ, scored.topLogprobs()[r], 0.0);
            }
        }
    }
}
