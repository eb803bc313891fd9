package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopTextTest {
    @Test
    void holdsBackWhatMayStartAStopStringAndCutsBeforeIt() {
        StopText s = new StopText(List.of("\n\n", "END"));
        assertEquals("hello", s.accept("hello"));
        assertEquals("", s.accept("\n"), "maybe the start of \\n\\n");
        assertEquals("\nworld ", s.accept("world E"), "not a stop after all; the E may start END and is held");
        assertFalse(s.stopped());
        assertEquals("", s.accept("N"));
        assertEquals("", s.accept("Dmore"), "END completed across three pieces: nothing after it");
        assertTrue(s.stopped());
        assertEquals("", s.accept("later"));
        assertEquals("", s.finish());
    }

    @Test
    void theEarliestStopWinsAndWithoutStopsEverythingPasses() {
        StopText s = new StopText(List.of("b", "ab"));
        assertEquals("x", s.accept("xab"));
        assertTrue(s.stopped());
        StopText none = new StopText(List.of());
        assertEquals("abc", none.accept("abc"));
        StopText held = new StopText(List.of("xyz"));
        assertEquals("ab", held.accept("abxy"));
        assertEquals("xy", held.finish(), "the end of the stream releases what was held");
    }
}
