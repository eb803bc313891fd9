package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.InvalidInputException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * {@link StepSharing}: generations run from several threads at once share steps (all four in one step when they
 * joined while the engine was busy) and each emits, bit for bit, what it emits alone on a twin sequence; a caller
 * whose own handler fails ends only its own generation; nothing steps while an {@link StepSharing#alone} body runs.
 */
class StepSharingTest {
    @org.junit.jupiter.api.io.TempDir
    static java.nio.file.Path dir;

    @Test
    void callersOnManyThreadsShareStepsAndEachGetsWhatItGetsAlone() throws Exception {
        java.nio.file.Path config = java.nio.file.Files.writeString(dir.resolve("mixed.yaml"), EngineTest.MIXED);
        try (Engine engine = new EngineLoader().config(config).systemOverrides(false).load(EngineTest.TINY);
             ExecutorService callers = Executors.newFixedThreadPool(4)) {
            int s = engine.segmentLength();
            List<GenerationParams> params = List.of(GenerationParams.greedy(9), GenerationParams.sampled(7, 0.9, 0.95, 42),
                    GenerationParams.greedy(12), GenerationParams.sampled(10, 1.3, 1.0, 9));
            int[] histories = {0, s - 1, 2, s + 1};
            int[] promptLengths = {1, 3 * s + 1, 5, 2};
            StepSharing sharing = new StepSharing(engine, 3);
            List<ModelSequence> alone = new ArrayList<>();
            List<Generator> generators = new ArrayList<>();
            List<List<Integer>> emitted = new ArrayList<>();
            List<List<Integer>> handedOut = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            AtomicBoolean aloneRunning = new AtomicBoolean();
            for (int i = 0; i < params.size(); i++) {
                ModelSequence seq = engine.newSequence();
                if (histories[i] > 0) {
                    engine.ingest(seq, EngineTest.tokens(histories[i], 100 + i));
                }
                alone.add(seq.fork());
                prompts.add(EngineTest.tokens(promptLengths[i], 200 + i));
                List<Integer> got = java.util.Collections.synchronizedList(new ArrayList<>());
                emitted.add(got);
                handedOut.add(new ArrayList<>());
                generators.add(engine.generator(seq, prompts.get(i), params.get(i), null, (token, logits) -> {
                    assertFalse(aloneRunning.get(), "no step while an alone body runs");
                    got.add(token);
                    return true;
                }));
            }
            // the engine busy (alone) until all four callers have joined: the next step feeds all of them
            List<CompletableFuture<int[]>> results = new ArrayList<>();
            sharing.alone(() -> {
                aloneRunning.set(true);
                for (int i = 0; i < generators.size(); i++) {
                    Generator g = generators.get(i);
                    List<Integer> mine = handedOut.get(i);
                    List<Integer> recorded = emitted.get(i);
                    results.add(CompletableFuture.supplyAsync(() -> sharing.run(g, () -> {
                        synchronized (recorded) { // on the caller's own thread: what the callback recorded so far
                            mine.clear();
                            mine.addAll(recorded);
                        }
                    }), callers));
                }
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (sharing.waiting() < generators.size()) {
                    assertTrue(System.nanoTime() < until, "the callers joined");
                    Thread.onSpinWait();
                }
                aloneRunning.set(false);
                return null;
            });
            CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
            for (int i = 0; i < generators.size(); i++) { // the engine is the test's again: nobody steps it now
                int[] tokens = results.get(i).join();
                int[] want = engine.generate(alone.get(i), prompts.get(i), params.get(i), null);
                assertArrayEquals(want, tokens, "generation " + i);
                assertEquals(emitted.get(i), handedOut.get(i), "generation " + i + ": its caller saw every token after the last step");
                assertArrayEquals(alone.get(i).snapshot(), generators.get(i).sequence().snapshot(), "generation " + i + ": state");
            }
            assertEquals(generators.size(), sharing.widestStep(), "the first step fed all four");
            assertTrue(sharing.sharedSteps() > 0);
        }
    }

    @Test
    void aCallerWhoseHandlerFailsEndsOnlyItsOwnGeneration() throws Exception {
        try (Engine engine = new EngineLoader().systemOverrides(false).load(EngineTest.TINY);
             ExecutorService callers = Executors.newFixedThreadPool(2)) {
            StepSharing sharing = new StepSharing(engine, StepSharing.DEFAULT_STEP_TOKENS);
            ModelSequence failing = engine.newSequence();
            ModelSequence going = engine.newSequence();
            ModelSequence twin = going.fork();
            int[] prompt = EngineTest.tokens(5, 7);
            // bad would run long: it ends only by its caller leaving (good, the one other, stops stepping it at 20)
            Generator bad = engine.generator(failing, prompt, GenerationParams.greedy(100_000), null, null);
            Generator good = engine.generator(going, prompt, GenerationParams.greedy(20), null, null);
            CompletableFuture<int[]>[] f = new CompletableFuture[2];
            sharing.alone(() -> {
                f[0] = CompletableFuture.supplyAsync(() -> sharing.run(bad, () -> {
                    throw new IllegalStateException("the client went away");
                }), callers);
                f[1] = CompletableFuture.supplyAsync(() -> sharing.run(good, null), callers);
                while (sharing.waiting() < 2) {
                    Thread.onSpinWait();
                }
                return null;
            });
            var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> f[0].get(60, TimeUnit.SECONDS));
            assertEquals("the client went away", e.getCause().getMessage());
            int[] going20 = f[1].get(60, TimeUnit.SECONDS);
            assertTrue(bad.done(), "it was stepped no further");
            assertEquals("the client went away", bad.failure().getMessage(), "ended by its caller's failure");
            assertArrayEquals(engine.generate(twin, prompt, GenerationParams.greedy(20), null), going20);
            assertEquals(0, sharing.waiting());
        }
    }

    @Test
    void closeFailsTheWaitingGenerationsAndRefusesLaterCallsAndNestedCallsAreRefused() throws Exception {
        try (Engine engine = new EngineLoader().systemOverrides(false).load(EngineTest.TINY);
             ExecutorService callers = Executors.newFixedThreadPool(1)) {
            StepSharing sharing = new StepSharing(engine, 8);
            ModelSequence seq = engine.newSequence();
            // a callback that calls alone() would wait for itself: refused, which ends that generation
            Generator nested = engine.generator(seq, new int[] {1, 2}, GenerationParams.greedy(5), null, (t, l) -> {
                sharing.alone(() -> null);
                return true;
            });
            var n = assertThrows(IllegalStateException.class, () -> sharing.run(nested, null));
            assertTrue(n.getMessage().contains("alone() called from a generation's callback"), n.getMessage());
            Generator again = engine.generator(seq, new int[] {3}, GenerationParams.greedy(5), null, null);
            Generator twice = engine.generator(seq, new int[] {4}, GenerationParams.greedy(5), null, null);
            boolean[] closedRan = {false};
            CompletableFuture<int[]> waiting = new CompletableFuture<>();
            sharing.alone(() -> {
                callers.execute(() -> {
                    try {
                        waiting.complete(sharing.run(again, null));
                    } catch (RuntimeException e) {
                        waiting.completeExceptionally(e);
                    }
                });
                while (sharing.waiting() < 1) {
                    Thread.onSpinWait();
                }
                // (from another thread: this one holds the engine)
                var t = assertThrows(java.util.concurrent.ExecutionException.class,
                        () -> CompletableFuture.supplyAsync(() -> sharing.run(twice, null)).get(60, TimeUnit.SECONDS));
                assertTrue(t.getCause() instanceof InvalidInputException && t.getCause().getMessage().contains("in a generation already"),
                        t.getCause().toString());
                return null;
            });
            // the engine's turn went to the waiting caller or to close: either way it ends, and nothing runs after
            sharing.close(() -> closedRan[0] = true);
            assertTrue(closedRan[0]);
            try {
                waiting.get(60, TimeUnit.SECONDS); // it may have finished before close took the engine
            } catch (java.util.concurrent.ExecutionException e) {
                assertTrue(e.getCause().getMessage().startsWith("closed"), e.getCause().getMessage());
            }
            var a = assertThrows(IllegalStateException.class, () -> sharing.alone(() -> null));
            assertTrue(a.getMessage().startsWith("closed"), a.getMessage());
            Generator late = engine.generator(engine.newSequence(), new int[] {1}, GenerationParams.greedy(1), null, null);
            assertThrows(IllegalStateException.class, () -> sharing.run(late, null));
            assertTrue(late.done(), "a generation refused after close is ended");
        }
    }

    @Test
    void stepTokensOutOfRangeAndAnotherEnginesGeneratorAreRefusedByName() throws IOException {
        try (Engine engine = new EngineLoader().systemOverrides(false).load(EngineTest.TINY);
             Engine other = new EngineLoader().systemOverrides(false).load(EngineTest.TINY)) {
            var e = assertThrows(InvalidInputException.class, () -> new StepSharing(engine, 0));
            assertTrue(e.getMessage().contains("stepTokens") && e.getMessage().contains("1..65536"), e.getMessage());
            StepSharing sharing = new StepSharing(engine, 8);
            Generator foreign = other.generator(other.newSequence(), new int[] {1}, GenerationParams.greedy(1), null, null);
            var g = assertThrows(InvalidInputException.class, () -> sharing.run(foreign, null));
            assertTrue(g.getMessage().contains("generator"), g.getMessage());
        }
    }
}
