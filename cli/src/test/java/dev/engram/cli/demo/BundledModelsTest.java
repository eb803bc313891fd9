package dev.engram.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 29's regression test: every bundled passkey model repeats a passkey said in the question's own segment,
 * one sentence before the question. Ten prompts per model, the block at positions spread over the last segment
 * (directly before the question among them), at 512 and 2K tokens; at least 9 of 10 must be answered exactly.
 * The models before issue 29 failed it: infini 1 of 10, continuous 1, window 0, lsh-knn 8.
 */
class BundledModelsTest {
    static final Path MODELS = Path.of("..", "models");
    static final int SEGMENT = 32;
    static final int DIGITS = 5;
    static final int REQUIRED = 9;
    /**
     * Bundled models that still miss the target (models/README.md says by how much), with the hits they scored
     * here when they were listed (2026-12-04). lsh-knn (stage 8) and infini (stage 9) left the list when retrained
     * with passkeys in the question's segment, continuous (1 of 10 when listed) with its stages 4-5 (2026-12-05).
     */
    static final Map<String, Integer> KNOWN_SHORT = Map.of();

    static Stream<Path> bundledModels() throws IOException {
        try (Stream<Path> s = Files.list(MODELS)) {
            List<Path> packages = new ArrayList<>();
            for (Path p : s.filter(p -> Files.exists(p.resolve("engram.json"))).sorted().toList()) {
                if (Experiment.taskOf(p).equals("passkey")) { // the sorting and duplication models have their own tests
                    packages.add(p);
                }
            }
            assertEquals(4, packages.size(), "the four bundled passkey models in " + MODELS.toAbsolutePath() + ": " + packages);
            return packages.stream();
        }
    }

    /** Positions (filler tokens before the block) that put the whole block in the question's segment. */
    static List<Integer> lastSegmentPositions(int length) {
        int room = PasskeyTask.room(length, DIGITS);
        int question = length - DIGITS - 1; // index of <what-is-the-passkey>
        int segmentStart = question / SEGMENT * SEGMENT;
        List<Integer> positions = new ArrayList<>();
        for (int position = segmentStart - 1; position <= room; position++) { // <passkey-is> at 1 + position
            positions.add(position);
        }
        return positions;
    }

    @ParameterizedTest
    @MethodSource("bundledModels")
    void aPasskeyInTheQuestionsSegmentIsRepeated(Path model) throws IOException {
        int hits = 0;
        List<String> misses = new ArrayList<>();
        try (Engine engine = new EngineLoader().systemOverrides(false).load(model)) {
            for (int trial = 0; trial < 10; trial++) {
                int length = trial % 2 == 0 ? 512 : 2048;
                List<Integer> positions = lastSegmentPositions(length);
                // trial 0 and 1: directly before the question; the rest spread over the segment
                int position = trial < 2 ? positions.get(positions.size() - 1) : positions.get((trial * 7) % positions.size());
                PasskeyTask.Sample sample = PasskeyTask.sampleAt(new SplittableRandom(2900 + trial), length, DIGITS, position);
                int[] answer = engine.generate(engine.newSequence(), sample.prompt(), GenerationParams.greedy(DIGITS), id -> { });
                if (Arrays.equals(answer, sample.passkey())) {
                    hits++;
                } else {
                    misses.add("length " + length + " block at " + (1 + position) + ": " + Arrays.toString(sample.passkey())
                            + " answered " + Arrays.toString(answer));
                }
            }
        }
        String name = model.getFileName().toString();
        String what = name + ": " + hits + " of 10 passkeys in the question's segment repeated; " + misses;
        Integer floor = KNOWN_SHORT.get(name);
        if (floor == null) {
            assertTrue(hits >= REQUIRED, what);
        } else {
            // A model that still misses the target is held to what it scored when listed, and the list is kept honest:
            // once it passes, it must leave KNOWN_SHORT (and so be held to the target from then on).
            assertTrue(hits >= floor, what + " (listed in KNOWN_SHORT with " + floor + ")");
            assertTrue(hits < REQUIRED, what + ": it now meets the target; remove it from KNOWN_SHORT");
        }
    }

    @Test
    void thePositionsLieInTheQuestionsSegment() {
        for (int length : new int[] {512, 2048}) {
            for (int position : lastSegmentPositions(length)) {
                int key = 1 + position;
                assertEquals((length - DIGITS - 1) / SEGMENT, key / SEGMENT, "block start in the question's segment");
                assertTrue(key + DIGITS + 1 < length - DIGITS - 1, "block ends before the question");
            }
        }
    }
}
