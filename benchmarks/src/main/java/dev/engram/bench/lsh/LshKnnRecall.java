package dev.engram.bench.lsh;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.memory.lsh.LshKnnStore;
import dev.engram.memory.lsh.Rotations;
import dev.engram.spi.ProviderRegistry;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * {@code lsh-knn} quality and cost: recall@32 of the hashed search against exact search, and read latency
 * per query through the provider ({@code LongTermMemory.read}, one head, dk = dv = 64, buckets 64), at
 * 65,536 and 262,144 stored tokens for 1, 2, 4 and 8 rounds, with exact search's latency beside it.
 *
 * <p>Two data sets: "iid" (keys and queries independent standard normals: no structure, the hardest case
 * for any LSH) and "clustered" (keys = one of 4096 random centres + noise, queries = a centre + noise,
 * noise 0.5 per component against unit centre components: cosine to the own centre about 0.9, the shape
 * of retrieval where a query has real matches). Recall@32 = |LSH top-32 ∩ exact top-32| / 32, averaged
 * over the queries. A plain main: the store build dominates and JMH's forks would repeat it.
 *
 * <p>Run: {@code java -cp benchmarks/target/benchmarks.jar dev.engram.bench.lsh.LshKnnRecall [queries]}.
 */
public final class LshKnnRecall {
    private static final int DIM = 64;
    private static final int K = 32;
    private static final int BUCKETS = 64;
    private static final int CENTRES = 4096;

    public static void main(String[] args) {
        int queries = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        ProviderRegistry registry = ProviderRegistry.load();
        System.out.printf("%-9s | %8s | %6s | %9s | %15s | %17s | %17s%n", "data", "stored", "rounds", "recall@32",
                "mean candidates", "lsh read (us/q)", "exact read (us/q)");
        for (String data : new String[] {"iid", "clustered"}) {
            for (int stored : new int[] {65536, 262144}) {
                float[][] set = data(data, stored, queries, 7);
                float[] keys = set[0];
                float[] values = set[1];
                float[] q = set[2];
                double exactUs = readLatencyUs(registry, Map.of("exact", true, "capacity", stored, "k", K),
                        keys, values, q, stored, queries);
                for (int rounds : new int[] {1, 2, 4, 8}) {
                    LshKnnStore store = new LshKnnStore(DIM, DIM, stored, rounds, BUCKETS,
                            Rotations.generate(0, 1, DIM, rounds, BUCKETS), 0);
                    for (int i = 0; i < stored; i++) {
                        store.append(keys, i * DIM, values, i * DIM);
                    }
                    double recall = 0;
                    double candidates = 0;
                    int[] exactSlots = new int[K];
                    int[] lshSlots = new int[K];
                    float[] scores = new float[K];
                    float[] qn = new float[DIM];
                    for (int t = 0; t < queries; t++) {
                        LshKnnStore.normalise(q, t * DIM, qn, 0, DIM);
                        int e = store.search(qn, 0, K, true, exactSlots, scores);
                        int l = store.search(qn, 0, K, false, lshSlots, scores);
                        candidates += store.candidateCount(qn, 0);
                        Set<Integer> truth = new HashSet<>();
                        for (int i = 0; i < e; i++) {
                            truth.add(exactSlots[i]);
                        }
                        int hit = 0;
                        for (int i = 0; i < l; i++) {
                            hit += truth.contains(lshSlots[i]) ? 1 : 0;
                        }
                        recall += hit / (double) K;
                    }
                    double lshUs = readLatencyUs(registry,
                            Map.of("rounds", rounds, "buckets", BUCKETS, "capacity", stored, "k", K, "seed", 0),
                            keys, values, q, stored, queries);
                    System.out.printf("%-9s | %8d | %6d | %9.3f | %15.0f | %17.1f | %17.1f%n", data, stored, rounds,
                            recall / queries, candidates / queries, lshUs, exactUs);
                }
            }
        }
    }

    /** Builds the memory through the provider (writes of 4096 tokens), then times reads of all queries. */
    private static double readLatencyUs(ProviderRegistry registry, Map<String, Object> config, float[] keys,
                                        float[] values, float[] q, int stored, int queries) {
        LayerSpec spec = new LayerSpec(1, 1, DIM, DIM, DIM);
        LongTermMemory memory = registry.newMemory("lsh-knn", 0, spec, config, Map.of("gate", Tensor.zeros(1)));
        int seg = 4096;
        for (int s = 0; s < stored; s += seg) {
            int n = Math.min(seg, stored - s);
            Tensor k = Tensor.view(keys, s * DIM, 1, n, DIM);
            Tensor v = Tensor.view(values, s * DIM, 1, n, DIM);
            memory.write(Segment.of(s, null, k, v));
        }
        Tensor qt = Tensor.of(q, 1, queries, DIM);
        Segment reads = Segment.of(stored, qt, null, null);
        memory.read(reads); // warm-up
        long best = Long.MAX_VALUE;
        for (int rep = 0; rep < 3; rep++) {
            long start = System.nanoTime();
            memory.read(reads);
            best = Math.min(best, System.nanoTime() - start);
        }
        return best / 1e3 / queries;
    }

    /** [keys (stored x DIM), values (stored x DIM), queries (queries x DIM)]. */
    static float[][] data(String kind, int stored, int queries, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] keys = new float[stored * DIM];
        float[] values = new float[stored * DIM];
        float[] q = new float[queries * DIM];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) gaussian(random);
        }
        if (kind.equals("iid")) {
            for (int i = 0; i < keys.length; i++) {
                keys[i] = (float) gaussian(random);
            }
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) gaussian(random);
            }
        } else {
            float[] centres = new float[CENTRES * DIM];
            for (int i = 0; i < centres.length; i++) {
                centres[i] = (float) gaussian(random);
            }
            for (int i = 0; i < stored; i++) {
                int c = random.nextInt(CENTRES);
                for (int d = 0; d < DIM; d++) {
                    keys[i * DIM + d] = centres[c * DIM + d] + 0.5f * (float) gaussian(random);
                }
            }
            for (int t = 0; t < queries; t++) {
                int c = random.nextInt(CENTRES);
                for (int d = 0; d < DIM; d++) {
                    q[t * DIM + d] = centres[c * DIM + d] + 0.5f * (float) gaussian(random);
                }
            }
        }
        return new float[][] {keys, values, q};
    }

    private static double gaussian(SplittableRandom random) {
        double u1 = random.nextDouble();
        double u2 = random.nextDouble();
        return Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2);
    }
}
