package dev.engram.memory.lsh;

import dev.engram.tck.ConformanceContract;

/** Every case under src/test/resources/conformance: hand-*, ref-* (RefCaseGenerator) and torch-*. */
class LshConformanceTest extends ConformanceContract {
}
