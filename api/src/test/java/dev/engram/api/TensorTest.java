package dev.engram.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TensorTest {
    private static Tensor iota(int... shape) {
        Tensor t = Tensor.zeros(shape);
        for (int i = 0; i < t.size(); i++) {
            t.array()[i] = i;
        }
        return t;
    }

    @Test
    void rowMajorIndexing() {
        Tensor t = iota(2, 3, 4);
        assertEquals(1 * 12 + 2 * 4 + 3, t.get(1, 2, 3));
        assertEquals(12, t.stride(0));
        assertEquals(4, t.stride(1));
        assertEquals(1, t.stride(2));
    }

    @Test
    void viewRefusesANullArrayAnArrayTooShortAndAnOffsetOutOfRangeNamingTheField() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Tensor.view(null, 0, 2, 3));
        assertEquals("data: is null; valid: an array of at least 6 values for shape [2, 3]", e.getMessage());
        assertEquals("data", e.field());
        e = assertThrows(ShapeMismatchException.class, () -> Tensor.view(new float[4], 0, 2, 3));
        assertEquals("data: has 4 values; shape [2, 3] needs 6", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> Tensor.view(new float[8], 3, 2, 3));
        assertEquals("offset: is 3; valid: [0, 2] for shape [2, 3] over 8 values", e.getMessage());
        assertEquals("shape: is null", assertThrows(InvalidInputException.class,
                () -> Tensor.view(new float[8], 0, (int[]) null)).getMessage());
        assertEquals(5f, Tensor.view(new float[] {0, 0, 5, 0, 0, 0, 0, 0}, 2, 2, 3).get(0, 0));
    }

    @Test
    void selectIsAZeroCopyView() {
        Tensor t = iota(2, 3, 4);
        Tensor head = t.select(1);
        assertSame(t.array(), head.array());
        assertArrayEquals(new int[] {3, 4}, head.shape());
        assertEquals(12, head.offset());
        head.set(-1f, 0, 0);
        assertEquals(-1f, t.get(1, 0, 0), "writes through a view reach the parent");
        Tensor row = head.select(2);
        assertEquals(12 + 8, row.offset());
        assertEquals(12 + 8 + 1, row.get(1));
    }

    @Test
    void reshapeKeepsElementsAndRefusesOtherCounts() {
        Tensor t = iota(2, 6);
        Tensor r = t.reshape(3, 4);
        assertSame(t.array(), r.array());
        assertEquals(5f, r.get(1, 1));
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> t.reshape(5, 2));
        assertTrue(e.getMessage().contains("[2, 6]") && e.getMessage().contains("[5, 2]"), e.getMessage());
    }

    @Test
    void ofChecksTheDataLength() {
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> Tensor.of(new float[5], 2, 3));
        assertEquals("data: has 5 values; shape [2, 3] needs 6", e.getMessage());
    }

    @Test
    void negativeDimensionsAreRefusedWithTheirIndex() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Tensor.zeros(2, -1));
        assertEquals("shape[1]: is -1; valid: >= 0", e.getMessage());
    }

    @Test
    void indexOutOfRangeNamesTheAxisAndRange() {
        Tensor t = iota(2, 3);
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> t.get(1, 3));
        assertEquals("index[1]: is 3; valid: [0, 2]", e.getMessage());
        assertThrows(InvalidInputException.class, () -> t.select(2));
    }

    @Test
    void requireShapeNamesTheFieldAndBothShapes() {
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                () -> iota(2, 3).requireShape("segment.q", 2, 4));
        assertEquals("segment.q: has shape [2, 3]; expected [2, 4]", e.getMessage());
    }

    @Test
    void requireFiniteNamesTheFirstBadElement() {
        Tensor t = iota(2, 3);
        t.set(Float.NaN, 1, 2);
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> t.requireFinite("segment.k"));
        assertEquals("segment.k: element [1, 2] is NaN; valid: finite values", e.getMessage());
        assertEquals("segment.k", e.field());
    }

    @Test
    void requireFiniteFindsABadValueAtEveryPlaceOfTheUnrolledCheck() {
        // 21 elements: two blocks of eight and a tail of five, each position holding each kind of bad value once
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (int at = 0; at < 21; at++) {
                Tensor t = Tensor.of(new float[21], 21);
                t.fill(-Float.MAX_VALUE); // the largest finite values pass, and -0 sums stay zero
                t.set(bad, at);
                InvalidInputException e = assertThrows(InvalidInputException.class, () -> t.requireFinite("x"));
                assertEquals("x: element [" + at + "] is " + bad + "; valid: finite values", e.getMessage());
            }
        }
        Tensor.of(new float[] {-0f, Float.MAX_VALUE, -Float.MIN_VALUE, 0f, 1e-45f, -3f, 7f, -0f, 5f}, 9)
                .requireFinite("x");
        // a view checks its own elements, not the array's others
        float[] shared = {Float.NaN, 1f, 2f, Float.NaN};
        Tensor.view(shared, 1, 2).requireFinite("x");
    }

    @Test
    void requireFiniteRowsChecksRowsFromTheGivenOneInEveryHead() {
        Tensor t = Tensor.zeros(2, 4, 3); // [heads, rows, width]
        t.set(Float.POSITIVE_INFINITY, 0, 1, 2);
        t.set(Float.NaN, 1, 0, 0);
        t.requireFiniteRows("segment.k", 2); // both bad values lie in rows before 2
        t.set(Float.NEGATIVE_INFINITY, 1, 3, 1);
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> t.requireFiniteRows("segment.k", 2));
        assertEquals("segment.k: element [1, 3, 1] is -Infinity; valid: finite values", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> t.requireFiniteRows("segment.k", 1));
        assertEquals("segment.k: element [0, 1, 2] is Infinity; valid: finite values", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> t.requireFiniteRows("segment.k", 5));
        assertEquals("from", e.field());
        Tensor.zeros(3, 2).requireFiniteRows("segment.h", 2); // [N, e]: no rows from 2, nothing to check
        assertThrows(ShapeMismatchException.class, () -> Tensor.zeros(3).requireFiniteRows("x", 0));
    }

    @Test
    void bitEqualsComparesBitsAndShape() {
        Tensor a = Tensor.of(new float[] {0f, 1f}, 2);
        assertTrue(a.bitEquals(Tensor.of(new float[] {0f, 1f}, 2)));
        assertFalse(a.bitEquals(Tensor.of(new float[] {-0f, 1f}, 2)), "-0 and +0 differ in bits");
        assertFalse(a.bitEquals(Tensor.of(new float[] {0f, 1f}, 1, 2)));
    }

    @Test
    void copyOwnsItsArray() {
        Tensor t = iota(2, 2).select(1);
        Tensor c = t.copy();
        c.set(100f, 0);
        assertEquals(2f, t.get(0));
        assertEquals(0, c.offset());
    }
}
