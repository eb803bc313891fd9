package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Attention;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.conformance.SeededData;
import dev.engram.spi.ProviderRegistry;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A segment in progress is decoded with {@link Attention#attendRows}, given again whole and one row longer every call;
 * the cache keeps what the last call staged and stages only the new rows. Whatever it kept, every output must be
 * bit-identical to that of a fresh copy of the same cache that stages everything, and a changed earlier row (a
 * different value, or a NaN) must be seen: staged again, or refused.
 */
class StagedRowsTest {
    private static final LayerSpec SPEC = new LayerSpec(4, 2, 64, 40, 8);

    static Stream<Arguments> configs() {
        return Stream.of(
                Arguments.of("full", Map.of("positional", "rope", "ropeTheta", 10000.0)),
                Arguments.of("full", Map.of("positional", "alibi", "kvCache", "bfloat16")),
                Arguments.of("window", Map.of("positional", "rope", "ropeTheta", 10000.0, "window", 24, "sinks", 3)),
                Arguments.of("window", Map.of("positional", "none", "window", 16, "kvCache", "bfloat16")));
    }

    private static Attention attention(String name, Map<String, Object> config) {
        return ProviderRegistry.load().newAttention(name, 0, SPEC, config, Map.of());
    }

    /** Rows [0, n) of a [heads, N, d] tensor, as a new tensor. */
    private static Tensor rows(Tensor t, int n) {
        int heads = t.dim(0);
        int d = t.dim(2);
        Tensor out = Tensor.zeros(heads, n, d);
        for (int h = 0; h < heads; h++) {
            System.arraycopy(t.array(), t.offset() + h * t.dim(1) * d, out.array(), h * n * d, n * d);
        }
        return out;
    }

    /** What a copy that has staged nothing gives (copies start with no staged rows). */
    private static float[] fresh(Attention attention, Segment segment, int from) {
        return ((Attention) attention.copy()).attendRows(segment, from).toArray();
    }

    @ParameterizedTest
    @MethodSource("configs")
    void decodingRowByRowGivesWhatAFreshCacheGivesAndTheCommitTooAfterwards(String name, Map<String, Object> config) {
        // the commit reuses the rows staged while decoding: the same outputs and cache as attending at once
        decodeCommitAndProbe(name, config, false);
    }

    /**
     * The engine's decode path: each call gives only its new row ({@link Attention#attendNewRows}, earlier rows zeros,
     * vouched for by the caller), and the cache keeps no copy of the rows as given; the commit ({@code attend} or
     * {@code append} of the whole segment) then recognises nothing and stages every row again. Outputs and the cache
     * after it must be those of attending the segment at once.
     */
    @ParameterizedTest
    @MethodSource("configs")
    void rowsDecodedWithAttendNewRowsAreStagedAgainByTheCommit(String name, Map<String, Object> config) {
        decodeCommitAndProbe(name, config, true);
    }

    /**
     * Three segments, each decoded row by row ({@link #decodeRowByRow}) and then committed whole, beside a cache that
     * attends each segment at once: the commits' outputs, and a probe segment's after them, must be equal. With
     * {@code newRowOnly} the second segment is committed by {@code append} (no outputs), the others by {@code attend}.
     */
    private static void decodeCommitAndProbe(String name, Map<String, Object> config, boolean newRowOnly) {
        Attention decoding = attention(name, config);
        Attention whole = attention(name, config);
        int n = 20;
        long position = 0;
        for (int s = 0; s < 3; s++) {
            SeededData.Inputs in = SeededData.inputs(SPEC, n, newRowOnly ? 17 * s + 3 : 31 * s + 7);
            decodeRowByRow(decoding, in, position, newRowOnly, name + " segment " + s);
            Segment segment = Segment.of(position, in.q(), in.k(), in.v());
            if (newRowOnly && s == 1) {
                whole.append(segment);
                decoding.append(segment);
            } else {
                assertArrayEquals(whole.attend(segment).toArray(), decoding.attend(segment).toArray(), name + " segment " + s);
            }
            position += n;
        }
        SeededData.Inputs next = SeededData.inputs(SPEC, 5, newRowOnly ? 98 : 99);
        Segment probe = Segment.of(position, next.q(), next.k(), next.v());
        assertArrayEquals(whole.attendRows(probe, 0).toArray(), decoding.attendRows(probe, 0).toArray());
    }

    /**
     * Decodes the segment {@code in} at {@code position} one row per call, each output checked against a fresh copy
     * that stages everything: through {@code attendRows} (the segment so far given whole), or with {@code newRowOnly}
     * through {@code attendNewRows} (the earlier rows zeros, as the engine gives them).
     */
    private static void decodeRowByRow(Attention decoding, SeededData.Inputs in, long position, boolean newRowOnly,
                                       String what) {
        for (int m = 1; m <= in.q().dim(1); m++) {
            Segment prefix = Segment.of(position, rows(in.q(), m), rows(in.k(), m), rows(in.v(), m));
            float[] want = fresh(decoding, prefix, m - 1);
            Tensor got = newRowOnly
                    ? decoding.attendNewRows(Segment.of(position, zeroedBefore(prefix.q(), m - 1),
                            zeroedBefore(prefix.k(), m - 1), zeroedBefore(prefix.v(), m - 1)), m - 1)
                    : decoding.attendRows(prefix, m - 1);
            assertArrayEquals(want, got.toArray(), what + " row " + (m - 1));
        }
    }

    /** A copy of a [heads, N, d] tensor with rows [0, from) zeroed. */
    private static Tensor zeroedBefore(Tensor t, int from) {
        Tensor out = rows(t, t.dim(1));
        int d = t.dim(2);
        for (int h = 0; h < t.dim(0); h++) {
            java.util.Arrays.fill(out.array(), h * t.dim(1) * d, h * t.dim(1) * d + from * d, 0f);
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("configs")
    void aChangedEarlierRowIsStagedAgainAndANonFiniteOneRefused(String name, Map<String, Object> config) {
        Attention attention = attention(name, config);
        SeededData.Inputs first = SeededData.inputs(SPEC, 16, 3);
        attention.attend(Segment.of(0, first.q(), first.k(), first.v()));
        SeededData.Inputs in = SeededData.inputs(SPEC, 10, 4);
        for (int m = 1; m <= 8; m++) {
            attention.attendRows(Segment.of(16, rows(in.q(), m), rows(in.k(), m), rows(in.v(), m)), m - 1);
        }
        // row 2 of kv head 1 changes in its key, then row 5 of kv head 0 in its value: both staged again
        Tensor k = rows(in.k(), 9);
        Tensor v = rows(in.v(), 9);
        k.set(k.get(1, 2, 7) + 0.5f, 1, 2, 7);
        Segment changedKey = Segment.of(16, rows(in.q(), 9), k, v);
        float[] want = fresh(attention, changedKey, 8);
        assertArrayEquals(want, attention.attendRows(changedKey, 8).toArray(), "changed key");
        Tensor v2 = v.copy();
        v2.set(-v2.get(0, 5, 3), 0, 5, 3);
        Segment changedValue = Segment.of(16, rows(in.q(), 9), k, v2);
        want = fresh(attention, changedValue, 8);
        assertArrayEquals(want, attention.attendRows(changedValue, 8).toArray(), "changed value");
        // a NaN in a row staged before is found, named, and changes nothing
        Snapshot before = attention.snapshot();
        Tensor bad = v2.copy();
        bad.set(Float.NaN, 1, 4, 0);
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> attention.attendRows(Segment.of(16, rows(in.q(), 9), k, bad), 8));
        assertTrue(e.getMessage().contains("segment.v") && e.getMessage().contains("[1, 4, 0]"), e.getMessage());
        assertArrayEquals(before.payload(), attention.snapshot().payload());
        assertArrayEquals(want, attention.attendRows(changedValue, 8).toArray(), "after the refusal");
    }

    @ParameterizedTest
    @MethodSource("configs")
    void restoringOrResettingForgetsTheStagedRows(String name, Map<String, Object> config) {
        Attention attention = attention(name, config);
        Attention other = attention(name, config);
        SeededData.Inputs a = SeededData.inputs(SPEC, 16, 5);
        SeededData.Inputs b = SeededData.inputs(SPEC, 16, 6);
        attention.attend(Segment.of(0, a.q(), a.k(), a.v()));
        other.attend(Segment.of(0, b.q(), b.k(), b.v())); // same length and positions, another cache
        SeededData.Inputs in = SeededData.inputs(SPEC, 6, 7);
        for (int m = 1; m <= 5; m++) {
            attention.attendRows(Segment.of(16, rows(in.q(), m), rows(in.k(), m), rows(in.v(), m)), m - 1);
        }
        attention.restore(other.snapshot());
        Segment six = Segment.of(16, in.q(), in.k(), in.v());
        assertArrayEquals(other.attendRows(six, 5).toArray(), attention.attendRows(six, 5).toArray(), "after restore");
        // rows staged into arrays grown past their first size; reset goes back to new arrays, without those rows
        attention.reset();
        SeededData.Inputs big = SeededData.inputs(SPEC, 100, 8);
        Segment longFirst = Segment.of(0, big.q(), big.k(), big.v());
        attention.attendRows(longFirst, 99);
        attention.reset();
        Attention empty = attention(name, config);
        assertArrayEquals(empty.attendRows(longFirst, 99).toArray(), attention.attendRows(longFirst, 99).toArray(),
                "after reset");
    }
}
