package dev.engram.examples.ema;

import dev.engram.tck.ConformanceContract;

/** Runs every case under src/test/resources/conformance/. */
class EmaConformanceTest extends ConformanceContract {
}
