package dev.engram.api;

/** A value handed to Engram is out of range, mis-shaped or not finite. */
public class InvalidInputException extends EngramException {
    private final String field;

    public InvalidInputException(String field, String message) {
        super(field + ": " + message);
        this.field = field;
    }

    /** "{field} is {value}; valid: {valid}". */
    public static InvalidInputException outOfRange(String field, Object value, String valid) {
        return new InvalidInputException(field, "is " + value + "; valid: " + valid);
    }

    public String field() {
        return field;
    }
}
