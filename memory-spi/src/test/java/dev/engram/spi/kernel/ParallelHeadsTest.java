package dev.engram.spi.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelHeadsTest {

    @Test
    void theTestJvmHasTwoHelpers() {
        // the surefire argLine sets -Dengram.pluginThreads=2, so every module's tests take the parallel path
        assertEquals(3, ParallelHeads.slots());
    }

    @Test
    void everyHeadRunsOnceAndNoSlotIsUsedByTwoThreadsAtOnce() throws InterruptedException {
        for (int round = 0; round < 200; round++) {
            int heads = 1 + round % 13;
            AtomicIntegerArray runs = new AtomicIntegerArray(heads);
            AtomicBoolean[] busy = new AtomicBoolean[ParallelHeads.slots()];
            for (int i = 0; i < busy.length; i++) {
                busy[i] = new AtomicBoolean();
            }
            AtomicBoolean overlap = new AtomicBoolean();
            ParallelHeads.run(heads, true, (h, slot) -> {
                if (!busy[slot].compareAndSet(false, true)) {
                    overlap.set(true);
                }
                runs.incrementAndGet(h);
                Thread.onSpinWait();
                busy[slot].set(false);
            });
            for (int h = 0; h < heads; h++) {
                assertEquals(1, runs.get(h), "head " + h + " of " + heads);
            }
            assertFalse(overlap.get(), "a slot's scratch was used by two threads at once");
        }
    }

    @Test
    void helpersTakeHeadsWhileTheCallerWorks() {
        CountDownLatch helperRan = new CountDownLatch(1);
        Set<String> threads = ConcurrentHashMap.newKeySet();
        ParallelHeads.run(4, true, (h, slot) -> {
            threads.add(Thread.currentThread().getName());
            if (slot > 0) {
                helperRan.countDown();
            } else {
                try { // a head the caller runs waits until a helper has run one, so one must have
                    assertTrue(helperRan.await(10, TimeUnit.SECONDS), "no helper ran a head");
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
        });
        assertTrue(threads.stream().anyMatch(n -> n.startsWith("engram-plugin-")), threads.toString());
    }

    @Test
    void smallWorkStaysOnTheCallingThread() {
        Thread caller = Thread.currentThread();
        int[] ran = {0};
        ParallelHeads.run(8, false, (h, slot) -> {
            assertSame(caller, Thread.currentThread());
            assertEquals(0, slot);
            assertEquals(ran[0]++, h, "in order");
        });
        assertEquals(8, ran[0]);
    }

    @Test
    void aFailingHeadIsRethrownToTheCaller() {
        for (int failing = 0; failing < 6; failing++) {
            int bad = failing;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    ParallelHeads.run(6, true, (h, slot) -> {
                        if (h == bad) {
                            throw new IllegalArgumentException("head " + h);
                        }
                    }));
            assertEquals("head " + bad, e.getMessage());
        }
    }

    @Test
    void thePropertyIsACountFrom0To256() {
        assertEquals(0, ParallelHeads.helpersFromProperty("0"));
        assertEquals(3, ParallelHeads.helpersFromProperty(" 3 "));
        assertEquals(Math.max(0, Runtime.getRuntime().availableProcessors() - 1), ParallelHeads.helpersFromProperty(null));
        for (String bad : new String[] {"-1", "257", "two", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ParallelHeads.helpersFromProperty(bad));
            assertEquals("-Dengram.pluginThreads is '" + bad + "'; valid: an integer 0-256"
                    + " (helper threads for plugin loops; 0 = the calling thread only)", e.getMessage());
        }
    }
}
