package dev.engram.cli.bench;

/**
 * One (strategy, sessions) result of {@code engram bench --concurrency}: {@code sessions} sequences served together
 * through {@code Engine.forwardBatch}, first ingesting their contexts in one call, then decoding one greedy token each
 * per step. {@code skipped} is null when measured, else why not.
 *
 * @param contextTokens          tokens ingested, all sessions together (session i: the context length + i S / sessions,
 *                               so that the sessions sit at different places in their segments)
 * @param ingestTokensPerSecond  contextTokens / wall time of the ingest call
 * @param ingestOutsideOnnxShare share of the ingest call's wall time spent outside OrtSession.run
 * @param decodeSteps            decode steps (one token per session each)
 * @param decodeTokensPerSecond  sessions x decodeSteps / wall time of the steps
 * @param decodeOutsideOnnxShare share of the decode steps' wall time spent outside OrtSession.run
 * @param p50Millis              median per-token latency: a token's latency is the wall time of the step that made it
 * @param p99Millis              99th percentile of the same
 * @param maxDiffVsAlone         the largest |logit difference| between the first decode step's batched results and the
 *                               same tokens fed to each session's fork alone (0 = bit-equal)
 * @param stepMillis             each decode step's wall time, in order (bench.json: where a p99 comes from)
 */
public record ConcurrencyResult(String strategy, int sessions, long contextTokens, double ingestTokensPerSecond,
                                double ingestOutsideOnnxShare, int decodeSteps, double decodeTokensPerSecond,
                                double decodeOutsideOnnxShare, double p50Millis, double p99Millis, double maxDiffVsAlone,
                                double[] stepMillis, String skipped) {
    static ConcurrencyResult skipped(String strategy, int sessions, String why) {
        return new ConcurrencyResult(strategy, sessions, 0, 0, 0, 0, 0, 0, 0, 0, 0, new double[0], why);
    }

    public boolean measured() {
        return skipped == null;
    }

    /** The value at quantile {@code q} of sorted {@code values} (nearest rank). */
    static double quantile(double[] sorted, double q) {
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
