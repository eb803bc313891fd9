package dev.engram.spi.kernel;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs a plugin's independent per-head work on the calling thread and the process's helper threads, so the
 * cores that ONNX Runtime leaves idle between its runs take part in attention and memory loops.
 *
 * <p>Each head runs whole on one thread with that thread's scratch ({@code slot}), so the results are the
 * same bits whichever thread ran it and however many helpers there are. The calling thread takes heads from
 * the same counter: a helper busy with another sequence never makes it wait, since the caller then runs
 * every head itself and withdraws the helper's turn.
 *
 * <p>Helpers: {@code -Dengram.pluginThreads=N} (default: available processors - 1; 0 runs everything on the
 * calling thread). They are daemon threads named {@code engram-plugin-N}.
 */
public final class ParallelHeads {

    /** Work on one head; {@code slot} (0 = the calling thread, 1.. the helpers) indexes per-thread scratch. */
    @FunctionalInterface
    public interface HeadWork {
        void run(int head, int slot);
    }

    static final String PROPERTY = "engram.pluginThreads";
    private static final int HELPERS = helpersFromProperty(System.getProperty(PROPERTY));
    private static final AtomicInteger THREAD_NUMBER = new AtomicInteger();
    private static final ExecutorService POOL = HELPERS == 0 ? null : Executors.newFixedThreadPool(HELPERS, r -> {
        Thread t = new Thread(r, "engram-plugin-" + THREAD_NUMBER.incrementAndGet());
        t.setDaemon(true);
        return t;
    });

    private ParallelHeads() {
    }

    /** The most scratch slots a {@link #run} uses: one for the calling thread plus one per helper. */
    public static int slots() {
        return 1 + HELPERS;
    }

    /**
     * Runs {@code work} for heads [0, heads), in parallel when {@code parallel} is true (callers pass false for
     * work too small to be worth a thread hand-off, e.g. one decoded row). Returns when every head is done;
     * an exception from any head is rethrown here, after the others have stopped.
     */
    public static void run(int heads, boolean parallel, HeadWork work) {
        int helpers = parallel ? Math.min(HELPERS, heads - 1) : 0;
        if (helpers <= 0) {
            for (int h = 0; h < heads; h++) {
                work.run(h, 0);
            }
            return;
        }
        Batch batch = new Batch(heads, work, Thread.currentThread());
        for (int i = 1; i <= helpers; i++) {
            int slot = i;
            POOL.execute(() -> batch.help(slot));
        }
        batch.work(0);
        batch.awaitHelpers();
    }

    static int helpersFromProperty(String value) {
        if (value == null) {
            return Math.max(0, Runtime.getRuntime().availableProcessors() - 1);
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n >= 0 && n <= 256) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("-D" + PROPERTY + " is '" + value + "'; valid: an integer 0-256"
                + " (helper threads for plugin loops; 0 = the calling thread only)");
    }

    /** One call's heads, handed out by a counter; each helper's turn is started, or withdrawn, exactly once. */
    private static final class Batch {
        private final int heads;
        private final HeadWork work;
        private final Thread caller;
        private final AtomicInteger nextHead = new AtomicInteger();
        /** Helpers that started (may still be running) or were withdrawn before starting. */
        private final AtomicInteger settled = new AtomicInteger();
        private final AtomicInteger finished = new AtomicInteger();
        private volatile boolean closed;
        private volatile Throwable failure;

        Batch(int heads, HeadWork work, Thread caller) {
            this.heads = heads;
            this.work = work;
            this.caller = caller;
        }

        void work(int slot) {
            try {
                for (int h; failure == null && (h = nextHead.getAndIncrement()) < heads; ) {
                    work.run(h, slot);
                }
            } catch (Throwable t) {
                failure = t;
            }
        }

        /** A helper's turn: it runs only if the caller has not already closed the batch. */
        void help(int slot) {
            synchronized (this) {
                if (closed) {
                    return;
                }
                settled.incrementAndGet();
            }
            try {
                work(slot);
            } finally {
                finished.incrementAndGet();
                LockSupport.unpark(caller);
            }
        }

        /** Closes the batch to helpers that have not started, then waits for those that have. */
        void awaitHelpers() {
            int started;
            synchronized (this) {
                closed = true;
                started = settled.get();
            }
            while (finished.get() < started) {
                LockSupport.park(this);
            }
            Throwable t = failure;
            if (t instanceof RuntimeException e) {
                throw e;
            }
            if (t instanceof Error e) {
                throw e;
            }
            if (t != null) {
                throw new IllegalStateException(t);
            }
        }
    }
}
