package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The held rows of a segment in progress: room that grows with the rows, every row kept where it was put. */
class SegmentRowsTest {
    private static final int LAYERS = 2;
    private static final int KV_HEADS = 2;
    private static final int HEADS = 4;
    private static final int SEGMENT = 40;
    private static final int KEY_DIM = 3;
    private static final int VALUE_DIM = 2;
    private static final int MODEL_DIM = 5;

    /** A distinct value per (layer, kind, head, row, dim), so a row moved to the wrong place is seen. */
    private static float value(int layer, int kind, int head, int row, int d) {
        return layer * 100000 + kind * 10000 + head * 1000 + row * 10 + d;
    }

    /** {@code rows} rows starting at row {@code from} in the engine's [heads, rows, dim] call layout. */
    private static float[] callRows(int layer, int kind, int count, int from, int rows, int dim) {
        float[] a = new float[count * rows * dim];
        for (int h = 0; h < count; h++) {
            for (int r = 0; r < rows; r++) {
                for (int d = 0; d < dim; d++) {
                    a[(h * rows + r) * dim + d] = value(layer, kind, h, from + r, d);
                }
            }
        }
        return a;
    }

    private static void put(SegmentRows held, int from, int rows) {
        for (int l = 0; l < LAYERS; l++) {
            held.put(l, from, rows, callRows(l, 0, KV_HEADS, from, rows, KEY_DIM), 0, rows * KEY_DIM,
                    callRows(l, 1, KV_HEADS, from, rows, VALUE_DIM), 0, rows * VALUE_DIM);
            held.putQueries(l, from, rows, callRows(l, 2, HEADS, from, rows, KEY_DIM), 0, rows * KEY_DIM,
                    callRows(l, 3, 1, from, rows, MODEL_DIM), 0);
        }
        held.held = from + rows;
    }

    private static void assertHolds(SegmentRows held, int n) {
        for (int l = 0; l < LAYERS; l++) {
            float[] k = new float[KV_HEADS * n * KEY_DIM];
            float[] v = new float[KV_HEADS * n * VALUE_DIM];
            float[] q = new float[HEADS * n * KEY_DIM];
            float[] h = new float[n * MODEL_DIM];
            held.pack(l, n, k, v);
            held.packQueries(l, n, q, h);
            assertArrayEquals(callRows(l, 0, KV_HEADS, 0, n, KEY_DIM), k, "keys of layer " + l);
            assertArrayEquals(callRows(l, 1, KV_HEADS, 0, n, VALUE_DIM), v, "values of layer " + l);
            assertArrayEquals(callRows(l, 2, HEADS, 0, n, KEY_DIM), q, "queries of layer " + l);
            assertArrayEquals(callRows(l, 3, 1, 0, n, MODEL_DIM), h, "hidden states of layer " + l);
        }
    }

    @Test
    void roomGrowsWithTheRowsAndEveryRowStaysWhereItWasPut() {
        SegmentRows held = new SegmentRows(LAYERS, KV_HEADS, SEGMENT, KEY_DIM, VALUE_DIM, HEADS, MODEL_DIM);
        assertEquals(0, held.capacity(), "no room before the first row");
        assertEquals(0, held.bytes());
        put(held, 0, 3); // a prompt's tail
        assertEquals(SegmentRows.FIRST_ROWS, held.capacity());
        int[] expected = new int[SEGMENT + 1];
        for (int n = 4; n <= SEGMENT; n++) { // then decoded tokens, one row each
            put(held, n - 1, 1);
            expected[n] = n <= 16 ? 16 : n <= 32 ? 32 : SEGMENT;
            assertEquals(expected[n], held.capacity(), "room after " + n + " rows");
            assertHolds(held, n);
        }
        long segmentFloats = (long) SEGMENT * (KV_HEADS * (KEY_DIM + VALUE_DIM) + HEADS * KEY_DIM + MODEL_DIM);
        assertEquals(4 * LAYERS * segmentFloats, held.bytes(), "at most a segment's room");
    }

    @Test
    void aCopyHoldsTheSameRowsAndGrowsOnItsOwn() {
        SegmentRows held = new SegmentRows(LAYERS, KV_HEADS, SEGMENT, KEY_DIM, VALUE_DIM, HEADS, MODEL_DIM);
        put(held, 0, 10);
        SegmentRows copy = held.copy();
        assertEquals(16, copy.capacity());
        assertHolds(copy, 10);
        put(copy, 10, 20); // the copy grows to 32 rows; the original keeps its 16 and its 10 rows
        assertEquals(32, copy.capacity());
        assertHolds(copy, 30);
        assertEquals(16, held.capacity());
        assertHolds(held, 10);
    }
}
