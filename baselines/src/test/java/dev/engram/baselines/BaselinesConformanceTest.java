package dev.engram.baselines;

import dev.engram.tck.ConformanceContract;

/** Runs every case under src/test/resources/conformance/ (hand-*, ref-* and torch-*). */
class BaselinesConformanceTest extends ConformanceContract {
}
