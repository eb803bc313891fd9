package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Housekeeping (eviction, expiry) takes a session only when nobody holds it, this thread included: a worker thread
 * holds the sessions of its batched writes across steps, and its own housekeeping after another job must skip them
 * (a plain tryLock would succeed again on the same thread, the lock being reentrant).
 */
class SessionLockTest {
    @Test
    void housekeepingSkipsASessionHeldByThisThreadOrAnother() throws Exception {
        Session s = new Session("s1", "", Map.of(), "default", 0, 0);
        assertTrue(s.tryLockIdle(), "free");
        s.lock.unlock();
        s.lock.lock(); // as a batched write holds it on the worker thread
        try {
            assertTrue(s.lock.tryLock(), "a plain tryLock re-enters on the holding thread");
            s.lock.unlock();
            assertFalse(s.tryLockIdle(), "held by this thread");
            assertFalse(CompletableFuture.supplyAsync(s::tryLockIdle).get(), "held by another thread");
        } finally {
            s.lock.unlock();
        }
        assertTrue(CompletableFuture.supplyAsync(() -> {
            boolean got = s.tryLockIdle();
            if (got) {
                s.lock.unlock();
            }
            return got;
        }).get(), "free again");
    }
}
