package dev.engram.runtime.config;

import dev.engram.spi.Suggestions;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How ONNX Runtime runs the dense blocks: the {@code device} and the {@code session} section of an
 * Engram config.
 *
 * <pre>
 * device: cpu                 # or cuda: tries the CUDA execution provider, falls back to CPU with one warning
 * session:
 *   intraOpThreads: 2         # threads inside one operator; default: the available processors, at most 4
 *   interOpThreads: 1         # threads across independent operators (the graphs are sequential chains)
 *   optimization: all         # none | basic | extended | all
 *   spinning: false           # busy-wait between operators; off so that the Java memory code between graphs gets the cores
 *   cudaDevice: 0             # which GPU, with device: cuda
 * </pre>
 */
public record SessionSettings(Device device, int intraOpThreads, int interOpThreads, Optimization optimization,
                              boolean spinning, int cudaDevice) {
    public enum Device { CPU, CUDA }

    public enum Optimization { NONE, BASIC, EXTENDED, ALL }

    static final List<String> KEYS = List.of("intraOpThreads", "interOpThreads", "optimization", "spinning", "cudaDevice");

    public SessionSettings {
        if (intraOpThreads < 1 || interOpThreads < 1 || cudaDevice < 0) {
            throw new IllegalArgumentException("thread counts must be >= 1 and cudaDevice >= 0");
        }
    }

    /** CPU, the available processors (at most 4) inside operators, one across, all optimisations, no spinning. */
    public static SessionSettings defaults() {
        return new SessionSettings(Device.CPU, defaultIntraOpThreads(), 1, Optimization.ALL, false, 0);
    }

    static int defaultIntraOpThreads() {
        return Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    }

    public SessionSettings withDevice(Device d) {
        return new SessionSettings(d, intraOpThreads, interOpThreads, optimization, spinning, cudaDevice);
    }

    /** Parses {@code device} and the {@code session} section of a config tree, adding problems instead of throwing. */
    static SessionSettings parse(Object device, Object section, List<String> problems) {
        SessionSettings d = defaults();
        Device dev = d.device();
        if (device != null) {
            String s = String.valueOf(device).toLowerCase(Locale.ROOT);
            if (s.equals("cpu") || s.equals("cuda")) {
                dev = Device.valueOf(s.toUpperCase(Locale.ROOT));
            } else {
                problems.add("'device' is '" + device + "'; valid: cpu or cuda");
            }
        }
        if (section == null) {
            return d.withDevice(dev);
        }
        if (!(section instanceof Map<?, ?> m)) {
            problems.add("'session' must be a mapping with keys " + KEYS);
            return d.withDevice(dev);
        }
        for (Object k : m.keySet()) {
            if (!KEYS.contains(String.valueOf(k))) {
                problems.add("session: unknown key '" + k + "'" + Suggestions.suggestion(String.valueOf(k), KEYS)
                        + "; known keys: " + KEYS);
            }
        }
        int intra = intValue(m.get("intraOpThreads"), "intraOpThreads", d.intraOpThreads(), 1, 1024, problems);
        int inter = intValue(m.get("interOpThreads"), "interOpThreads", d.interOpThreads(), 1, 1024, problems);
        int gpu = intValue(m.get("cudaDevice"), "cudaDevice", 0, 0, 64, problems);
        Optimization opt = d.optimization();
        Object o = m.get("optimization");
        if (o != null) {
            try {
                opt = Optimization.valueOf(String.valueOf(o).toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                problems.add("session: 'optimization' is '" + o + "'; valid: none, basic, extended or all");
            }
        }
        boolean spin = d.spinning();
        Object s = m.get("spinning");
        if (s instanceof Boolean b) {
            spin = b;
        } else if (s != null) {
            problems.add("session: 'spinning' is '" + s + "'; valid: true or false");
        }
        return new SessionSettings(dev, intra, inter, opt, spin, gpu);
    }

    private static int intValue(Object v, String key, int dflt, int min, int max, List<String> problems) {
        if (v == null) {
            return dflt;
        }
        if (v instanceof Integer i && i >= min && i <= max) {
            return i;
        }
        problems.add("session: '" + key + "' is " + v + "; valid: an integer in [" + min + ", " + max + "]");
        return dflt;
    }
}
