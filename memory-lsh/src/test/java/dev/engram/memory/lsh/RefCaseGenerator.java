package dev.engram.memory.lsh;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.engram.api.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Writes the ref-*.json conformance cases from {@link PlainReference} (never from the providers).
 * Re-run with {@code mvn -B -q -pl memory-lsh test -Dtest=RefCaseGenerator -Dengram.regenerate=true
 * -Dsurefire.failIfNoSpecifiedTests=false}, or its main method from the module directory.
 */
class RefCaseGenerator {
    private static final Path DIR = Path.of("src/test/resources/conformance");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public static void main(String[] args) throws IOException {
        generateAll();
    }

    @Test
    @EnabledIfSystemProperty(named = "engram.regenerate", matches = "true")
    void regenerate() throws IOException {
        generateAll();
    }

    static void generateAll() throws IOException {
        Files.createDirectories(DIR);
        for (Map.Entry<String, String> e : cases().entrySet()) {
            Files.writeString(DIR.resolve(e.getKey()), e.getValue());
        }
    }

    /** Every ref-*.json case, file name to content, built in memory ({@code RefCasesAreUpToDateTest} compares). */
    static Map<String, String> cases() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        // lsh: rounds 1 and 4, causal and not, lengths that need padding, default and explicit buckets
        lsh(out, "ref-lsh-r1-causal.json", "one round, causal, default buckets, N = 20 then 13 (padded to 16), chunk 4",
                2, 4, 3, Map.of("rounds", 1, "chunk", 4, "causal", true, "seed", 11), false, new int[] {20, 13}, 1);
        lsh(out, "ref-lsh-r4-causal-padded.json", "four rounds, causal, rotations given, buckets 4, N = 13 and 7, chunk 4",
                2, 4, 3, Map.of("rounds", 4, "chunk", 4, "buckets", 4, "causal", true), true, new int[] {13, 7}, 2);
        lsh(out, "ref-lsh-r4-noncausal.json", "four rounds, not causal, default buckets, N = 24, chunk 4",
                1, 6, 4, Map.of("rounds", 4, "chunk", 4, "causal", false, "seed", 12345), false, new int[] {24}, 3);
        lsh(out, "ref-lsh-r1-noncausal-padded.json", "one round, not causal, buckets 8, N = 11 (padded to 15), chunk 5",
                2, 3, 2, Map.of("rounds", 1, "chunk", 5, "buckets", 8, "causal", false, "seed", 4), false, new int[] {11}, 4);
        lsh(out, "ref-lsh-r2-single-chunk.json", "two rounds, one chunk (chunk >= N): full causal attention with the self mask",
                1, 4, 2, Map.of("rounds", 2, "chunk", 16, "seed", 8), false, new int[] {10}, 5);
        // lsh-knn: exact with grouped heads and eviction; hashed with given rotations; a segment longer than capacity
        knn(out, "ref-lsh-knn-exact-gqa.json", "exact, H = 4, G = 2, capacity 10 (evicts), k 3, default scale",
                4, 2, 4, 3, Map.of("exact", true, "capacity", 10, "k", 3), new int[] {5, 3, 6, 4, 2}, false, 6);
        knn(out, "ref-lsh-knn-exact-scale.json", "exact, H = G = 2, capacity 64, k 4, scale 1.5",
                2, 2, 5, 2, Map.of("exact", true, "k", 4, "scale", 1.5, "capacity", 64), new int[] {6, 6, 6}, false, 7);
        knn(out, "ref-lsh-knn-hashed.json", "hashed, rounds 2, buckets 4, rotations given, H = 2, G = 1, capacity 12, k 3",
                2, 1, 4, 2, Map.of("rounds", 2, "buckets", 4, "capacity", 12, "k", 3), new int[] {5, 6, 4, 3}, true, 8);
        knn(out, "ref-lsh-knn-hashed-seeded.json", "hashed, rounds 3, buckets 6, rotations from seed 77, capacity 9, k 2",
                2, 2, 3, 2, Map.of("rounds", 3, "buckets", 6, "capacity", 9, "k", 2, "seed", 77), new int[] {4, 7, 5}, false, 9);
        knn(out, "ref-lsh-knn-exact-long-segment.json", "exact, capacity 3, a first segment of 5 keeps its last 3",
                1, 1, 3, 2, Map.of("exact", true, "capacity", 3, "k", 2), new int[] {5, 2}, false, 10);
        return out;
    }

    private static Map<String, Object> tensor(Tensor t) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("shape", t.shape());
        List<Float> data = new ArrayList<>();
        for (float x : t.toArray()) {
            data.add(x);
        }
        m.put("data", data);
        return m;
    }

    private static Map<String, Object> tensor(double[][][] a) {
        Tensor t = Tensor.zeros(a.length, a[0].length, a[0][0].length);
        for (int h = 0; h < a.length; h++) {
            for (int i = 0; i < a[h].length; i++) {
                for (int e = 0; e < a[h][i].length; e++) {
                    t.set((float) a[h][i][e], h, i, e);
                }
            }
        }
        return tensor(t);
    }

    private static Map<String, Object> layer(int heads, int kvHeads, int dk, int dv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("heads", heads);
        m.put("kvHeads", kvHeads);
        m.put("keyDim", dk);
        m.put("valueDim", dv);
        m.put("modelDim", 8);
        return m;
    }

    private static void write(Map<String, String> out, String file, Map<String, Object> doc) throws IOException {
        out.put(file, JSON.writeValueAsString(doc) + "\n");
    }

    private static Map<String, Object> header(String kind, String provider, String description, Map<String, Object> layer,
                                              Map<String, Object> config) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("format", "engram-conformance/1");
        doc.put("kind", kind);
        doc.put("provider", provider);
        doc.put("description", description + ". Generated by RefCaseGenerator from PlainReference.");
        doc.put("layer", layer);
        doc.put("config", new java.util.TreeMap<>(config));
        return doc;
    }

    private static void lsh(Map<String, String> cases, String file, String description, int heads, int dk, int dv, Map<String, Object> config,
                            boolean giveRotations, int[] lengths, long seed) throws IOException {
        Map<String, Object> doc = header("attention", "lsh", description, layer(heads, heads, dk, dv), config);
        int rounds = (Integer) config.get("rounds");
        int chunk = (Integer) config.get("chunk");
        boolean causal = (Boolean) config.getOrDefault("causal", true);
        long rotSeed = ((Number) config.getOrDefault("seed", 0)).longValue();
        Map<String, Object> weights = new LinkedHashMap<>();
        Tensor rotWeight = null;
        if (giveRotations) {
            int buckets = (Integer) config.get("buckets");
            rotWeight = Fixtures.gaussian(seed * 991, heads, dk, rounds, buckets / 2);
            weights.put("rotations", tensor(rotWeight));
        }
        doc.put("weights", weights);
        List<Object> segments = new ArrayList<>();
        List<Object> expected = new ArrayList<>();
        for (int s = 0; s < lengths.length; s++) {
            int n = lengths[s];
            int npad = (n + chunk - 1) / chunk * chunk;
            int buckets = config.containsKey("buckets") ? (Integer) config.get("buckets") : PlainReference.defaultBuckets(npad, chunk);
            float[][][][] rot = rotWeight != null ? PlainReference.rotations(rotWeight.toArray(), heads, dk, rounds, buckets / 2)
                    : PlainReference.rotations(rotSeed, heads, dk, rounds, buckets / 2);
            Tensor q = Fixtures.gaussian(seed * 100 + s, heads, n, dk);
            Tensor v = Fixtures.gaussian(seed * 100 + s + 50, heads, n, dv);
            double[][][] out = new double[heads][][];
            for (int h = 0; h < heads; h++) {
                out[h] = PlainReference.lshHead(Fixtures.rows(q, h), Fixtures.rows(v, h), rot, h, rounds, chunk, causal);
            }
            segments.add(Map.of("q", tensor(q), "v", tensor(v)));
            expected.add(Map.of("output", tensor(out)));
        }
        doc.put("segments", segments);
        doc.put("expected", expected);
        doc.put("tolerance", Map.of("abs", 1e-5, "rel", 1e-4));
        write(cases, file, doc);
    }

    private static void knn(Map<String, String> cases, String file, String description, int heads, int kvHeads, int dk, int dv,
                            Map<String, Object> config, int[] lengths, boolean giveRotations, long seed) throws IOException {
        Map<String, Object> doc = header("memory", "lsh-knn", description, layer(heads, kvHeads, dk, dv), config);
        boolean exact = (Boolean) config.getOrDefault("exact", false);
        int rounds = (Integer) config.getOrDefault("rounds", 4);
        int buckets = (Integer) config.getOrDefault("buckets", 64);
        double scale = ((Number) config.getOrDefault("scale", Math.sqrt(dk))).doubleValue();
        Map<String, Object> weights = new LinkedHashMap<>();
        Tensor gate = Fixtures.gaussian(seed * 7, heads);
        weights.put("gate", tensor(gate));
        float[][][][] rot = null;
        if (!exact) {
            if (giveRotations) {
                Tensor r = Fixtures.gaussian(seed * 13, kvHeads, dk, rounds, buckets / 2);
                weights.put("rotations", tensor(r));
                rot = PlainReference.rotations(r.toArray(), kvHeads, dk, rounds, buckets / 2);
            } else {
                rot = PlainReference.rotations(((Number) config.getOrDefault("seed", 0)).longValue(), kvHeads, dk, rounds,
                        buckets / 2);
            }
        }
        doc.put("weights", weights);
        PlainReference.Knn ref = new PlainReference.Knn(heads, kvHeads, (Integer) config.getOrDefault("capacity", 65536),
                (Integer) config.getOrDefault("k", 32), scale, exact, rot, rounds);
        List<Object> segments = new ArrayList<>();
        List<Object> expected = new ArrayList<>();
        for (int s = 0; s < lengths.length; s++) {
            int n = lengths[s];
            Tensor q = Fixtures.gaussian(seed * 100 + s, heads, n, dk);
            Tensor k = Fixtures.gaussian(seed * 100 + s + 20, kvHeads, n, dk);
            Tensor v = Fixtures.gaussian(seed * 100 + s + 40, kvHeads, n, dv);
            Tensor local = Fixtures.gaussian(seed * 100 + s + 60, heads, n, dv);
            double[][][] memory = ref.read(Fixtures.heads(q), dv);
            double[][][] output = new double[heads][n][dv];
            for (int h = 0; h < heads; h++) {
                double g = 1.0 / (1.0 + Math.exp(-gate.get(h)));
                for (int i = 0; i < n; i++) {
                    for (int e = 0; e < dv; e++) {
                        output[h][i][e] = g * memory[h][i][e] + (1 - g) * local.get(h, i, e);
                    }
                }
            }
            ref.write(Fixtures.heads(k), Fixtures.heads(v));
            Map<String, Object> seg = new LinkedHashMap<>();
            seg.put("q", tensor(q));
            seg.put("k", tensor(k));
            seg.put("v", tensor(v));
            seg.put("local", tensor(local));
            segments.add(seg);
            Map<String, Object> exp = new LinkedHashMap<>();
            exp.put("output", tensor(output));
            exp.put("memory", tensor(memory));
            expected.add(exp);
        }
        doc.put("segments", segments);
        doc.put("expected", expected);
        doc.put("tolerance", Map.of("abs", 1e-5, "rel", 1e-4));
        write(cases, file, doc);
    }
}
