package dev.engram.api;

/** A snapshot cannot be read or does not belong to the memory it is restored into. Nothing was changed. */
public class SnapshotException extends EngramException {
    public SnapshotException(String message) {
        super(message);
    }

    public SnapshotException(String message, Throwable cause) {
        super(message, cause);
    }
}
