package dev.engram.api;

/** A memory's state went NaN or infinite; the memory refuses to propagate it. */
public class NonFiniteStateException extends EngramException {
    public NonFiniteStateException(String message) {
        super(message);
    }
}
