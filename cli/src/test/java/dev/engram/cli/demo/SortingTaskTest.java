package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The Java twin of tools/engram_model/sorting.py must draw the sequences the sorting models were trained on. */
class SortingTaskTest {
    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    /** sorting-golden.json: written by sorting.golden_cases() (Python, emulating the JDK's SplittableRandom),
     * checked there by tools/tests/test_sorting.py; here against the JDK and SortingTask. */
    @Test
    void theJavaAndPythonGeneratorsGiveTheSameSequencesForTheSameSeed() throws IOException {
        JsonNode cases = new ObjectMapper().readTree(Path.of("src", "test", "resources", "sorting-golden.json").toFile())
                .get("cases");
        assertEquals(6, cases.size());
        for (JsonNode c : cases) {
            int length = c.get("length").asInt();
            SortingTask.Sample s = SortingTask.sample(new SplittableRandom(c.get("seed").asLong()), length);
            String what = "seed " + c.get("seed") + " length " + length;
            assertArrayEquals(ints(c.get("weightsInitial")), s.weightsInitial(), what + ": p_initial weights");
            assertArrayEquals(ints(c.get("weightsFinal")), s.weightsFinal(), what + ": p_final weights");
            assertArrayEquals(ints(c.get("symbols")), s.symbols(), what + ": symbols");
            assertArrayEquals(ints(c.get("answer")), s.answer(), what + ": answer");
            assertEquals(length + 2, s.prompt().length);
            assertEquals(SortingTask.BOS, s.prompt()[0]);
            assertEquals(SortingTask.SEP, s.prompt()[length + 1]);
        }
    }

    @Test
    void answerSortsByDecreasingCountWithTheSmallerIdFirstOnTies() {
        // counts: 7 x3, 2 x2, 5 x2, 0 x1; every other symbol 0 times, in id order
        int[] answer = SortingTask.answer(new int[] {5, 7, 2, 7, 0, 5, 2, 7});
        assertArrayEquals(new int[] {7, 2, 5, 0, 1, 3, 4, 6, 8, 9}, java.util.Arrays.copyOf(answer, 10));
        assertEquals(19, answer[19]);
        assertThrows(IllegalArgumentException.class, () -> SortingTask.answer(new int[] {20}));
        assertThrows(IllegalArgumentException.class, () -> SortingTask.sample(new SplittableRandom(1), 0));
    }

    @Test
    void laterSymbolsFollowTheFinalDistribution() {
        // p_final's heaviest symbol must be over-represented in the last tenth against the first tenth
        int above = 0;
        for (int seed = 0; seed < 200; seed++) {
            SortingTask.Sample s = SortingTask.sample(new SplittableRandom(seed), 400);
            int[] w = s.weightsFinal();
            int top = 0;
            for (int i = 1; i < w.length; i++) {
                top = w[i] - s.weightsInitial()[i] > w[top] - s.weightsInitial()[top] ? i : top;
            }
            int early = 0;
            int late = 0;
            int[] x = s.symbols();
            for (int j = 0; j < 40; j++) {
                early += x[j] == top ? 1 : 0;
                late += x[x.length - 1 - j] == top ? 1 : 0;
            }
            above += late > early ? 1 : 0;
        }
        assertTrue(above > 120, "the symbol that gains most weight is more frequent at the end in " + above + " of 200");
    }
}
