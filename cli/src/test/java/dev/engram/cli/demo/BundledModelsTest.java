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

    /** Prompts put to one model: how many it answered exactly, and what it said where it did not. */
    static final class Tally {
        final Engine engine;
        int tried;
        int hits;
        final List<String> misses = new ArrayList<>();

        Tally(Engine engine) {
            this.engine = engine;
        }

        /** Puts the prompt to the model (greedy, a new sequence); a miss is recorded with {@code where} it was. */
        void ask(PasskeyTask.Sample sample, String where) {
            int[] answer = engine.generate(engine.newSequence(), sample.prompt(), GenerationParams.greedy(DIGITS), id -> { });
            tried++;
            if (Arrays.equals(answer, sample.passkey())) {
                hits++;
            } else {
                misses.add(where + ": " + Arrays.toString(sample.passkey()) + " answered " + Arrays.toString(answer));
            }
        }

        /** The least number of hits that is {@code percent}% of the prompts tried (rounded up). */
        int atLeast(int percent) {
            return (tried * percent + 99) / 100;
        }
    }

    @ParameterizedTest
    @MethodSource("bundledModels")
    void aPasskeyInTheQuestionsSegmentIsRepeated(Path model) throws IOException {
        String name = model.getFileName().toString();
        try (Engine engine = new EngineLoader().systemOverrides(false).load(model)) {
            Tally tally = new Tally(engine);
            for (int trial = 0; trial < 10; trial++) {
                int length = trial % 2 == 0 ? 512 : 2048;
                List<Integer> positions = lastSegmentPositions(length);
                // trial 0 and 1: directly before the question; the rest spread over the segment
                int position = trial < 2 ? positions.get(positions.size() - 1) : positions.get((trial * 7) % positions.size());
                tally.ask(PasskeyTask.sampleAt(new SplittableRandom(2900 + trial), length, DIGITS, position),
                        "length " + length + " block at " + (1 + position));
            }
            meetsOrIsKnownShort(name, tally.hits, REQUIRED, KNOWN_SHORT, name + ": " + tally.hits
                    + " of 10 passkeys in the question's segment repeated; " + tally.misses);
        }
    }

    /**
     * {@code hits >= required}, or, for a model listed in {@code knownShort} (one that still misses the target,
     * models/README.md says by how much), at least what it scored when listed; and the list is kept honest: a listed
     * model that now passes must leave it (and so be held to the target from then on).
     */
    static void meetsOrIsKnownShort(String name, int hits, int required, Map<String, Integer> knownShort, String what) {
        System.out.println(what + " (needs " + required + ")"); // the counts, for models/README.md
        Integer floor = knownShort.get(name);
        if (floor == null) {
            assertTrue(hits >= required, what);
        } else {
            assertTrue(hits >= floor, what + " (listed as known short with " + floor + ")");
            assertTrue(hits < required, what + ": it now meets the target; remove it from the known-short list");
        }
    }

    /** The any-length test's known-short models (see KNOWN_SHORT), with their hits when listed. */
    static final Map<String, Integer> ANY_LENGTH_SHORT = Map.of();
    /** The conversation test's known-short models (see KNOWN_SHORT), with their hits when listed. */
    static final Map<String, Integer> CONVERSATION_SHORT = Map.of();
    static final int CONVERSATIONS = 40;
    static final int[] CONVERSATION_LENGTHS = {256, 640, 1024, 2048};

    static Stream<Path> memoryModels() {
        return Stream.of("passkey-infini", "passkey-lsh-knn").map(MODELS::resolve);
    }

    /**
     * A conversation as a chat client feeds it, turn by turn: {@code <bos> the grass is green . <passkey-is> d1..d5 .}
     * in turn one, then filler turns that each start the filler text from its beginning (a user's message does not
     * continue the text where the last one stopped, as the demo's one continuous run does), then the question:
     * {@code length} tokens with the answer, as {@link PasskeyTask#sampleAt}. Turns of 48 tokens (two whole cycles
     * of the text, as the LangChain4j adapter's tests feed them) where {@code wholeCycles}, else of 1 to 48.
     */
    static PasskeyTask.Sample conversation(SplittableRandom random, int length, boolean wholeCycles) {
        int[] passkey = random.ints(DIGITS, 0, 10).toArray();
        int[] prompt = new int[length - DIGITS];
        int t = 0;
        prompt[t++] = PasskeyTask.BOS;
        for (int i = 0; i < 5; i++) {
            prompt[t++] = PasskeyTask.FILLER[i];
        }
        prompt[t++] = PasskeyTask.KEY;
        for (int d : passkey) {
            prompt[t++] = d;
        }
        prompt[t++] = PasskeyTask.DOT;
        while (t < prompt.length - 1) {
            int longest = 2 * PasskeyTask.FILLER.length;
            int turn = Math.min(wholeCycles ? longest : 1 + random.nextInt(longest), prompt.length - 1 - t);
            for (int i = 0; i < turn; i++) {
                prompt[t++] = PasskeyTask.FILLER[i % PasskeyTask.FILLER.length];
            }
        }
        prompt[t] = PasskeyTask.ASK;
        return new PasskeyTask.Sample(prompt, passkey);
    }

    /**
     * The memory models answer a passkey given in turn one of a conversation (models/README.md: a model fine-tuned on
     * the demo's layout alone lost digits here while the demo showed nothing). Forty conversations, half of whole
     * cycles and half of turns of any length, from 256 to 2K tokens; at least 95% answered exactly (infini stage 11:
     * 40, lsh-knn stage 18: 39; infini stage 18, not kept for this reason: 37, all three misses at 256 tokens; lsh-knn
     * stage 20: 37, stage 21: 38, stage 23: 39, stage 24: 38, stage 25 (bundled 2026-12-06): 39).
     */
    @ParameterizedTest
    @MethodSource("memoryModels")
    void aPasskeyFromTurnOneOfAConversationIsAnswered(Path model) throws IOException {
        String name = model.getFileName().toString();
        try (Engine engine = new EngineLoader().systemOverrides(false).load(model)) {
            Tally tally = new Tally(engine);
            for (int trial = 0; trial < CONVERSATIONS; trial++) {
                int length = CONVERSATION_LENGTHS[trial % CONVERSATION_LENGTHS.length];
                boolean wholeCycles = trial < CONVERSATIONS / 2;
                tally.ask(conversation(new SplittableRandom(3100 + trial), length, wholeCycles),
                        "length " + length + (wholeCycles ? ", whole cycles" : ""));
            }
            meetsOrIsKnownShort(name, tally.hits, tally.atLeast(95), CONVERSATION_SHORT, name + ": " + tally.hits
                    + " of " + CONVERSATIONS + " conversations answered; " + tally.misses);
        }
    }

    /**
     * A prompt of any length is answered: the demo's lengths are whole segments, so its question always sits at the
     * same offset of its segment and the answer within that segment, while a user's prompt puts them anywhere (the
     * models trained on whole segments alone answered 0-20% of the prompts whose answer crosses into the next
     * segment: models/README.md). Lengths 512 to 543, the question at each of the 32 offsets: the passkey directly
     * before the question for every model (for {@code continuous}, which recalls only from its own segment, where the
     * block fits in the question's segment), and at a random depth too for the memory models; at least 90% answered.
     */
    @ParameterizedTest
    @MethodSource("bundledModels")
    void aPromptOfAnyLengthIsAnswered(Path model) throws IOException {
        String name = model.getFileName().toString();
        boolean longTerm = name.equals("passkey-infini") || name.equals("passkey-lsh-knn");
        try (Engine engine = new EngineLoader().systemOverrides(false).load(model)) {
            Tally tally = new Tally(engine);
            for (int length = 512; length < 512 + SEGMENT; length++) {
                int questionOffset = (length - DIGITS - 1) % SEGMENT;
                int room = PasskeyTask.room(length, DIGITS);
                SplittableRandom random = new SplittableRandom(4400 + length);
                List<Integer> positions = new ArrayList<>();
                if (!name.equals("passkey-continuous") || questionOffset >= DIGITS + 2) {
                    positions.add(room); // directly before the question
                }
                if (longTerm) {
                    positions.add(random.nextInt(room + 1));
                }
                for (int position : positions) {
                    tally.ask(PasskeyTask.sampleAt(random, length, DIGITS, position), "length " + length
                            + " (question at offset " + questionOffset + "), block at " + (1 + position));
                }
            }
            meetsOrIsKnownShort(name, tally.hits, tally.atLeast(90), ANY_LENGTH_SHORT, name + ": " + tally.hits
                    + " of " + tally.tried + " prompts of 512-543 tokens answered; " + tally.misses);
        }
    }

    @Test
    void aConversationRestartsTheFillerTextInEachTurn() {
        PasskeyTask.Sample s = conversation(new SplittableRandom(1), 512, false);
        int[] p = s.prompt();
        assertEquals(512 - DIGITS, p.length);
        assertEquals(PasskeyTask.KEY, p[6]);
        assertEquals(PasskeyTask.ASK, p[p.length - 1]);
        // "the grass" begins the text; one continuous run repeats it every 24 tokens, turns restart it sooner
        List<Integer> starts = new ArrayList<>();
        for (int t = 13; t < p.length - 1; t++) { // bos, five filler tokens, the block of seven: the turns start at 13
            if (p[t] == PasskeyTask.FILLER[0] && p[t + 1] == PasskeyTask.FILLER[1]) {
                starts.add(t);
            }
        }
        assertEquals(13, starts.get(0), "the filler after the passkey block starts the text");
        long restartsWithinACycle = java.util.stream.IntStream.range(1, starts.size())
                .filter(i -> starts.get(i) - starts.get(i - 1) != PasskeyTask.FILLER.length).count();
        assertTrue(restartsWithinACycle >= 3, restartsWithinACycle + " turns that restart the text before its cycle ends");
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
