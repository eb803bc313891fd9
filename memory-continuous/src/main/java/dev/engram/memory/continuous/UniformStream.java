package dev.engram.memory.continuous;

/**
 * The seeded uniform stream of sticky sampling: the k-th draw (k = 0, 1, ...) of seed s is
 * mix64(s + (k + 1) * 0x9E3779B97F4A7C15) >>> 11, times 2^-53 — exactly the sequence of
 * {@code new java.util.SplittableRandom(s).nextDouble()} (SplitMix64). Being counter-based, its whole
 * state is the number of draws taken, which a snapshot stores as one long and a restore resumes in O(1).
 */
final class UniformStream {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
    private static final double DOUBLE_UNIT = 0x1.0p-53;

    private UniformStream() {
    }

    static double draw(long seed, long index) {
        long z = seed + (index + 1) * GOLDEN_GAMMA;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        z = z ^ (z >>> 31);
        return (z >>> 11) * DOUBLE_UNIT;
    }
}
