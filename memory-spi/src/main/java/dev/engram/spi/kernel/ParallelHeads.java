package dev.engram.spi.kernel;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs a plugin's independent per-head work on the calling thread and the process's helper threads, so that
 * on a machine serving one sequence the cores ONNX Runtime uses only inside its runs take part in the
 * attention and memory loops between them.
 *
 * <p>Each head runs whole on one thread with that thread's scratch ({@code slot}), so the results are the
 * same bits whichever thread ran it and however many helpers there are. The calling thread takes heads from
 * the same counter: a helper busy with another sequence never makes it wait, since the caller then runs
 * every head itself and withdraws the helper's turn.
 *
 * <p>Helpers: {@code -Dengram.pluginThreads=N} (default: available processors - 1; 0 runs everything on the
 * calling thread). They are daemon threads named {@code engram-plugin-N}, shared by every sequence: under a
 * busy server a call may get none and runs on its own thread. A plugin instance must not re-enter its own
 * {@code run} from inside a head (its slots' scratch would be shared); another instance may.
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

    /**
     * Calls below this many multiply-adds run on the calling thread: handing heads to a helper costs tens of
     * microseconds, about a decoded row's whole work.
     */
    public static final long WORTH_A_HELPER = 1L << 18;

    /** The helper threads of this process ({@value #PROPERTY}). */
    public static int helpers() {
        return HELPERS;
    }

    /** The scratch slots a {@link #run} over {@code heads} heads can use: the calling thread plus its helpers. */
    public static int slots(int heads) {
        return Math.max(1, Math.min(1 + HELPERS, heads));
    }

    /**
     * Runs {@code work} for heads [0, heads), in parallel when the call's work ({@code multiplyAdds}, all heads)
     * is at least {@link #WORTH_A_HELPER}; slots stay below {@link #slots(int)}. Returns when every head is done;
     * an exception from any head is rethrown here, after the others have stopped.
     */
    public static void run(int heads, long multiplyAdds, HeadWork work) {
        int helpers = multiplyAdds >= WORTH_A_HELPER ? Math.min(HELPERS, heads - 1) : 0;
        if (helpers <= 0) {
            for (int h = 0; h < heads; h++) {
                work.run(h, 0);
            }
            return;
        }
        Batch batch = new Batch(heads, work, Thread.currentThread());
        try {
            for (int i = 1; i <= helpers; i++) {
                int slot = i;
                POOL.execute(() -> batch.help(slot));
            }
            batch.work(0);
        } finally {
            batch.awaitHelpers(); // also when a submission failed: no helper may outlive the call
        }
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
        /** Helpers that started (they may still be running); those that find the batch closed never count. */
        private final AtomicInteger started = new AtomicInteger();
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
                started.incrementAndGet();
            }
            try {
                work(slot);
            } finally {
                finished.incrementAndGet();
                LockSupport.unpark(caller);
            }
        }

        /**
         * Closes the batch to helpers that have not started, then waits for those that have. An interrupt does
         * not cut the wait short (helpers write the caller's buffers); it is kept for the caller to see.
         */
        void awaitHelpers() {
            int running;
            synchronized (this) {
                closed = true;
                running = started.get();
            }
            boolean interrupted = false;
            while (finished.get() < running) {
                LockSupport.park(this);
                interrupted |= Thread.interrupted();
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            // A helper's unpark may come after this returns: a spare permit only makes one later park return at
            // once, and every park here is in a loop that re-checks its condition.
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
