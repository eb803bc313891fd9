package dev.engram.cli.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * {@link Engine#forwardBatch} on every bundled package (models/: window, infini, continuous, lsh-knn with RoPE;
 * full and lsh with learned positions, lsh evaluating a segment in progress on forks): five sequences at different
 * positions, mixing one-token decodes, a token that completes a segment and chunks crossing boundaries, equal bit
 * for bit to each sequence fed alone (a twin forked before, fed by {@code ingest}), logits per step and saved states
 * at the end. Segments of 16 so that the chunks cross boundaries with few tokens.
 */
class BatchedPackagesTest {
    static final Path MODELS = Path.of("..", "models");
    static final int S = 16;

    @Test
    void mixedBatchesEqualEachSequenceAloneOnEveryBundledPackage() throws IOException {
        List<Path> packages;
        try (Stream<Path> dirs = Files.list(MODELS)) {
            packages = dirs.filter(p -> Files.isRegularFile(p.resolve("engram.json"))).sorted().toList();
        }
        assertTrue(packages.size() >= 7, "bundled packages: " + packages);
        boolean forks = false;
        for (Path pkg : packages) {
            try (Engine engine = new EngineLoader().systemOverrides(false).segmentLength(S).load(pkg)) {
                forks |= !engine.decodesRowByRow();
                check(engine, pkg.getFileName().toString());
            }
        }
        assertTrue(forks, "a package whose segment in progress runs on forks (lsh) is among them");
    }

    private static void check(Engine engine, String name) {
        SplittableRandom random = new SplittableRandom(name.hashCode());
        int[] history = {0, 1, S - 1, S + 2, 2 * S - 3};
        int[][] rounds = {{S + 5, 1, 1, 3, 2 * S}, {1, 1, 1, 1, 1}, {1, S, 2, 1, S - 1}, {2, 1, S + 1, 1, 1}};
        List<ModelSequence> batched = new ArrayList<>();
        List<ModelSequence> alone = new ArrayList<>();
        for (int h : history) {
            ModelSequence seq = engine.newSequence();
            if (h > 0) {
                engine.ingest(seq, random.ints(h, 0, engine.vocabSize()).toArray());
            }
            batched.add(seq);
            alone.add(seq.fork());
        }
        for (int[] round : rounds) {
            List<Engine.Step> steps = new ArrayList<>();
            for (int b = 0; b < round.length; b++) {
                steps.add(new Engine.Step(batched.get(b), random.ints(round[b], 0, engine.vocabSize()).toArray()));
            }
            List<float[]> got = engine.forwardBatch(steps);
            for (int b = 0; b < round.length; b++) {
                assertArrayEquals(engine.ingest(alone.get(b), steps.get(b).tokens()), got.get(b),
                        name + ": sequence " + b + " (after " + history[b] + " tokens), " + round[b] + " tokens");
            }
        }
        for (int b = 0; b < batched.size(); b++) {
            assertEquals(alone.get(b).position(), batched.get(b).position());
            assertArrayEquals(alone.get(b).snapshot(), batched.get(b).snapshot(), name + ": saved state of sequence " + b);
        }
    }
}
