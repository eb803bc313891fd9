package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@link Engine#step}: generations of different prompts, parameters and stopping rules stepped together with a small
 * prompt budget, each against {@link Engine#generateScored} alone on a sequence with the same history: the same
 * tokens, the same logits per token and per prompt row, bit for bit, and the same saved state at the end. A callback
 * that throws ends only its own generator. ({@code generateScored} is a generator stepped alone; what it does
 * token by token is held to the plain reference and to its contract by EngineTest, GenerateWhileTest and the server's
 * tests.)
 */
class GeneratorTest {
    @org.junit.jupiter.api.io.TempDir
    static java.nio.file.Path dir;
    /** What one generation emitted: the tokens with their logits, and the prompt rows handed over. */
    static final class Record {
        final List<Integer> tokens = new ArrayList<>();
        final List<float[]> logits = new ArrayList<>();
        final List<float[]> promptRows = new ArrayList<>();
        int stopAfter = Integer.MAX_VALUE;
        int throwAt = Integer.MAX_VALUE;

        Engine.ScoredToken onToken() {
            return (token, l) -> {
                if (tokens.size() == throwAt) {
                    throw new IllegalStateException("client went away");
                }
                tokens.add(token);
                logits.add(l.clone());
                return tokens.size() < stopAfter;
            };
        }

        Engine.PromptRows rows() {
            return (from, rows) -> {
                assertEquals(promptRows.size(), from, "prompt rows come in order");
                for (float[] r : rows) {
                    promptRows.add(r.clone());
                }
            };
        }
    }

    record Case(int history, int prompt, GenerationParams params, boolean echo, int stopAfter, int throwAt) {
    }

    @Test
    void generationsSteppedTogetherEqualEachAlone() throws IOException {
        java.nio.file.Path config = java.nio.file.Files.writeString(dir.resolve("mixed.yaml"), EngineTest.MIXED);
        try (Engine engine = new EngineLoader().config(config).systemOverrides(false).load(EngineTest.TINY)) {
            int s = engine.segmentLength();
            List<Case> cases = List.of(
                    new Case(0, 1, GenerationParams.greedy(9), false, Integer.MAX_VALUE, Integer.MAX_VALUE),
                    new Case(s - 1, 3 * s + 1, GenerationParams.sampled(7, 0.9, 0.95, 42), true, Integer.MAX_VALUE, Integer.MAX_VALUE),
                    new Case(2, 5, new GenerationParams(12, 1.0, 0, 1.0, 7, Set.of(3, 5)), false, Integer.MAX_VALUE, Integer.MAX_VALUE),
                    new Case(s + 1, 2, GenerationParams.sampled(10, 1.3, 1.0, 9), false, 4, Integer.MAX_VALUE),
                    new Case(1, 6, GenerationParams.greedy(0), true, Integer.MAX_VALUE, Integer.MAX_VALUE),
                    new Case(3, 4, GenerationParams.greedy(8), false, Integer.MAX_VALUE, 2));
            List<ModelSequence> together = new ArrayList<>();
            List<ModelSequence> alone = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < cases.size(); i++) {
                ModelSequence seq = engine.newSequence();
                if (cases.get(i).history() > 0) {
                    engine.ingest(seq, EngineTest.tokens(cases.get(i).history(), 100 + i));
                }
                together.add(seq);
                alone.add(seq.fork());
                prompts.add(EngineTest.tokens(cases.get(i).prompt(), 200 + i));
            }
            List<Record> got = new ArrayList<>();
            List<Generator> generators = new ArrayList<>();
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                Record r = new Record();
                r.stopAfter = c.stopAfter();
                r.throwAt = c.throwAt();
                got.add(r);
                generators.add(engine.generator(together.get(i), prompts.get(i), c.params(), c.echo() ? r.rows() : null,
                        r.onToken()));
            }
            int steps = 0;
            while (generators.stream().anyMatch(g -> !g.done())) {
                assertTrue(engine.step(generators, 3) > 0, "every step feeds something");
                assertTrue(++steps < 1000);
            }
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                Record want = new Record();
                want.stopAfter = c.stopAfter();
                want.throwAt = c.throwAt();
                Generator g = generators.get(i);
                String what = "generation " + i + " " + c;
                if (c.throwAt() != Integer.MAX_VALUE) {
                    ModelSequence a = alone.get(i);
                    int[] p = prompts.get(i);
                    RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                            () -> engine.generateScored(a, p, c.params(), null, want.onToken()));
                    assertEquals(e.getMessage(), g.failure().getMessage(), what);
                } else {
                    int[] tokens = engine.generateScored(alone.get(i), prompts.get(i), c.params(),
                            c.echo() ? want.rows() : null, want.onToken());
                    assertNull(g.failure(), what);
                    assertArrayEquals(tokens, g.tokens(), what);
                }
                assertEquals(want.tokens, got.get(i).tokens, what);
                for (int t = 0; t < want.logits.size(); t++) {
                    assertArrayEquals(want.logits.get(t), got.get(i).logits.get(t), what + " token " + t);
                }
                assertEquals(want.promptRows.size(), got.get(i).promptRows.size(), what);
                for (int t = 0; t < want.promptRows.size(); t++) {
                    assertArrayEquals(want.promptRows.get(t), got.get(i).promptRows.get(t), what + " prompt row " + t);
                }
                assertArrayEquals(alone.get(i).snapshot(), together.get(i).snapshot(), what + ": saved state");
            }
            assertEquals(4, got.get(3).tokens.size(), "the callback's false ends generation after that token");
            assertEquals(0, got.get(4).tokens.size(), "max tokens 0: the prompt only");
            assertEquals(cases.get(1).prompt(), got.get(1).promptRows.size(), "every prompt row handed over");
            assertSame(IllegalStateException.class, generators.get(5).failure().getClass());
            assertEquals(2, got.get(5).tokens.size(), "the throwing callback ended only its own generation");
        }
    }

    /** Two generators on one sequence (or a null one) are refused naming the entry, before any of the step runs. */
    @Test
    void aStepWithASequenceTwiceIsRefusedBeforeAnythingRuns() throws IOException {
        try (Engine engine = new EngineLoader().systemOverrides(false).load(EngineTest.TINY)) {
            ModelSequence shared = engine.newSequence();
            ModelSequence other = engine.newSequence();
            Generator a = engine.generator(other, new int[] {1, 2}, GenerationParams.greedy(3), null, (t, l) -> true);
            Generator b = engine.generator(shared, new int[] {3}, GenerationParams.greedy(3), null, (t, l) -> true);
            Generator c = engine.generator(shared, new int[] {4}, GenerationParams.greedy(3), null, (t, l) -> true);
            dev.engram.api.InvalidInputException e = assertThrows(dev.engram.api.InvalidInputException.class,
                    () -> engine.step(List.of(a, b, c), 64));
            assertEquals("generators[2]", e.field(), e.getMessage());
            assertTrue(e.getMessage().contains("generators[1]"), e.getMessage());
            assertEquals(0, other.position(), "nothing ran");
            assertEquals(0, shared.position(), "nothing ran");
            java.util.ArrayList<Generator> withNull = new java.util.ArrayList<>(java.util.Arrays.asList(a, null));
            assertEquals("generators[1]", assertThrows(dev.engram.api.InvalidInputException.class,
                    () -> engine.step(withNull, 64)).field());
            assertTrue(engine.step(List.of(a, b), 64) > 0, "the generators are still good");
        }
    }

    /**
     * A prompt chunk that reaches past a segment boundary stops on it while more of the prompt follows (without
     * EXACT_ROWS a segment begun in one step and finished in the next would run its first rows twice); one that stays
     * inside its segment, or ends the prompt, takes the whole budget.
     */
    @Test
    void aPromptChunkThatCrossesASegmentBoundaryEndsOnIt() throws IOException {
        try (Engine engine = new EngineLoader().systemOverrides(false).load(EngineTest.TINY)) {
            int s = engine.segmentLength();
            assertTrue(s >= 3, "segment " + s);
            ModelSequence seq = engine.newSequence();
            engine.ingest(seq, EngineTest.tokens(1, 1));
            Generator g = engine.generator(seq, EngineTest.tokens(5 * s, 2), GenerationParams.greedy(1), null, null);
            engine.step(List.of(g), s - 2); // inside the first segment: all of the budget
            assertEquals(s - 1, seq.position());
            engine.step(List.of(g), 2 * s); // past two boundaries: up to the last one reached
            assertEquals(2 * s, seq.position());
            engine.step(List.of(g), s + 1); // one token past the next boundary: stops on it
            assertEquals(3 * s, seq.position());
            engine.step(List.of(g), 2 * s - 1); // past one boundary, short of the next: on the one passed
            assertEquals(4 * s, seq.position());
            assertTrue(g.feedingPrompt());
            ModelSequence other = engine.newSequence();
            engine.ingest(other, EngineTest.tokens(1, 1));
            Generator whole = engine.generator(other, EngineTest.tokens(2 * s + 1, 2), GenerationParams.greedy(1), null, null);
            engine.step(List.of(whole), 10 * s); // a chunk that ends the prompt is not cut, boundary or not
            assertEquals(2 + 2 * s, other.position());
            assertTrue(!whole.feedingPrompt());
        }
    }
}
