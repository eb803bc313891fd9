package dev.engram.api;

/** Root of every error Engram reports. Messages name the thing, the value, and what would be valid. */
public class EngramException extends RuntimeException {
    public EngramException(String message) {
        super(message);
    }

    public EngramException(String message, Throwable cause) {
        super(message, cause);
    }
}
