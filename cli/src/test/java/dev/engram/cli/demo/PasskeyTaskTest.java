package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The Java twin of tools/engram_model/passkey.py must lay sequences out exactly as the models were trained. */
class PasskeyTaskTest {
    @Test
    void layoutMatchesTheTrainingFormat() {
        PasskeyTask.Sample s = PasskeyTask.sample(new SplittableRandom(3), 64, 5, 0.5);
        int[] p = s.prompt();
        assertEquals(64 - 5, p.length, "the prompt stops before the answer digits");
        assertEquals(PasskeyTask.BOS, p[0]);
        assertEquals(PasskeyTask.ASK, p[p.length - 1]);
        int room = 64 - 1 - 7 - 6;
        int key = 1 + (int) Math.round(0.5 * room);
        assertEquals(PasskeyTask.KEY, p[key]);
        assertArrayEquals(s.passkey(), Arrays.copyOfRange(p, key + 1, key + 6));
        assertEquals(PasskeyTask.DOT, p[key + 6]);
        for (int i = 1; i < p.length - 1; i++) {
            if (i < key || i > key + 6) {
                assertEquals(true, p[i] >= 14 && p[i] <= 31, "filler at " + i + " is " + p[i]);
            }
        }
    }

    @Test
    void fillerRunsOnAcrossThePasskeyBlockLikeThePythonGenerator() {
        PasskeyTask.Sample s = PasskeyTask.sample(new SplittableRandom(9), 80, 5, 0.3);
        int[] p = s.prompt();
        int keyAt = 0;
        while (p[keyAt] != PasskeyTask.KEY) {
            keyAt++;
        }
        // Filler before and after the block is one contiguous stretch of the repeating filler text.
        int[] stream = new int[p.length - 2 - 7];
        int t = 0;
        for (int i = 1; i < p.length - 1; i++) {
            if (i < keyAt || i > keyAt + 6) {
                stream[t++] = p[i];
            }
        }
        int start = -1;
        for (int offset = 0; offset < PasskeyTask.FILLER.length && start < 0; offset++) {
            boolean ok = true;
            for (int i = 0; i < stream.length && ok; i++) {
                ok = stream[i] == PasskeyTask.FILLER[(offset + i) % PasskeyTask.FILLER.length];
            }
            start = ok ? offset : -1;
        }
        assertEquals(true, start >= 0, "filler is the repeating text from one offset: " + Arrays.toString(stream));
    }

    /** cli/src/test/resources/passkey-golden.json: written by passkey.golden_cases() (Python, emulating the JDK's
     * SplittableRandom), checked there by tools/tests/test_passkey.py; here against the JDK and PasskeyTask. */
    @Test
    void theJavaAndPythonGeneratorsGiveTheSameSequencesForTheSameSeed() throws IOException {
        JsonNode cases = new ObjectMapper().readTree(Path.of("src", "test", "resources", "passkey-golden.json").toFile());
        assertEquals(8, cases.size());
        for (JsonNode c : cases) {
            int length = c.get("length").asInt();
            int digits = c.get("digits").asInt();
            PasskeyTask.Sample s = PasskeyTask.sample(new SplittableRandom(c.get("seed").asLong()), length, digits,
                    c.get("depth").asDouble());
            int[] ids = new int[length];
            JsonNode expected = c.get("ids");
            for (int i = 0; i < length; i++) {
                ids[i] = expected.get(i).asInt();
            }
            String what = "seed " + c.get("seed") + " length " + length + " depth " + c.get("depth");
            assertArrayEquals(Arrays.copyOf(ids, length - digits), s.prompt(), what + ": prompt");
            assertArrayEquals(Arrays.copyOfRange(ids, length - digits, length), s.passkey(), what + ": passkey");
            assertEquals(PasskeyTask.KEY, s.prompt()[c.get("keyPosition").asInt()], what);
        }
    }

    @Test
    void sampleAtPutsTheBlockAfterThatManyFillerTokens() {
        int room = PasskeyTask.room(512, 5);
        assertEquals(512 - 1 - 7 - 6, room);
        int[] p = PasskeyTask.sampleAt(new SplittableRandom(4), 512, 5, room).prompt();
        assertEquals(PasskeyTask.KEY, p[1 + room]);
        assertEquals(PasskeyTask.DOT, p[p.length - 2], "depth 1: the block ends right before the question");
        assertEquals(PasskeyTask.ASK, p[p.length - 1]);
        assertArrayEquals(p, PasskeyTask.sample(new SplittableRandom(4), 512, 5, 1.0).prompt());
        assertThrows(IllegalArgumentException.class, () -> PasskeyTask.sampleAt(new SplittableRandom(1), 512, 5, room + 1));
        assertThrows(IllegalArgumentException.class, () -> PasskeyTask.sample(new SplittableRandom(1), 512, 5, 1.5));
    }

    @Test
    void tooShortAContextIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> PasskeyTask.sample(new SplittableRandom(1), 12, 5, 0));
    }
}
