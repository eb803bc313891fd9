package dev.engram.cli.bench;

/**
 * One (strategy, weight type, context length) result of the Engram side. Times are wall clock; memory is read after the
 * ingest (a full GC first for the heap figure). {@code skipped} is null when measured, else why not.
 *
 * @param weights               the package's weight type: float32, or int8/int4 for a quantized package
 *                              ({@code ModelManifest.weightType})
 * @param ingestTokensPerSecond context tokens / seconds of one {@code Engine.ingest} call over the whole context
 * @param firstDecodeMillis     latency of the first token fed after the context, timed alone and not in any run: a
 *                              fresh sequence whose context ends on a segment boundary allocates its held rows (the
 *                              segment in progress's keys and values per layer, tens of MB at the GPT-2 shape) in that
 *                              token, once in its life; NaN when decode is not measured
 * @param decodeMillisPerToken  latency of feeding one generated token after that first one (greedy): the median over
 *                              the decode runs of each run's mean
 * @param decodeRunMillis       each decode run's mean ms per token, in the order run (empty when not measured)
 * @param heapBytes             JVM heap in use after a full GC
 * @param rssBytes              the process's resident set (VmRSS, /proc/self/status): heap + native (ONNX Runtime,
 *                              direct buffers, JIT), process-wide, so it also holds what earlier runs left behind
 * @param stateBytes            ModelSequence.stateBytes(): every layer's attention cache and memory
 * @param segmentMillis         mean wall time of one complete segment (Engine's SegmentListener)
 * @param pluginShare           share of the segments' time spent in the attention/memory plugins (TimedProviders)
 * @param onnxShare             share of the segments' time spent inside OrtSession.run (Engine.onnxNanos); the
 *                              rest, {@link #outsideOnnxShare()}, is the Java side: plugins, copies, glue
 */
public record Measurement(String strategy, String weights, int length, double ingestTokensPerSecond, double firstDecodeMillis,
                          double decodeMillisPerToken,
                          java.util.List<Double> decodeRunMillis, long heapBytes, long rssBytes, long stateBytes, double segmentMillis, double pluginShare,
                          double onnxShare, String skipped) {
    static Measurement skipped(String strategy, String weights, int length, String why) {
        return new Measurement(strategy, weights, length, 0, Double.NaN, 0, java.util.List.of(), 0, 0, 0, 0, 0, 0, why);
    }

    /**
     * (slowest run - fastest run) / median of {@link #decodeRunMillis}: how far apart repeated decode figures lie;
     * NaN with fewer than two runs.
     */
    public double decodeSpread() {
        if (decodeRunMillis.size() < 2) {
            return Double.NaN;
        }
        double min = decodeRunMillis.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
        double max = decodeRunMillis.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        return (max - min) / decodeMillisPerToken;
    }

    /** The median of {@code runs} (the mean of the middle two for an even count); 0 for none. */
    static double median(java.util.List<Double> runs) {
        if (runs.isEmpty()) {
            return 0;
        }
        double[] sorted = runs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int mid = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /** 1 - onnxShare: the share of each segment's time spent outside ONNX Runtime. */
    public double outsideOnnxShare() {
        return 1 - onnxShare;
    }

    public boolean measured() {
        return skipped == null;
    }
}
