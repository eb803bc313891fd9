package dev.engram.server;

import dev.engram.api.InvalidInputException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Waiting for a model job within the request's time, and turning what it threw into the answer's error. */
final class Jobs {
    private static final System.Logger LOG = System.getLogger(Jobs.class.getName());
    /** The event after a job's last progress event: it finished. */
    static final Object DONE = new Object();

    private final Metrics metrics;
    private final Engines engines;

    Jobs(Metrics metrics, Engines engines) {
        this.metrics = metrics;
        this.engines = engines;
    }

    /** 503 while shutting down. */
    void ensureAccepting() {
        if (!engines.accepting()) {
            metrics.rejected("shutting_down");
            throw ApiError.unavailable("the server is shutting down");
        }
    }

    <T> T await(CompletableFuture<T> job, Generation.Cancel cancel) throws InterruptedException {
        try {
            return job.get(cancel.remainingMillis() + 50, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            if (cancel.abandon()) {
                metrics.rejected("timeout");
                throw ApiError.timeout("the request did not finish within " + cancel.timeoutMillis + " ms (requestTimeout)");
            }
            // The job started and may be committing: its own checks end it shortly; answer with what it did,
            // so a client is never told "timeout" for an append that was stored.
            try {
                return job.get();
            } catch (ExecutionException failed) {
                throw unwrap(failed.getCause());
            }
        } catch (ExecutionException e) {
            throw unwrap(e.getCause());
        }
    }

    RuntimeException unwrap(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof CompletionException) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof ApiError e) {
            if (e.status == 503 && "request_timeout".equals(e.code)) {
                metrics.rejected("timeout");
            }
            return e;
        }
        if (t instanceof Generation.Cancelled c) {
            return c;
        }
        if (t instanceof InvalidInputException e) {
            return ApiError.invalid(e.field(), e.getMessage());
        }
        LOG.log(System.Logger.Level.ERROR, "request failed", t);
        return ApiError.internal("the model failed: " + t.getMessage());
    }

    /** The next progress event, or DONE / the failure once the job finished and no events remain. */
    static Object nextEvent(LinkedBlockingQueue<Object> events, CompletableFuture<?> job, Generation.Cancel cancel)
            throws InterruptedException {
        while (true) {
            Object e = events.poll(20, TimeUnit.MILLISECONDS);
            if (e != null) {
                return e;
            }
            if (job.isDone() && events.isEmpty()) {
                try {
                    job.join();
                    return DONE;
                } catch (Throwable t) {
                    return t;
                }
            }
            // Past the deadline a job that has not started is given up; one that has started ends at its own next
            // check (which throws the timeout), and what it did is what the stream reports.
            if (cancel.remainingMillis() == 0 && !job.isDone() && cancel.abandon()) {
                return ApiError.timeout("the request did not finish within " + cancel.timeoutMillis + " ms (requestTimeout)");
            }
        }
    }
}
