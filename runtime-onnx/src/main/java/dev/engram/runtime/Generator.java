package dev.engram.runtime;

import dev.engram.api.InvalidInputException;
import java.util.Arrays;

/**
 * A generation advanced in steps, so that a server can run many of them together: {@link Engine#step} feeds each
 * generator of a batch its next tokens (a chunk of its prompt, or the token it sampled last) in one
 * {@link Engine#forwardBatch}-style call, then lets each sample its next token. Prompt feeding, sampling, stop tokens,
 * the callback's say and the prompt's logits ({@link Engine.PromptRows}) are those of
 * {@link Engine#generateScored}: a generator stepped with others emits the same tokens from the same logits as that
 * call alone ({@code GeneratorTest}).
 *
 * <p>A callback that throws ends its own generator only ({@link #failure()}); a failure of the engine itself ends
 * every generator of that step. Not thread-safe: the engine's thread steps it.
 */
public final class Generator {
    private final Engine engine;
    private final ModelSequence sequence;
    private final int[] prompt;
    private final GenerationParams params;
    private final Engine.PromptRows promptRows;
    private final Engine.ScoredToken onToken;
    private final Sampler sampler;
    private final int[] out;
    private int count;
    /** Prompt tokens fed so far. */
    private int fed;
    /** The token sampled and emitted last, to be fed in the next step; -1 while the prompt is being fed. */
    private int toFeed = -1;
    /** The callback said stop: the token it was given is still fed, then the generator is done. */
    private boolean finishing;
    private boolean done;
    private RuntimeException failure;

    Generator(Engine engine, ModelSequence sequence, int[] prompt, GenerationParams params, Engine.PromptRows promptRows,
              Engine.ScoredToken onToken) {
        if (sequence == null || sequence.owner() != engine) {
            throw new InvalidInputException("sequence", sequence == null ? "is null" : "was created by another engine");
        }
        if (prompt == null || prompt.length == 0) {
            throw new InvalidInputException("prompt", "is empty; valid: at least one token");
        }
        for (int i = 0; i < prompt.length; i++) {
            engine.checkToken(prompt[i], "prompt[" + i + "]");
        }
        if (params == null) {
            throw new InvalidInputException("params", "is null; valid: generation parameters (GenerationParams)");
        }
        // learned positions: the whole prompt before any chunk of it runs (a prompt budget feeds it in chunks)
        engine.requireRoom(sequence.position(), prompt.length, "prompt");
        this.engine = engine;
        this.sequence = sequence;
        this.prompt = prompt.clone();
        this.params = params;
        this.promptRows = promptRows;
        this.onToken = onToken;
        this.sampler = new Sampler(params, engine.vocabSize());
        this.out = new int[params.maxTokens()];
    }

    Engine engine() {
        return engine;
    }

    public ModelSequence sequence() {
        return sequence;
    }

    /** Whether it has finished (max tokens, a stop token, the callback's false, or a failure): it takes no more steps. */
    public boolean done() {
        return done;
    }

    /** The tokens generated so far (each was also fed, as with {@link Engine#generateScored}). */
    public int[] tokens() {
        return Arrays.copyOf(out, count);
    }

    /** What ended it, if its callback or the engine threw; null otherwise. */
    public RuntimeException failure() {
        return failure;
    }

    /** Whether its next step feeds the prompt (else one sampled token). */
    public boolean feedingPrompt() {
        return fed < prompt.length;
    }

    /** Prompt tokens not yet fed. */
    public int promptLeft() {
        return prompt.length - fed;
    }

    /**
     * The tokens its next step feeds: at most {@code budget} (>= 1) prompt tokens (and, with prompt logits wanted, at
     * most {@link Engine#promptChunkRows()}), ending on a segment boundary when they cross one and more of the prompt
     * follows; or the token sampled last.
     */
    int[] next(int budget) {
        if (fed < prompt.length) {
            int n = Math.min(prompt.length - fed, Math.max(1, budget));
            if (promptRows != null) {
                n = Math.min(n, engine.promptChunkRows());
            }
            // A segment begun in one step and finished in a later one runs its first rows twice (evaluated while in
            // progress, then again as the whole segment) unless every layer declares EXACT_ROWS on the CPU, so a
            // chunk that reaches past a boundary always stops there (with EXACT_ROWS the cut costs nothing), unless
            // it ends the prompt (what follows, the decoded tokens, finishes that segment later either way).
            int segment = engine.segmentLength();
            int toBoundary = (int) (segment - sequence.position() % segment);
            if (n > toBoundary && n < prompt.length - fed) {
                n -= (int) ((sequence.position() + n) % segment);
            }
            return Arrays.copyOfRange(prompt, fed, fed + n);
        }
        return new int[] {toFeed};
    }

    /** Whether its next step wants the logits of every token fed (the prompt's, for {@link Engine.PromptRows}). */
    boolean wantsEveryRow() {
        return promptRows != null && fed < prompt.length;
    }

    /**
     * The step fed {@code fedTokens}; {@code rows} are their logits (every row when {@link #wantsEveryRow()}, else
     * only the last): hands prompt logits over, then samples and emits the next token where the prompt is done.
     */
    void fed(int fedTokens, float[][] rows) {
        try {
            float[] logits = rows[rows.length - 1];
            if (fed < prompt.length) {
                if (promptRows != null) {
                    promptRows.accept(fed, rows);
                }
                fed += fedTokens;
                if (fed < prompt.length) {
                    return;
                }
            } else if (finishing || count >= params.maxTokens()) {
                done = true;
                return;
            }
            if (count >= params.maxTokens()) {
                done = true;
                return;
            }
            int token = sampler.next(logits);
            if (params.stopTokens().contains(token)) {
                done = true;
                return;
            }
            out[count++] = token;
            finishing = onToken != null && !onToken.accept(token, logits);
            toFeed = token;
        } catch (RuntimeException e) {
            fail(e);
        }
    }

    /** Ends it before its next step (a cancelled or timed-out request): {@link #failure()} is {@code why}. */
    public void cancel(RuntimeException why) {
        if (!done) {
            fail(why);
        }
    }

    void fail(RuntimeException e) {
        failure = e;
        done = true;
    }
}
