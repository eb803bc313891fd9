package dev.engram.spi.kernel;

import java.util.Locale;

/** Decides, once per process, which {@link FloatKernels} run. */
final class KernelChoice {
    static final String PROPERTY = "engram.kernels";
    static final String VECTOR_MODULE = "jdk.incubator.vector";
    private static final System.Logger LOG = System.getLogger(FloatKernels.class.getName());

    static final FloatKernels CHOSEN = choose(System.getProperty(PROPERTY, "auto"),
            ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent());

    private KernelChoice() {
    }

    /**
     * {@code wanted} is the {@value #PROPERTY} property: "auto" (SIMD where the Vector API is present, with
     * one warning line where not), "scalar" or "panama" (which fails without the module).
     */
    static FloatKernels choose(String wanted, boolean vectorModulePresent) {
        switch (wanted.toLowerCase(Locale.ROOT)) {
            case "scalar":
                return new ScalarFloatKernels();
            case "panama":
                if (!vectorModulePresent) {
                    throw new IllegalStateException("-D" + PROPERTY + "=panama needs the JVM option --add-modules "
                            + VECTOR_MODULE + "; valid values: auto, scalar, panama");
                }
                return panama(true);
            case "auto":
                if (vectorModulePresent) {
                    return panama(false);
                }
                LOG.log(System.Logger.Level.WARNING, "SIMD kernels off: start the JVM with --add-modules "
                        + VECTOR_MODULE + " (the engram launcher does) for several times faster attention and"
                        + " memory loops; using plain loops");
                return new ScalarFloatKernels();
            default:
                throw new IllegalArgumentException("-D" + PROPERTY + " is '" + wanted
                        + "'; valid values: auto, scalar, panama");
        }
    }

    /**
     * Loaded by name so that this class, and a JVM without the module, never link against jdk.incubator.vector.
     * A failure falls back to the plain loops with a warning, unless the SIMD ones were asked for by name.
     */
    private static FloatKernels panama(boolean required) {
        try {
            return (FloatKernels) Class.forName("dev.engram.spi.kernel.PanamaFloatKernels")
                    .getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            if (required) {
                throw new IllegalStateException("-D" + PROPERTY + "=panama: the SIMD kernels failed to load: " + e, e);
            }
            LOG.log(System.Logger.Level.WARNING, "SIMD kernels failed to load (" + e + "); using plain loops");
            return new ScalarFloatKernels();
        }
    }
}
