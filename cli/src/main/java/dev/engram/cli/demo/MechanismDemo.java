package dev.engram.cli.demo;

import dev.engram.api.Attention;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.LayerStep;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;

/**
 * Associative recall through each strategy's raw mechanism: a passkey (key, value) pair is planted
 * among random filler pairs, and at the end the key is asked for. No trained weights are involved
 * (the trained passkey models arrive with the tools/ work), so this shows what each MECHANISM can
 * hold: exact attention and kNN memory keep the pair, a window forgets it once it scrolls out, and a
 * linear compressive memory without learned projections blurs thousands of pairs together.
 */
/** {@code engram demo --mechanisms}: the raw recall ability of each mechanism, no trained weights. */
public final class MechanismDemo implements Callable<Integer> {
    private static final int DIM = 32;
    private static final float KEY_NORM = 10f;

    private int trials;
    private final int segmentLength = 256;
    private final int window = 1024;
    private final boolean longRun;
    private final long seed;
    private final PrintWriter out;
    private final boolean progress;

    public MechanismDemo(int trials, boolean longRun, long seed, PrintWriter out, boolean progress) {
        this.trials = trials;
        this.longRun = longRun;
        this.seed = seed;
        this.out = out;
        this.progress = progress;
    }

    /** One strategy: a local attention plus an optional memory, both found by name. */
    private record Strategy(String label, String attention, Map<String, Object> attentionConfig, String memory,
                            Map<String, Object> memoryConfig) {
    }

    @Override
    public Integer call() {
        ProviderRegistry registry = dev.engram.runtime.EngineFactory.create().registry();
        List<Strategy> strategies = new ArrayList<>();
        strategies.add(new Strategy("full", "full", Map.of("positional", "none"), null, Map.of()));
        strategies.add(new Strategy("window", "window", Map.of("positional", "none", "window", window), null, Map.of()));
        strategies.add(new Strategy("infini", "window", Map.of("positional", "none", "window", window), "infini",
                Map.of("update", "delta")));
        strategies.add(new Strategy("lsh-knn", "window", Map.of("positional", "none", "window", window), "lsh-knn",
                Map.of()));
        List<Integer> lengths = new ArrayList<>(List.of(1024, 4096, 16384));
        if (longRun) {
            lengths.add(65536);
            trials *= 2;
        }
        String[] placements = {"start", "middle", "end"};
        LayerSpec layer = new LayerSpec(1, 1, DIM, DIM, DIM);

        List<Strategy> runnable = new ArrayList<>();
        for (Strategy s : strategies) {
            boolean present = registry.attentionNames().contains(s.attention())
                    && (s.memory() == null || registry.memoryNames().contains(s.memory()));
            if (present) {
                runnable.add(s);
            } else {
                out.println("skipping " + s.label() + ": provider not on the class path");
            }
        }
        long totalTokens = 0;
        for (Strategy s : runnable) {
            for (int len : lengths) {
                totalTokens += skipped(s, len) ? 0 : (long) len * trials * placements.length;
            }
        }
        Map<String, double[]> accuracy = new LinkedHashMap<>();
        Map<String, double[]> speed = new LinkedHashMap<>();
        Map<String, long[]> bytes = new LinkedHashMap<>();
        try (ProgressBar bar = DemoProgress.tokens("passkey recall", totalTokens, 250, progress)) {
            for (Strategy s : runnable) {
                for (int li = 0; li < lengths.size(); li++) {
                    int len = lengths.get(li);
                    if (skipped(s, len)) {
                        accuracy.computeIfAbsent(s.label(), k -> new double[lengths.size() * placements.length]);
                        speed.computeIfAbsent(s.label(), k -> new double[lengths.size()])[li] = Double.NaN;
                        bytes.computeIfAbsent(s.label(), k -> new long[lengths.size()])[li] = -1;
                        continue;
                    }
                    for (int pi = 0; pi < placements.length; pi++) {
                        int hits = 0;
                        long nanos = 0;
                        long state = 0;
                        for (int t = 0; t < trials; t++) {
                            SplittableRandom random = new SplittableRandom(seed * 1_000_003L + t * 7919L + len + pi);
                            int position = switch (pi) {
                                case 0 -> random.nextInt(Math.max(1, len / 10));
                                case 1 -> len / 2 - len / 20 + random.nextInt(Math.max(1, len / 10));
                                default -> len - 1 - random.nextInt(Math.max(1, len / 10));
                            };
                            Trial result = runTrial(registry, layer, s, len, position, random);
                            hits += result.hit() ? 1 : 0;
                            nanos += result.nanos();
                            state = Math.max(state, result.stateBytes());
                            bar.stepBy(len);
                        }
                        accuracy.computeIfAbsent(s.label(), k -> new double[lengths.size() * placements.length])
                                [li * placements.length + pi] = hits / (double) trials;
                        speed.computeIfAbsent(s.label(), k -> new double[lengths.size()])[li] +=
                                (double) len * trials / (nanos / 1e9) / placements.length;
                        bytes.computeIfAbsent(s.label(), k -> new long[lengths.size()])[li] = state;
                    }
                }
            }
        }
        printTable(out, lengths, placements, accuracy, speed, bytes);
        return 0;
    }

