package dev.engram.conformance;

import java.util.List;

/**
 * The outcome of one case.
 *
 * @param worstAbsError  the largest |actual - expected| over every compared value
 * @param worstRatio     the largest |actual - expected| / (abs + rel * |expected|); the case passes when it is <= 1
 * @param failures       what did not match, one line each (empty when passed)
 * @param error          set when the case could not be run (malformed case, provider refused its config); the message names the field
 */
public record CaseResult(String name, boolean passed, double worstAbsError, double worstRatio, long comparedValues,
                         List<String> failures, String error) {

    /** One line for a terminal: name, worst error, PASS/FAIL/ERROR. */
    public String summaryLine() {
        if (error != null) {
            return String.format("ERROR %s: %s", name, error);
        }
        return String.format("%s %s  worst |err| %.3g (%.3g of tolerance) over %d values",
                passed ? "PASS " : "FAIL ", name, worstAbsError, worstRatio, comparedValues);
    }

    static CaseResult error(String name, String message) {
        return new CaseResult(name, false, Double.NaN, Double.NaN, 0, List.of(), message);
    }
}
