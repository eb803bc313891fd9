package dev.engram.spi.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class KernelWarmUpTest {
    @Test
    void runsEveryShapeWithoutFailingAndIsDeterministic() {
        double a = KernelWarmUp.run(8);
        assertTrue(Double.isFinite(a), "every kernel ran on valid shapes: " + a);
        assertEquals(a, KernelWarmUp.run(8), "seeded inputs, fixed order");
    }

    @Test
    void stopsWhenAsked() {
        AtomicInteger asked = new AtomicInteger();
        KernelWarmUp.run(1_000_000, () -> asked.incrementAndGet() > 3);
        assertEquals(4, asked.get(), "three rounds, then the fourth check stops it");
    }
}
