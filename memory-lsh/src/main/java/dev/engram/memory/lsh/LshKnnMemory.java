package dev.engram.memory.lsh;

import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.ShapeMismatchException;
import dev.engram.api.Snapshot;
import dev.engram.api.Tensor;
import dev.engram.spi.Gates;
import dev.engram.spi.LayerContext;
import dev.engram.spi.SnapshotSupport;

/** One (sequence, layer) instance of {@link LshKnnProvider}: G stores, read, gate, write. */
final class LshKnnMemory implements LongTermMemory {
    private static final int STATE_VERSION = 1;

    private final LayerContext context;
    private final LayerSpec spec;
    private final int capacity;
    private final int rounds;
    private final int buckets;
    private final int k;
    private final double scale;
    private final boolean exact;
    private final Rotations rotations;
    private final float[] gates;
    private LshKnnStore[] stores;

    private final float[] qn;
    private final int[] slots;
    private final float[] scores;
    private final double[] acc;
    private float[] readData = new float[0];
    private Tensor readTensor;
    private float[] combinedData = new float[0];
    private Tensor combinedTensor;

    LshKnnMemory(LayerContext context) {
        this.context = context;
        this.spec = context.spec();
        this.capacity = context.config().get(LshKnnProvider.CAPACITY);
        this.rounds = context.config().get(LshKnnProvider.ROUNDS);
        this.buckets = context.config().get(LshKnnProvider.BUCKETS);
        this.k = context.config().get(LshKnnProvider.K);
        double s = context.config().get(LshKnnProvider.SCALE);
        this.scale = s == 0 ? Math.sqrt(spec.keyDim()) : s;
        this.exact = context.config().get(LshKnnProvider.EXACT);
        long seed = context.config().get(LshKnnProvider.SEED);
        this.rotations = exact ? null : context.weights().find(LshKnnProvider.ROTATIONS).map(Rotations::of)
                .orElseGet(() -> Rotations.generate(seed, spec.kvHeads(), spec.keyDim(), rounds, buckets));
        this.gates = Gates.sigmoids(context.weights().get(LshKnnProvider.GATE));
        this.stores = newStores();
        this.qn = new float[spec.keyDim()];
        this.slots = new int[k];
        this.scores = new float[k];
        this.acc = new double[spec.valueDim()];
    }

    private LshKnnStore[] newStores() {
        LshKnnStore[] s = new LshKnnStore[spec.kvHeads()];
        for (int g = 0; g < s.length; g++) {
            s[g] = new LshKnnStore(spec.keyDim(), spec.valueDim(), capacity, rounds, buckets, rotations, g);
        }
        return s;
    }

    @Override
    public LayerSpec spec() {
        return spec;
    }

    @Override
    public Readout read(Segment segment) {
        return readFrom(segment, 0);
    }

    /** A search changes no stored pair and each query searches alone, so rows [from, N) read as in {@link #read}. */
    @Override
    public Readout readRows(Segment segment, int from) {
        return readFrom(segment, segment.requireRowsFrom(from));
    }

    private Readout readFrom(Segment segment, int from) {
        Tensor q = segment.requireQ(spec);
        int n = segment.length();
        int rows = n - from;
        int heads = spec.heads();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        if (readTensor == null || readTensor.dim(1) != rows) {
            if (readData.length < heads * rows * dv) {
                readData = new float[heads * rows * dv];
            }
            readTensor = Tensor.view(readData, 0, heads, rows, dv);
        }
        float[] qa = q.array();
        for (int h = 0; h < heads; h++) {
            LshKnnStore store = stores[spec.kvHeadOf(h)];
            for (int i = from; i < n; i++) {
                LshKnnStore.normalise(qa, q.offset() + (h * n + i) * dk, qn, 0, dk);
                int found = store.search(qn, 0, k, exact, slots, scores);
                int o = (h * rows + i - from) * dv;
                if (found == 0) {
                    java.util.Arrays.fill(readData, o, o + dv, 0f);
                    continue;
                }
                // softmax(scale * score) over the found pairs, best first; scores[0] is the maximum
                java.util.Arrays.fill(acc, 0.0);
                double sum = 0;
                float[] values = store.valueArray();
                for (int t = 0; t < found; t++) {
                    double w = Math.exp(scale * ((double) scores[t] - scores[0]));
                    sum += w;
                    int vo = store.valueOffset(slots[t]);
                    for (int e = 0; e < dv; e++) {
                        acc[e] += w * values[vo + e];
                    }
                }
                // A convex combination (weights > 0, summing to 1) of finite float32 values, accumulated in
                // double: |x| <= max |v|, so the cast back cannot overflow. Stored values are finite
                // because Segment.requireV and the snapshot reader refuse anything else.
                for (int e = 0; e < dv; e++) {
                    readData[o + e] = (float) (acc[e] / sum);
                }
            }
        }
        return new Readout.PerHead(readTensor);
    }

    @Override
    public Tensor combine(Tensor local, Readout readout) {
        int n = local.rank() == 3 ? local.dim(1) : -1;
        local.requireShape("local", spec.heads(), Math.max(n, 0), spec.valueDim()).requireFinite("local");
        if (!(readout instanceof Readout.PerHead perHead)) {
            throw new InvalidInputException("readout", "is " + readout.getClass().getSimpleName()
                    + "; valid: the Readout.PerHead that this memory's read returned");
        }
        Tensor memory = perHead.values();
        if (!java.util.Arrays.equals(memory.shape(), local.shape())) {
            throw new ShapeMismatchException("readout.values", local.shape(), memory.shape());
        }
        if (combinedTensor == null || combinedTensor.dim(1) != n) {
            if (combinedData.length < local.size()) {
                combinedData = new float[local.size()];
            }
            combinedTensor = Tensor.view(combinedData, 0, spec.heads(), n, spec.valueDim());
        }
        Gates.combine(gates, local, memory, combinedTensor);
        return combinedTensor;
    }

    @Override
    public void write(Segment segment) {
        Tensor kt = segment.requireK(spec);
        Tensor vt = segment.requireV(spec);
        int n = segment.length();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int first = Math.max(0, n - capacity); // earlier pairs of an over-long segment would be evicted at once
        for (int g = 0; g < stores.length; g++) {
            for (int i = first; i < n; i++) {
                stores[g].append(kt.array(), kt.offset() + (g * n + i) * dk, vt.array(), vt.offset() + (g * n + i) * dv);
            }
        }
    }

    @Override
    public void reset() {
        for (LshKnnStore s : stores) {
            s.clear();
        }
    }

    /** A copy with this state: each kv head's store copied (the rotations and gates are shared, read-only weights). */
    @Override
    public LshKnnMemory copy() {
        LshKnnMemory c = new LshKnnMemory(context);
        for (int g = 0; g < stores.length; g++) {
            c.stores[g] = stores[g].copy();
        }
        return c;
    }

    @Override
    public Snapshot snapshot() {
        return SnapshotSupport.save(context, STATE_VERSION, w -> {
            for (int g = 0; g < stores.length; g++) {
                stores[g].writeTo(w, "store[" + g + "]");
            }
        });
    }

    @Override
    public void restore(Snapshot snapshot) {
        SnapshotSupport.load(context, STATE_VERSION, snapshot, r -> {
            LshKnnStore[] fresh = newStores();
            for (int g = 0; g < fresh.length; g++) {
                fresh[g].readFrom(r, "store[" + g + "]");
            }
            return () -> stores = fresh;
        });
    }

    @Override
    public long stateBytes() {
        long b = 0;
        for (LshKnnStore s : stores) {
            b += s.stateBytes();
        }
        return b;
    }
}
