package dev.engram.api;

import java.util.Arrays;

/** A tensor does not have the shape its role requires. */
public class ShapeMismatchException extends InvalidInputException {
    public ShapeMismatchException(String field, int[] expected, int[] actual) {
        super(field, "has shape " + Arrays.toString(actual) + "; expected " + Arrays.toString(expected));
    }

    public ShapeMismatchException(String field, String message) {
        super(field, message);
    }
}
