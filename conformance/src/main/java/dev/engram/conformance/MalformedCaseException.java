package dev.engram.conformance;

import dev.engram.api.EngramException;

/** A conformance case document is not valid: the message names the field (a JSON path) and what is wrong. */
public class MalformedCaseException extends EngramException {
    public MalformedCaseException(String message) {
        super(message);
    }

    public MalformedCaseException(String message, Throwable cause) {
        super(message, cause);
    }
}
