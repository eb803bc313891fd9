package dev.engram.api;

/** A provider cannot be found, is registered twice, or was built against an incompatible SPI. */
public class ProviderException extends EngramException {
    public ProviderException(String message) {
        super(message);
    }

    public ProviderException(String message, Throwable cause) {
        super(message, cause);
    }
}
