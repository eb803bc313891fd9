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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelHeadsTest {

    private static final long BIG = ParallelHeads.WORTH_A_HELPER;

    @Test
    void theTestJvmHasTwoHelpers() {
        // the surefire argLine sets -Dengram.pluginThreads=2, so every module's tests take the parallel path
        assertEquals(2, ParallelHeads.helpers());
        assertEquals(3, ParallelHeads.slots(8));
        assertEquals(2, ParallelHeads.slots(2), "no more slots than heads");
        assertEquals(1, ParallelHeads.slots(1));
    }

    @Test
    void everyHeadRunsOnceAndNoSlotIsUsedByTwoThreadsAtOnce() {
        AtomicInteger helperSlots = new AtomicInteger();
        for (int round = 0; round < 200; round++) {
            int heads = 1 + round % 13;
            AtomicIntegerArray runs = new AtomicIntegerArray(heads);
            AtomicBoolean[] busy = new AtomicBoolean[ParallelHeads.slots(heads)];
            for (int i = 0; i < busy.length; i++) {
                busy[i] = new AtomicBoolean();
            }
            AtomicBoolean overlap = new AtomicBoolean();
            ParallelHeads.run(heads, BIG, (h, slot) -> {
                if (!busy[slot].compareAndSet(false, true)) {
                    overlap.set(true);
                }
                runs.incrementAndGet(h);
                if (slot > 0) {
                    helperSlots.incrementAndGet();
                }
                long until = System.nanoTime() + 20_000; // some work, so that helpers and caller overlap
                while (System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
                busy[slot].set(false);
            });
            for (int h = 0; h < heads; h++) {
                assertEquals(1, runs.get(h), "head " + h + " of " + heads);
            }
            assertFalse(overlap.get(), "a slot's scratch was used by two threads at once");
        }
        assertTrue(helperSlots.get() > 0, "no head ran on a helper in 200 calls");
    }

    @Test
    void helpersTakeHeadsWhileTheCallerWorks() {
        CountDownLatch helperRan = new CountDownLatch(1);
        Set<String> threads = ConcurrentHashMap.newKeySet();
        ParallelHeads.run(4, BIG, (h, slot) -> {
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
        ParallelHeads.run(8, BIG - 1, (h, slot) -> {
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
                    ParallelHeads.run(6, BIG, (h, slot) -> {
                        if (h == bad) {
                            throw new IllegalArgumentException("head " + h);
                        }
                    }));
            assertEquals("head " + bad, e.getMessage());
        }
    }

    @Test
    void anInterruptDoesNotCutTheWaitShortAndIsKept() throws InterruptedException {
        int exercised = 0;
        for (int round = 0; round < 20; round++) {
            CountDownLatch helperStarted = new CountDownLatch(1);
            AtomicBoolean helperDone = new AtomicBoolean();
            AtomicBoolean callerInterrupted = new AtomicBoolean();
            Thread caller = Thread.currentThread();
            ParallelHeads.run(2, BIG, (h, slot) -> {
                if (slot == 0) {
                    try { // wait until the helper runs the other head, then interrupt the caller's wait for it
                        helperStarted.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    caller.interrupt();
                    callerInterrupted.set(true);
                } else {
                    helperStarted.countDown();
                    long until = System.nanoTime() + 5_000_000;
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                    helperDone.set(true);
                }
            });
            boolean interrupted = Thread.interrupted(); // also clears it for the next round
            assertEquals(callerInterrupted.get(), interrupted, "the interrupt is kept for the caller");
            if (callerInterrupted.get() && helperStarted.getCount() == 0) {
                exercised++;
                assertTrue(helperDone.get(), "returned before the helper's head was done");
            }
        }
        assertTrue(exercised > 0, "no round had the caller interrupted while a helper ran");
    }

    @Test
    void aNestedRunFromAnotherPluginInsideAHeadCompletes() {
        AtomicIntegerArray inner = new AtomicIntegerArray(4 * 3);
        ParallelHeads.run(4, BIG, (h, slot) -> ParallelHeads.run(3, BIG, (i, s) -> inner.incrementAndGet(h * 3 + i)));
        for (int i = 0; i < inner.length(); i++) {
            assertEquals(1, inner.get(i), "inner head " + i);
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