    /** Full attention is quadratic: beyond 4K tokens it only runs with --long, to keep the default run short. */
    private boolean skipped(Strategy s, int length) {
        return s.memory() == null && s.attention().equals("full") && length > 4096 && !longRun;
    }

    private record Trial(boolean hit, long nanos, long stateBytes) {
    }

    private Trial runTrial(ProviderRegistry registry, LayerSpec layer, Strategy s, int length, int passkeyAt,
                           SplittableRandom random) {
        Attention attention = registry.newAttention(s.attention(), 0, layer, s.attentionConfig(), Map.of());
        LongTermMemory memory = s.memory() == null ? null : registry.newMemory(s.memory(), 0, layer, s.memoryConfig(),
                memoryWeights(registry, s, layer));
        float[] passkeyKey = randomVector(random, KEY_NORM);
        float[] passkeyValue = randomVector(random, 1f);
        long start = System.nanoTime();
        for (int from = 0; from < length; from += segmentLength) {
            int n = Math.min(segmentLength, length - from);
            Tensor k = Tensor.zeros(1, n, DIM);
            Tensor v = Tensor.zeros(1, n, DIM);
            for (int i = 0; i < n; i++) {
                boolean passkey = from + i == passkeyAt;
                System.arraycopy(passkey ? passkeyKey : randomVector(random, KEY_NORM), 0, k.array(), i * DIM, DIM);
                System.arraycopy(passkey ? passkeyValue : randomVector(random, 1f), 0, v.array(), i * DIM, DIM);
            }
            // Filler queries equal their keys: the question is only asked at the end.
            step(attention, memory, new Segment(from, k, k, v, null, null));
        }
        Tensor q = Tensor.of(passkeyKey.clone(), 1, 1, DIM);
        Tensor answer = step(attention, memory, new Segment(length, q, q, Tensor.zeros(1, 1, DIM), null, null));
        long nanos = System.nanoTime() - start;
        long state = attention.stateBytes() + (memory == null ? 0 : memory.stateBytes());
        return new Trial(cosine(answer.toArray(), passkeyValue) > 0.5, nanos, state);
    }

    private static Map<String, Tensor> memoryWeights(ProviderRegistry registry, Strategy s, LayerSpec layer) {
        Map<String, Tensor> weights = new LinkedHashMap<>();
        // Gate logit 0: the readout and the local window count equally; neither is trained to win.
        for (var w : registry.memory(s.memory()).weights(layer,
                registry.memory(s.memory()).configSchema().parse("demo", s.memoryConfig()))) {
            if (w.required()) {
                weights.put(w.name(), Tensor.zeros(w.shape()));
            }
        }
        return weights;
    }

    private static Tensor step(Attention attention, LongTermMemory memory, Segment segment) {
        LayerSpec spec = attention.spec();
        Tensor out = Tensor.zeros(spec.heads(), segment.length(), spec.valueDim());
        LayerStep.run(attention, memory, segment, out, null, null);
        return out;
    }

    private static float[] randomVector(SplittableRandom random, float norm) {
        float[] x = new float[DIM];
        double sum = 0;
        for (int i = 0; i < DIM; i++) {
            double u1 = random.nextDouble();
            double u2 = random.nextDouble();
            x[i] = (float) (Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2));
            sum += x[i] * x[i];
        }
        float scale = (float) (norm / Math.sqrt(sum));
        for (int i = 0; i < DIM; i++) {
            x[i] *= scale;
        }
        return x;
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.sqrt(na * nb);
    }

    private void printTable(PrintWriter out, List<Integer> lengths, String[] placements, Map<String, double[]> accuracy,
                            Map<String, double[]> speed, Map<String, long[]> bytes) {
        out.println();
        out.printf("Passkey recall (%d trials per cell, %d-token segments, %d-token window, dim %d)%n", trials,
                segmentLength, window, DIM);
        StringBuilder header = new StringBuilder(String.format("%-9s %-8s", "strategy", "context"));
        for (String p : placements) {
            header.append(String.format(" %7s", p));
        }
        header.append(String.format(" %12s %14s", "tokens/s", "state bytes"));
        out.println(header);
        for (String s : accuracy.keySet()) {
            for (int li = 0; li < lengths.size(); li++) {
                StringBuilder row = new StringBuilder(String.format("%-9s %-8s", s, lengths.get(li) / 1024 + "K"));
                if (bytes.get(s)[li] < 0) {
                    out.println(row.append("   (quadratic: skipped without --long)"));
                    continue;
                }
                for (int pi = 0; pi < placements.length; pi++) {
                    row.append(String.format(" %6.0f%%", 100 * accuracy.get(s)[li * placements.length + pi]));
                }
                row.append(String.format(" %12.0f %14d", speed.get(s)[li], bytes.get(s)[li]));
                out.println(row);
            }
        }
        out.println();
        out.println("Mechanisms only, no trained weights: full and lsh-knn keep the pair; window forgets it once it");
        out.println("scrolls out; an untrained linear memory (infini) blurs thousands of pairs together. The trained");
        out.println("passkey models of the tools/ issue show what learning adds.");
    }
}
