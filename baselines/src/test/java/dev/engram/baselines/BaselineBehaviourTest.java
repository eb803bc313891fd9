package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.ConfigException;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.SeededData;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Registration, configuration errors, positions, snapshots across configs and state size. */
class BaselineBehaviourTest {
    private static final LayerSpec SPEC = new LayerSpec(4, 2, 8, 8, 16);
    private final ProviderRegistry registry = ProviderRegistry.load();

    private Attention attention(String name, Map<String, ?> config) {
        return registry.newAttention(name, 3, SPEC, config, Map.of());
    }

    private static Segment segment(long start, int tokens, long seed) {
        SeededData.Inputs in = SeededData.inputs(SPEC, tokens, seed);
        return Segment.of(start, in.q(), in.k(), in.v());
    }

    /**
     * A prompt's segment of n tokens leaves room for n more, so the n decode steps after it never copy the cache
     * (the copy a growing cache makes was a decode step's 0.8 s at 16K tokens); a decode step itself reserves nothing.
     */
    @Test
    void aFullCacheGrowsDuringThePromptNotDuringTheDecodingAfterIt() {
        CachedAttention full = (CachedAttention) attention("full", Map.of());
        full.attend(segment(0, 100, 1));
        int afterPrompt = full.capacity();
        assertTrue(afterPrompt >= 200, "room for 100 more after a 100-token segment: " + afterPrompt);
        for (int t = 100; t < afterPrompt; t++) {
            full.attend(segment(t, 1, t));
            assertEquals(afterPrompt, full.capacity(), "decode step at " + t + " grew the cache");
        }
        full.attend(segment(afterPrompt, 1, afterPrompt));
        assertTrue(full.capacity() > afterPrompt, "past the room the cache grows as before");
    }

    /**
     * A window cache takes its room at the first call: the window and that call's rows (a new session's first call is
     * usually a whole segment), allocated once. It used to start at window + 64 and double at the second segment: for
     * segments as long as the window, 2.5 windows of room where 2 are ever used, and an allocation plus a copy inside
     * the session's first ingest (JFR: a fifth of the plugin time of 8 new sessions' ingest).
     */
    @Test
    void aWindowCacheTakesRoomForItsWindowAndOneCallOnceAtTheFirstCall() {
        CachedAttention window = (CachedAttention) attention("window", Map.of("window", 48));
        assertEquals(0, window.capacity(), "nothing allocated before the first call");
        window.attend(segment(0, 48, 1));
        assertEquals(96, window.capacity(), "the window (48) and the call's 48 rows");
        for (int start = 48; start < 48 * 6; start += 48) {
            window.attend(segment(start, 48, start));
            assertEquals(96, window.capacity(), "a call of the same size at " + start + " grew the cache");
        }
        assertEquals(96, ((CachedAttention) window.copy()).capacity(), "a copy (a fork) has the room its original has");
        window.attend(segment(48 * 6, 64, 7));
        assertEquals(112, window.capacity(), "a longer call: the window and its 64 rows");
        window.reset();
        assertEquals(0, window.capacity(), "reset gives the room back");
    }

    @Test
    void bothBaselinesAreRegisteredByName() {
        assertTrue(registry.attentionNames().containsAll(java.util.List.of("full", "window")), registry.attentionNames().toString());
    }

    @Test
    void anUnknownPositionalEncodingNamesTheKeyAndTheChoices() {
        ConfigException e = assertThrows(ConfigException.class, () -> attention("full", Map.of("positional", "rotary")));
        assertTrue(e.getMessage().contains("'positional' is 'rotary'; valid: one of [none, rope, alibi]"), e.getMessage());
    }

