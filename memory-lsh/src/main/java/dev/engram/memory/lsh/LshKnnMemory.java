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
import dev.engram.spi.kernel.ParallelHeads;

/**
 * One (sequence, layer) instance of {@link LshKnnProvider}: G stores, read, gate, write.
 *
 * <p>Reads and writes split the kv heads between the calling thread and the plugin helper threads
 * ({@link ParallelHeads}): a kv head's store, with its search scratch, and the query heads that read it are handled
 * whole by one thread, with that thread's scratch, so the results do not depend on the threads.
 */
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

    /** Per thread slot ({@link ParallelHeads}): one query's search and readout scratch. */
    private final ReadScratch[] scratch;
    /** The segment being read or written, for the per-kv-head work on whichever thread runs it. */
    private Segment current;
    private int currentFrom;
    private final ParallelHeads.HeadWork readKvHead = this::readKvHead;
    private final ParallelHeads.HeadWork writeKvHead = this::writeKvHead;
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
        this.scratch = new ReadScratch[ParallelHeads.slots(spec.kvHeads())];
        for (int i = 0; i < scratch.length; i++) {
            scratch[i] = new ReadScratch(spec.keyDim(), spec.valueDim(), k);
        }
    }

    private static final class ReadScratch {
        final float[] qn;
        final int[] slots;
        final float[] scores;
        final double[] acc;

        ReadScratch(int dk, int dv, int k) {
            qn = new float[dk];
            slots = new int[k];
            scores = new float[k];
            acc = new double[dv];
        }
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
        segment.requireQ(spec, from); // rows before from are not read
        int n = segment.length();
        int rows = n - from;
        int heads = spec.heads();
        int dv = spec.valueDim();
        if (readTensor == null || readTensor.dim(1) != rows) {
            if (readData.length < heads * rows * dv) {
                readData = new float[heads * rows * dv];
            }
            readTensor = Tensor.view(readData, 0, heads, rows, dv);
        }
        current = segment;
        currentFrom = from;
        try {
            ParallelHeads.run(spec.kvHeads(), (long) heads * rows * searchCost(), readKvHead);
        } finally {
            current = null;
        }
        return new Readout.PerHead(readTensor);
    }

    /** Multiply-adds of one query's search, roughly: its hashes and the scores of its expected candidates. */
    private long searchCost() {
        int dk = spec.keyDim();
        long stored = stores[0].count();
        if (exact) {
            return stored * dk;
        }
        return (long) rounds * dk * (buckets / 2) + stored * rounds / buckets * dk;
    }

    /** The query heads that read kv head g, every row from {@link #currentFrom}, on the thread of {@code slot}. */
    private void readKvHead(int g, int slot) {
        ReadScratch s = scratch[slot];
        Tensor q = current.q();
        int n = current.length();
        int from = currentFrom;
        int rows = n - from;
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int group = spec.heads() / spec.kvHeads();
        float[] qa = q.array();
        LshKnnStore store = stores[g];
        for (int h = g * group; h < (g + 1) * group; h++) {
            for (int i = from; i < n; i++) {
                LshKnnStore.normalise(qa, q.offset() + (h * n + i) * dk, s.qn, 0, dk);
                int found = store.search(s.qn, 0, k, exact, s.slots, s.scores);
                int o = (h * rows + i - from) * dv;
                if (found == 0) {
                    java.util.Arrays.fill(readData, o, o + dv, 0f);
                    continue;
                }
                // softmax(scale * score) over the found pairs, best first; scores[0] is the maximum
                double[] acc = s.acc;
                java.util.Arrays.fill(acc, 0.0);
                double sum = 0;
                float[] values = store.valueArray();
                for (int t = 0; t < found; t++) {
                    double w = Math.exp(scale * ((double) s.scores[t] - s.scores[0]));
                    sum += w;
                    int vo = store.valueOffset(s.slots[t]);
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
        segment.requireK(spec);
        segment.requireV(spec);
        int n = segment.length();
        long hashes = exact ? 0 : (long) rounds * spec.keyDim() * (buckets / 2);
        current = segment;
        try {
            ParallelHeads.run(stores.length, (long) stores.length * n * (spec.keyDim() + hashes), writeKvHead);
        } finally {
            current = null;
        }
    }

    /** Appends the segment's pairs of kv head g to its store (the thread's slot is not needed: the store is g's own). */
    private void writeKvHead(int g, int slot) {
        Tensor kt = current.k();
        Tensor vt = current.v();
        int n = current.length();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int first = Math.max(0, n - capacity); // earlier pairs of an over-long segment would be evicted at once
        for (int i = first; i < n; i++) {
            stores[g].append(kt.array(), kt.offset() + (g * n + i) * dk, vt.array(), vt.offset() + (g * n + i) * dv);
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
