package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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

    @Test
    void tooShortAContextIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> PasskeyTask.sample(new SplittableRandom(1), 12, 5, 0));
    }
}
