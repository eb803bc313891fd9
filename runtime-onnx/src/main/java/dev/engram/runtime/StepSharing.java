package dev.engram.runtime;

import dev.engram.api.InvalidInputException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Continuous batching inside an application: generations of one engine, started from many threads, share its steps.
 * Each caller's {@link Generator} joins the next {@link Engine#step}, and whichever caller finds no step running runs
 * one for every generation waiting, so N callers decoding at once cost about one pass over the weights a token rather
 * than N ({@code engram serve} does the same on its model worker thread). Whatever else uses the engine (new
 * sequences, ingest, saving and restoring states) runs {@link #alone between steps}. Each generation emits what it
 * would alone ({@code GeneratorTest}); its callbacks run on whichever caller's thread ran the step, so they should
 * only record (hand text to their own caller, say) and return.
 *
 * <p>Thread-safe. A sequence must be in at most one running generation at a time (the caller's to ensure).
 */
public final class StepSharing {
    /** Prompt tokens a step feeds at most, by default (the server's {@code --step-tokens} default). */
    public static final int DEFAULT_STEP_TOKENS = 256;

    private final Engine engine;
    private final int stepTokens;
    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled whenever a step or an {@link #alone} body ends. */
    private final Condition turnEnded = lock.newCondition();
    /** Generations not done yet, in order of arrival; guarded by {@link #lock}. */
    private final List<Generator> waiting = new ArrayList<>();
    /** A step or an {@link #alone} body runs; guarded by {@link #lock}. */
    private boolean busy;
    /** The generations the step running now feeds (empty between steps); guarded by {@link #lock}. */
    private List<Generator> stepping = List.of();
    /** Callers of {@link #alone} waiting for their turn: no step starts while one waits, so steps cannot starve it. */
    private int aloneWaiting;
    private long sharedSteps;
    private int widestStep;

    /** Steps of {@code engine} feeding at most {@code stepTokens} prompt tokens (1..65536) besides the decoded ones. */
    public StepSharing(Engine engine, int stepTokens) {
        if (engine == null) {
            throw new InvalidInputException("engine", "is null");
        }
        if (stepTokens < 1 || stepTokens > 65536) {
            throw new InvalidInputException("stepTokens", "is " + stepTokens + "; valid: 1..65536 (prompt tokens a step feeds)");
        }
        this.engine = engine;
        this.stepTokens = stepTokens;
    }

    /**
     * Runs {@code g} to its end, stepped with the generations of the other callers; {@code afterStep} (may be null) runs
     * on this thread after each step that this caller saw end, outside any lock (to hand out what the callbacks
     * recorded). Returns the tokens generated, or throws what ended it ({@link Generator#failure()}), as
     * {@link Engine#generateScored} does. If {@code afterStep} throws, {@code g} is cancelled with it first.
     */
    public int[] run(Generator g, Runnable afterStep) {
        if (g == null || g.engine() != engine) {
            throw new InvalidInputException("generator", g == null ? "is null" : "was created by another engine");
        }
        lock.lock();
        try {
            waiting.add(g);
            while (!g.done()) {
                if (!busy && aloneWaiting == 0) {
                    busy = true;
                    List<Generator> batch = List.copyOf(waiting);
                    stepping = batch;
                    lock.unlock();
                    try {
                        stepOnce(batch);
                    } finally {
                        lock.lock();
                        busy = false;
                        stepping = List.of();
                        waiting.removeIf(Generator::done);
                        turnEnded.signalAll();
                    }
                } else {
                    turnEnded.awaitUninterruptibly();
                }
                if (afterStep != null) {
                    lock.unlock();
                    try {
                        afterStep.run();
                    } catch (RuntimeException | Error e) {
                        lock.lock();
                        leave(g, e instanceof RuntimeException r ? r : new IllegalStateException(e.toString(), e));
                        throw e;
                    }
                    lock.lock();
                }
            }
        } finally {
            waiting.remove(g);
            lock.unlock();
        }
        if (g.failure() != null) {
            throw g.failure();
        }
        return g.tokens();
    }

    /**
     * Under the lock: ends {@code g}, which no later step feeds, once the step running now (which may feed it) is over:
     * its generator is touched by one thread at a time.
     */
    private void leave(Generator g, RuntimeException why) {
        waiting.remove(g);
        while (stepping.contains(g)) {
            turnEnded.awaitUninterruptibly();
        }
        g.cancel(why);
    }

    private void stepOnce(List<Generator> batch) {
        int width = 0;
        for (Generator g : batch) {
            width += g.done() ? 0 : 1;
        }
        try {
            engine.step(batch, stepTokens);
        } catch (RuntimeException e) { // Engine.step failed every generator of the step with it; any it did not reach too
            batch.stream().filter(x -> !x.done()).forEach(x -> x.cancel(e));
        } catch (Error e) { // say, out of memory: the callers are answered with it, the engine goes on
            RuntimeException failed = new IllegalStateException("the model failed: " + e, e);
            batch.forEach(x -> x.cancel(failed));
        }
        lock.lock();
        try {
            if (width > 1) {
                sharedSteps++;
            }
            widestStep = Math.max(widestStep, width);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Runs {@code body} with the engine to itself: after the step running now, before the next (which waits). For
     * anything that touches the engine besides the generations: a new sequence, an ingest, saving or restoring a
     * sequence's state.
     */
    public <T> T alone(Supplier<T> body) {
        lock.lock();
        try {
            aloneWaiting++;
            try {
                while (busy) {
                    turnEnded.awaitUninterruptibly();
                }
            } finally {
                aloneWaiting--;
            }
            busy = true;
        } finally {
            lock.unlock();
        }
        try {
            return body.get();
        } finally {
            lock.lock();
            try {
                busy = false;
                turnEnded.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Steps that fed more than one generation so far. */
    public long sharedSteps() {
        lock.lock();
        try {
            return sharedSteps;
        } finally {
            lock.unlock();
        }
    }

    /** The most generations one step has fed so far. */
    public int widestStep() {
        lock.lock();
        try {
            return widestStep;
        } finally {
            lock.unlock();
        }
    }

    /** Generations joined and not done (tests: to see that callers wait for a step). */
    int waiting() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }
}
