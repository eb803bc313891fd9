package dev.engram.memory.infini;

import dev.engram.tck.ConformanceContract;

/** Runs every case in src/test/resources/conformance: hand-*.json (worked by hand), ref-*.json (InfiniReference). */
class InfiniConformanceTest extends ConformanceContract {
}
