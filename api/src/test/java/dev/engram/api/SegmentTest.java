package dev.engram.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SegmentTest {
    private final LayerSpec spec = new LayerSpec(2, 1, 4, 3, 8);

    @Test
    void inputsMustAgreeOnTheTokenCount() {
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                () -> Segment.of(0, Tensor.zeros(2, 5, 4), Tensor.zeros(1, 4, 4), null));
        assertEquals("segment.k: has 4 tokens; the segment's other inputs have 5", e.getMessage());
    }

    @Test
    void requireAccessorsCheckShapeAgainstTheSpec() {
        Segment s = Segment.of(0, Tensor.zeros(2, 5, 4), Tensor.zeros(1, 5, 4), Tensor.zeros(1, 5, 4));
        assertEquals(5, s.length());
        s.requireQ(spec);
        s.requireK(spec);
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> s.requireV(spec));
        assertEquals("segment.v: has shape [1, 5, 4]; expected [1, 5, 3]", e.getMessage());
        InvalidInputException missing = assertThrows(InvalidInputException.class, () -> s.requireH(spec));
        assertEquals("segment.h: is missing; this provider needs it", missing.getMessage());
    }

    @Test
    void negativeStartAndEmptySegmentsAreRefused() {
        assertEquals("segment.startPosition: is -1; valid: >= 0", assertThrows(InvalidInputException.class,
                () -> Segment.of(-1, Tensor.zeros(2, 1, 4), null, null)).getMessage());
        assertTrue(assertThrows(InvalidInputException.class,
                () -> Segment.of(0, Tensor.zeros(2, 0, 4), null, null)).getMessage().contains(">= 1 token"));
    }

    @Test
    void uniformsMustLieInTheUnitInterval() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> new SamplingDraws(Tensor.of(new float[] {0.5f, 1f}, 2)));
        assertEquals("segment.uniforms[1]: is 1.0; valid: [0, 1)", e.getMessage());
    }

    /** A provider finds the extension of its type; others are absent; one of a type at a time. */
    @Test
    void extensionsAreTypedAndOptional() {
        Segment plain = Segment.of(0, Tensor.zeros(2, 1, 4), null, null);
        assertTrue(plain.extension(SamplingDraws.class).isEmpty());
        SamplingDraws draws = new SamplingDraws(Tensor.of(new float[] {0.25f}, 1));
        Segment with = plain.with(draws);
        assertSame(draws, with.extension(SamplingDraws.class).orElseThrow());
        assertTrue(plain.extension(SamplingDraws.class).isEmpty(), "with() leaves the original as it was");
        SamplingDraws other = new SamplingDraws(Tensor.of(new float[] {0.5f}, 1));
        assertSame(other, with.with(other).extension(SamplingDraws.class).orElseThrow(), "replaced, not added");
        assertEquals(1, with.with(other).extensions().size());
        assertEquals("segment.extensions: has two SamplingDraws; valid: at most one extension of each type",
                assertThrows(InvalidInputException.class, () -> new Segment(0, Tensor.zeros(2, 1, 4), null, null, null,
                        java.util.List.of(draws, other))).getMessage());
    }

    @Test
    void requireWithFromChecksTheShapeWholeAndFinitenessFromThatRowOn() {
        Tensor q = Tensor.zeros(2, 3, 4);
        Tensor k = Tensor.zeros(1, 3, 4);
        Tensor v = Tensor.zeros(1, 3, 3);
        q.set(Float.NaN, 1, 0, 2); // a row before 1: unspecified for attendRows and readRows from 1
        k.set(Float.NaN, 0, 1, 0);
        Segment segment = Segment.of(0, q, k, v);
        assertSame(q, segment.requireQ(spec, 1));
        assertThrows(InvalidInputException.class, () -> segment.requireQ(spec));
        assertSame(k, segment.requireK(spec, 2));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> segment.requireK(spec, 1));
        assertEquals("segment.k", e.field());
        assertSame(v, segment.requireV(spec, 0));
        Segment wrong = Segment.of(0, q, Tensor.zeros(2, 3, 4), v);
        assertThrows(ShapeMismatchException.class, () -> wrong.requireK(spec, 3)); // the shape is checked whole
    }
}
