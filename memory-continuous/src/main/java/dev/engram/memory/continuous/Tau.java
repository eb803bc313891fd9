package dev.engram.memory.continuous;

import java.util.Locale;

/**
 * The share of [0, 1] an update squeezes the resampled old signal into (docs/schemes.md section 2): a fixed
 * number in (0, 1), as in the paper, or {@code uniform}, written / (written + n) for n new rows after
 * {@code written} tokens, so that every token written since the memory was (re)started keeps an equal share of
 * the domain however long the sequence grows. A fixed tau leaves the segment written k updates ago a share
 * (1 - tau) tau^k: a recency-weighted summary whose shape changes with the length.
 */
record Tau(boolean uniform, double fixed) {
    static final Tau UNIFORM = new Tau(true, Double.NaN);
    static final String VALID = "a number in (0, 1), or 'uniform' (written / (written + n): every token an equal share)";

    static Tau of(double fixed) {
        if (!(fixed > 0 && fixed < 1)) {
            throw new IllegalArgumentException("not in (0, 1)");
        }
        return new Tau(false, fixed);
    }

    /** From configuration: a number, or the word {@code uniform}. */
    static Tau parse(Object raw) {
        if (raw instanceof Number n) {
            return of(n.doubleValue());
        }
        if (raw instanceof String s) {
            String t = s.trim();
            if (t.toLowerCase(Locale.ROOT).equals("uniform")) {
                return UNIFORM;
            }
            return of(Double.parseDouble(t));
        }
        throw new IllegalArgumentException("not a number");
    }

    /** The old signal's share for an update that writes {@code n} rows after {@code written} tokens (written > 0). */
    double forUpdate(long written, int n) {
        return uniform ? (double) written / (written + n) : fixed;
    }

    @Override
    public String toString() {
        return uniform ? "uniform" : Double.toString(fixed);
    }
}
