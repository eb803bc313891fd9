package dev.engram.spi;

/**
 * The version of this SPI. A provider returns {@link #CURRENT} from {@link Provider#spiVersion()}:
 * because it is a compile-time constant, javac copies the value into the provider's class, so the
 * provider reports the SPI it was BUILT against, and the registry compares that with the SPI it
 * RUNS against.
 *
 * <p>The rule: a provider built against any version from {@link #OLDEST_SUPPORTED} to {@link #CURRENT} loads. An
 * addition that compiled providers do not need to know about (a new default method, a new capability) bumps
 * {@code CURRENT} only, so plugins built before it keep working; a change that breaks compiled providers raises
 * {@code OLDEST_SUPPORTED} to the new {@code CURRENT}. A provider built against a newer SPI than this runtime's is
 * refused (it may call what this runtime lacks), and so is one older than {@code OLDEST_SUPPORTED}: each with a clear
 * error at load time instead of a NoSuchMethodError in the middle of a request.
 *
 * <p>History: 1, the first. 2: the ∞-former's {@code uniforms} left the core {@code Segment} record for the typed
 * {@code SamplingDraws} extension (a plugin compiled against 1 that reads {@code segment.uniforms()} would fail with a
 * NoSuchMethodError, so 1 is no longer supported and such a plugin is refused at load time, naming the version), and
 * the state types gained {@code copy()} for cheap forks (a default method: a plugin rebuilt against 2 needs no change
 * for it). 3: {@code ConfigKey.of}, a key of a provider's own value type (an addition: providers built against 2
 * still load).
 */
public final class SpiVersion {
    /** The version this SPI is: bump it with every change to this module's types (or the api's they use). */
    public static final int CURRENT = 3;
    /** The oldest version whose compiled providers still work here: raise it when a change breaks them. */
    public static final int OLDEST_SUPPORTED = 2;

    private SpiVersion() {
    }

    /** Whether a provider built against {@code builtAgainst} runs on an SPI that is {@code current} and still supports {@code oldest}. */
    static boolean compatible(int builtAgainst, int oldest, int current) {
        return builtAgainst >= oldest && builtAgainst <= current;
    }

    /** "1" or "1 to 3": what this runtime accepts, for messages. */
    static String accepted() {
        return OLDEST_SUPPORTED == CURRENT ? String.valueOf(CURRENT) : OLDEST_SUPPORTED + " to " + CURRENT;
    }
}
