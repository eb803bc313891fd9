package dev.engram.spi;

/**
 * The version of this SPI. A provider returns {@link #CURRENT} from {@link Provider#spiVersion()}:
 * because it is a compile-time constant, javac copies the value into the provider's class, so the
 * provider reports the SPI it was BUILT against, and the registry compares that with the SPI it
 * RUNS against. A different major version is refused with a clear error at load time instead of a
 * NoSuchMethodError in the middle of a request.
 */
public final class SpiVersion {
    /** Bump when a change to this module breaks compiled providers. */
    public static final int CURRENT = 1;

    private SpiVersion() {
    }
}
