package dev.engram.memory.continuous;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.CaseResult;
import dev.engram.conformance.ConformanceCase;
import dev.engram.conformance.ConformanceRunner;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The fast path against the double-precision reference on more seeds and shapes than the case files. */
class ReferenceAgreementTest {
    private final ConformanceRunner runner = new ConformanceRunner(ProviderRegistry.load());

    private void check(RefCases.Spec spec) {
        CaseResult r = runner.check(ConformanceCase.parse(spec.name(), RefCases.build(spec)));
        assertTrue(r.passed(), r.summaryLine() + " " + r.failures());
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void plain(long seed) {
        check(new RefCases.Spec("plain-" + seed, "", 3, 1, 5, 4, 7, RefCases.small("tau", 0.4),
                new int[] {4, 9, 1, 6}, false, seed));
    }

    @ParameterizedTest
    @ValueSource(longs = {4, 5, 6})
    void sticky(long seed) {
        check(new RefCases.Spec("sticky-" + seed, "", 2, 2, 3, 3, 5, RefCases.small("sticky", true, "seed", seed),
                new int[] {7, 2, 5, 8, 3}, seed % 2 == 0, seed));
    }

    @ParameterizedTest
    @ValueSource(longs = {7, 8})
    void gatedWithReset(long seed) {
        check(new RefCases.Spec("gated-" + seed, "", 2, 2, 3, 2, 6,
                RefCases.small("inputGate", "conv", "resetEvery", 10, "sticky", true),
                new int[] {6, 5, 4, 7}, true, seed));
    }

    @ParameterizedTest
    @ValueSource(longs = {9})
    void largerBasisWithDefaultWidths(long seed) {
        check(new RefCases.Spec("default-widths-" + seed, "", 2, 2, 4, 3, 5,
                Map.of("basis", 96, "samples", 48, "sticky", true, "bins", 24), new int[] {10, 7, 12}, false, seed));
    }
}
