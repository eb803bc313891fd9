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
    /** The most prompt tokens a step may be given to feed (the server's {@code --step-tokens} too). */
    public static final int MAX_STEP_TOKENS = 1 << 16;

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
    /** The thread running the step or {@link #alone} body now (null: none), to refuse a nested call that would wait forever. */
    private Thread busyThread;
    /** Why no more runs (set by {@link #close}); guarded by {@link #lock}. */
    private RuntimeException closed;
    private long sharedSteps;
    private int widestStep;

    /** Steps of {@code engine} feeding at most {@code stepTokens} prompt tokens (1..65536) besides the decoded ones. */
    public StepSharing(Engine engine, int stepTokens) {
        if (engine == null) {
            throw new InvalidInputException("engine", "is null");
        }
        if (stepTokens < 1 || stepTokens > MAX_STEP_TOKENS) {
            throw new InvalidInputException("stepTokens", "is " + stepTokens + "; valid: 1.." + MAX_STEP_TOKENS
                    + " (prompt tokens a step feeds)");
        }
        this.engine = engine;
        this.stepTokens = stepTokens;
    }

    /**
     * Runs {@code g} to its end, stepped with the generations of the other callers; {@code afterStep} (may be null) runs
     * on this thread after each step that this caller saw end, outside any lock (to hand out what the callbacks
     * recorded). Returns the tokens generated, or throws what ended it ({@link Generator#failure()}), as
     * {@link Engine#generateScored} does. If {@code afterStep} throws, {@code g} is cancelled with it first. Refused:
     * a generator of another engine, or one whose sequence is in a generation already.
     */
    public int[] run(Generator g, Runnable afterStep) {
        if (g == null || g.engine() != engine) {
            throw new InvalidInputException("generator", g == null ? "is null" : "was created by another engine");
        }
        lock.lock();
        try {
            refuseNested("run");
            for (Generator other : waiting) {
                if (other.sequence() == g.sequence()) {
                    throw new InvalidInputException("generator", "runs on a sequence that is in a generation already; valid: "
                            + "one generation per sequence at a time");
                }
            }
            if (closed != null) {
                g.cancel(closed);
                throw new IllegalStateException(closed.getMessage());
            }
            waiting.add(g);
            // g is looked at only while no step feeds it: a step changes it on the stepping thread
            while (stepping.contains(g) || !g.done()) {
                if (!busy && aloneWaiting == 0) {
                    busy = true;
                    busyThread = Thread.currentThread();
                    List<Generator> batch = List.copyOf(waiting);
                    stepping = batch;
                    lock.unlock();
                    try {
                        stepOnce(batch);
                    } finally {
                        lock.lock();
                        busy = false;
                        busyThread = null;
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
     * sequence's state. Refused after {@link #close}, and from a generation's callback or another {@code alone} body
     * (which would wait for themselves).
     */
    public <T> T alone(Supplier<T> body) {
        takeTurn("alone");
        try {
            return body.get();
        } finally {
            endTurn();
        }
    }

    /**
     * Ends the sharing once the step running now is over: the generations waiting fail with an
     * {@link IllegalStateException}, later {@link #run} and {@link #alone} calls are refused; then {@code lastly} runs
     * (closing the engine, say) with the engine to itself.
     */
    public void close(Runnable lastly) {
        takeTurn("close");
        try {
            boolean first;
            lock.lock();
            try {
                first = closed == null;
                if (first) {
                    closed = new IllegalStateException("closed: the engine's generations have ended");
                    for (Generator g : waiting) {
                        g.cancel(closed); // no step runs: this turn is ours
                    }
                }
            } finally {
                lock.unlock();
            }
            if (first) {
                lastly.run();
            }
        } finally {
            endTurn();
        }
    }

    /** Waits for the engine (after the step running now), then holds it: no step starts until {@link #endTurn}. */
    private void takeTurn(String what) {
        lock.lock();
        try {
            refuseNested(what);
            if (closed != null && !what.equals("close")) {
                throw new IllegalStateException(closed.getMessage());
            }
            aloneWaiting++;
            try {
                while (busy) {
                    turnEnded.awaitUninterruptibly();
                }
            } finally {
                aloneWaiting--;
            }
            busy = true;
            busyThread = Thread.currentThread();
        } finally {
            lock.unlock();
        }
    }

    private void endTurn() {
        lock.lock();
        try {
            busy = false;
            busyThread = null;
            turnEnded.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Under the lock: a call from the thread that holds the engine now (a callback, an alone body) would wait for itself. */
    private void refuseNested(String what) {
        if (busyThread == Thread.currentThread()) {
            throw new IllegalStateException(what + "() called from a generation's callback or an alone() body; valid: from "
                    + "outside them (it would wait for itself)");
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