    @Test
    void aNonPositiveThetaAndANegativeWindowAreRefusedTogether() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> attention("window", Map.of("ropeTheta", 0, "window", -1)));
        assertEquals(2, e.problems().size(), e.getMessage());
        assertTrue(e.getMessage().contains("'ropeTheta' is 0; valid: a finite number > 0"), e.getMessage());
        assertTrue(e.getMessage().contains("'window' is -1; valid: an integer in [0, 16777216]"), e.getMessage());
        assertTrue(e.getMessage().contains("layer 3 provider 'window'"), e.getMessage());
    }

    @Test
    void aMisspeltKeyGetsASuggestion() {
        ConfigException e = assertThrows(ConfigException.class, () -> attention("window", Map.of("windw", 8)));
        assertTrue(e.getMessage().contains("unknown key 'windw'; did you mean 'window'?"), e.getMessage());
        ConfigException full = assertThrows(ConfigException.class, () -> attention("full", Map.of("window", 8)));
        assertTrue(full.getMessage().contains("unknown key 'window'"), full.getMessage());
    }

    @Test
    void ropeNeedsAnEvenKeyDim() {
        LayerSpec odd = new LayerSpec(2, 2, 5, 4, 8);
        ConfigException e = assertThrows(ConfigException.class, () -> registry.newAttention("full", 0, odd, Map.of(), Map.of()));
        assertTrue(e.getMessage().contains("'positional' is rope but keyDim is 5; valid: an even keyDim"), e.getMessage());
        // Without rotation an odd key width is fine.
        registry.newAttention("full", 0, odd, Map.of("positional", "alibi"), Map.of());
    }

    @Test
    void relativeEncodingsDependOnDistancesNotOnWhereTheSequenceStarts() {
        for (String positional : new String[] {"rope", "alibi"}) {
            Attention atZero = attention("full", Map.of("positional", positional));
            Attention shifted = attention("full", Map.of("positional", positional));
            for (int s = 0; s < 3; s++) {
                Segment a = segment(5L * s, 5, s);
                Segment b = new Segment(1000 + 5L * s, a.q(), a.k(), a.v(), null, null);
                float[] x = atZero.attend(a).toArray();
                float[] y = shifted.attend(b).toArray();
                assertArrayEquals(x, y, 2e-4f, positional + " segment " + s);
            }
        }
    }

    @Test
    void aRefusedSegmentLeavesTheCacheAsItWas() {
        Attention a = attention("full", Map.of());
        a.attend(segment(0, 5, 1));
        byte[] before = a.snapshot().toBytes();
        SeededData.Inputs in = SeededData.inputs(SPEC, 3, 2);
        Tensor badV = SeededData.normal(3, 1f, SPEC.kvHeads(), 3, SPEC.valueDim() + 1);
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> a.attend(Segment.of(5, in.q(), in.k(), badV)));
        assertTrue(e.getMessage().contains("segment.v"), e.getMessage());
        assertArrayEquals(before, a.snapshot().toBytes(), "a refused segment changed the cache");
    }

    @Test
    void aSnapshotOfAnotherPositionalEncodingOrWindowIsRefused() {
        Attention rope = attention("window", Map.of());
        rope.attend(segment(0, 4, 1));
        Attention alibi = attention("window", Map.of("positional", "alibi"));
        SnapshotException e = assertThrows(SnapshotException.class, () -> alibi.restore(rope.snapshot()));
        assertTrue(e.getMessage().contains("snapshot.positional is rope; this attention uses alibi"), e.getMessage());
        Attention otherTheta = attention("window", Map.of("ropeTheta", 500.0));
        e = assertThrows(SnapshotException.class, () -> otherTheta.restore(rope.snapshot()));
        assertTrue(e.getMessage().contains("snapshot.ropeTheta is 10000.0; this attention uses 500.0"), e.getMessage());
        Attention otherWindow = attention("window", Map.of("window", 8));
        e = assertThrows(SnapshotException.class, () -> otherWindow.restore(rope.snapshot()));
        assertTrue(e.getMessage().contains("snapshot.window is 512; this attention's is 8"), e.getMessage());
    }

    @Test
    void fullStateGrowsWithTheTokensAndWindowStateIsTheWindow() {
        Attention full = attention("full", Map.of());
        Attention window = attention("window", Map.of("window", 6));
        long perToken = SPEC.kvHeads() * (SPEC.keyDim() + SPEC.valueDim()) * 4L + 8; // keys, values, position
        assertEquals(0, full.stateBytes());
        assertEquals(6 * perToken, window.stateBytes());
        long position = 0;
        for (int s = 0; s < 30; s++) {
            full.attend(segment(position, 5, s));
            window.attend(segment(position, 5, s));
            position += 5;
        }
        assertEquals(150 * perToken, full.stateBytes());
        assertEquals(6 * perToken, window.stateBytes());
        assertEquals(6, ((CachedAttention) window).cachedTokens());
        full.reset();
        assertEquals(0, full.stateBytes());
    }

    @Test
    void theOutputBufferIsReusedForSegmentsOfTheSameLength() {
        Attention a = attention("full", Map.of());
        Tensor first = a.attend(segment(0, 4, 1));
        Tensor second = a.attend(segment(4, 4, 2));
        assertTrue(first.array() == second.array(), "the output buffer should be reused");
    }
}
