/**
 * Float loops and head-parallel helpers for plugins' hot paths: {@link dev.engram.spi.kernel.FloatKernels} (SIMD
 * through the Vector API where the JVM has it, plain loops otherwise) and {@link dev.engram.spi.kernel.ParallelHeads}.
 *
 * <p>Status: <b>supported for plugins, but not yet stable</b>. Plugins may call the public types here (the bundled
 * memories do, and examples/README.md shows how), and their results are exact as documented; signatures may still
 * change with an SPI version bump ({@link dev.engram.spi.SpiVersion}). {@code KernelChoice},
 * {@code PanamaFloatKernels} and {@code ScalarFloatKernels} are implementation: use {@code FloatKernels.get()}.
 */
package dev.engram.spi.kernel;
