package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The Java twin of tools/engram_model/duplication.py must lay sequences out exactly as the models were trained. */
class DuplicationTaskTest {
    /**
     * cli/src/test/resources/duplication-golden.json: written by duplication.golden_cases() (Python, emulating the
     * JDK's SplittableRandom), checked there by tools/tests/test_duplication.py; here against the JDK and
     * DuplicationTask.
     */
    @Test
    void theJavaAndPythonGeneratorsGiveTheSameSequencesForTheSameSeed() throws IOException {
        JsonNode cases = new ObjectMapper().readTree(Path.of("src", "test", "resources", "duplication-golden.json").toFile());
        assertEquals(6, cases.size());
        for (JsonNode c : cases) {
            int length = c.get("length").asInt();
            int[] want = new int[length];
            for (int i = 0; i < length; i++) {
                want[i] = c.get("ids").get(i).asInt();
            }
            assertArrayEquals(want, DuplicationTask.sample(new SplittableRandom(c.get("seed").asLong()), length),
                    "seed " + c.get("seed") + " length " + length);
        }
    }

    @Test
    void sequencesAreZeroWZeroW() {
        int[] ids = DuplicationTask.sample(new SplittableRandom(5), 1024);
        assertEquals(0, ids[0]);
        assertEquals(0, ids[512]);
        for (int i = 1; i < 512; i++) {
            assertEquals(ids[i], ids[i + 512], "position " + i);
            assertEquals(true, ids[i] >= 1 && ids[i] <= 127, "symbol " + ids[i]);
        }
        assertEquals(511, DuplicationTask.scored(1024));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DuplicationTask.sample(new SplittableRandom(0), 7));
        assertEquals("length 7: must be even and at least 4 (0 w 0 w with |w| >= 1)", e.getMessage());
    }

    @Test
    void correctCountsTheSecondWOnly() {
        int[] ids = {0, 5, 6, 7, 0, 5, 6, 7};
        float[][] logits = new float[8][DuplicationTask.VOCAB];
        // positions 4, 5, 6 predict tokens 5, 6, 7; the first half and the last position are not scored
        logits[4][5] = 1;
        logits[5][6] = 1;
        logits[6][9] = 1; // wrong
        logits[0][5] = 1;
        logits[7][3] = 1;
        assertEquals(2, DuplicationTask.correct(logits, ids));
        logits[6][7] = 2;
        assertEquals(3, DuplicationTask.correct(logits, ids));
        assertEquals(3, DuplicationTask.scored(8));
    }
}
