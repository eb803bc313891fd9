package dev.engram.memory.lsh;

import java.util.Arrays;

/**
 * One kv head's FIFO store of L2-normalised keys and their values, with {@code rounds} angular hash tables
 * over it (docs/schemes.md section 4). Each table maps a bucket to the slots hashed there, oldest first;
 * since eviction is FIFO, the evicted pair is always at the front of its bucket in every table, so the
 * index stays consistent in O(rounds) per eviction.
 *
 * <p>Public so benchmarks can measure recall against exact search; the memory provider is the API.
 * Not thread-safe.
 */
public final class LshKnnStore {
    private final int dk;
    private final int dv;
    private final int capacity;
    private final int rounds;
    private final int buckets;
    private final Rotations rotations; // null: exact search only, no index
    private final int rotationHead;

    private float[] keys = new float[0];
    private float[] values = new float[0];
    private int[] bucketOf = new int[0]; // [slot * rounds + round]
    private final IntQueue[] tables;     // [round * buckets + bucket] -> slots, oldest first
    private long written;                // pairs ever appended; pair number s lives in slot s % capacity
    private int count;

    // search scratch
    private int[] mark = new int[0];
    private int stamp;
    private int[] candidates = new int[0];
    private double[] proj;
    private float[] heapScore = new float[0];
    private int[] heapAge = new int[0];
    private int[] heapSlot = new int[0];

    /**
     * @param rotations    the layer's rotations, or null for an exact-only store
     * @param rotationHead which kv head's rotations hash this store
     */
    public LshKnnStore(int dk, int dv, int capacity, int rounds, int buckets, Rotations rotations, int rotationHead) {
        this.dk = dk;
        this.dv = dv;
        this.capacity = capacity;
        this.rounds = rounds;
        this.buckets = buckets;
        this.rotations = rotations;
        this.rotationHead = rotationHead;
        this.proj = new double[buckets / 2];
        if (rotations != null) {
            tables = new IntQueue[rounds * buckets];
            for (int i = 0; i < tables.length; i++) {
                tables[i] = new IntQueue();
            }
        } else {
            tables = null;
        }
    }

    /**
     * An independent copy: the stored pairs in the same slots, the same hash tables and counters, so it searches and
     * evicts exactly as this store would. Costs a copy of the arrays in use (search scratch is the copy's own).
     */
    public LshKnnStore copy() {
        LshKnnStore c = new LshKnnStore(dk, dv, capacity, rounds, buckets, rotations, rotationHead);
        int slots = keys.length / dk;
        c.keys = keys.clone();
        c.values = values.clone();
        c.bucketOf = bucketOf.clone();
        c.mark = new int[slots];
        c.candidates = new int[slots];
        if (tables != null) {
            for (int i = 0; i < tables.length; i++) {
                c.tables[i] = tables[i].copy();
            }
        }
        c.written = written;
        c.count = count;
        return c;
    }

    public int count() {
        return count;
    }

    public int capacity() {
        return capacity;
    }

    /** Bytes held: keys and values as float32, plus one int per round in the index and one per table entry. */
    public long stateBytes() {
        return (long) count * (dk + dv) * 4 + (tables == null ? 0 : (long) count * rounds * 8);
    }

    /** Empties the store and its tables (keeps the arrays for reuse). */
    public void clear() {
        written = 0;
        count = 0;
        if (tables != null) {
            for (IntQueue t : tables) {
                t.clear();
            }
        }
    }

    /** L2-normalises x into dst (a zero vector stays zero). The norm is taken in double. */
    public static void normalise(float[] x, int xOff, float[] dst, int dstOff, int dim) {
        double ss = 0;
        for (int d = 0; d < dim; d++) {
            double e = x[xOff + d];
            ss += e * e;
        }
        double inv = ss > 0 ? 1.0 / Math.sqrt(ss) : 0.0;
        for (int d = 0; d < dim; d++) {
            dst[dstOff + d] = (float) (x[xOff + d] * inv);
        }
    }

    /** Appends (normalise(key), value), evicting the oldest pair when full. */
    public void append(float[] key, int keyOff, float[] value, int valueOff) {
        int slot = claimSlot();
        normalise(key, keyOff, keys, slot * dk, dk);
        store(slot, value, valueOff);
    }

    /** Evicts the oldest pair when full and returns the slot the next pair goes to. */
    private int claimSlot() {
        if (count == capacity) {
            evictOldest();
        }
        int slot = (int) (written % capacity);
        ensureSlots(slot + 1);
        return slot;
    }

    /** Stores the value, hashes the (already placed, normalised) key into every table, and counts the pair. */
    private void store(int slot, float[] value, int valueOff) {
        System.arraycopy(value, valueOff, values, slot * dv, dv);
        if (tables != null) {
            for (int r = 0; r < rounds; r++) {
                int b = rotations.bucket(keys, slot * dk, rotationHead, r, proj);
                bucketOf[slot * rounds + r] = b;
                tables[r * buckets + b].add(slot);
            }
        }
        written++;
        count++;
    }

    private void evictOldest() {
        int slot = (int) ((written - count) % capacity);
        if (tables != null) {
            for (int r = 0; r < rounds; r++) {
                int removed = tables[r * buckets + bucketOf[slot * rounds + r]].removeFirst();
                if (removed != slot) {
                    throw new IllegalStateException("lsh-knn index out of order: evicted slot " + slot
                            + " but bucket front was " + removed);
                }
            }
        }
        count--;
    }

    private void ensureSlots(int slots) {
        if (keys.length >= slots * dk) {
            return;
        }
        int grown = (int) Math.min(capacity, Math.max(slots, Math.max(16, 2L * (keys.length / dk))));
        keys = Arrays.copyOf(keys, grown * dk);
        values = Arrays.copyOf(values, grown * dv);
        if (tables != null) {
            bucketOf = Arrays.copyOf(bucketOf, grown * rounds);
        }
        mark = Arrays.copyOf(mark, grown);
        candidates = Arrays.copyOf(candidates, grown);
    }

    /** Age rank of a live slot: 0 for the oldest stored pair. */
    private int age(int slot) {
        int oldest = (int) ((written - count) % capacity);
        int a = slot - oldest;
        return a < 0 ? a + capacity : a;
    }

    /**
     * The top {@code k} stored pairs by q . key among the candidates (every pair when {@code exact}, else
     * the union of q's buckets over the rounds), best first, ties broken by the older pair first.
     *
     * @param qn        the normalised query
     * @param outSlots  receives the slots, at least k long
     * @param outScores receives the scores, at least k long
     * @return how many were found (min(k, candidates))
     */
    public int search(float[] qn, int qOff, int k, boolean exact, int[] outSlots, float[] outScores) {
        if (count == 0) {
            return 0;
        }
        if (heapScore.length < k) {
            heapScore = new float[k];
            heapAge = new int[k];
            heapSlot = new int[k];
        }
        int size = 0;
        if (exact || tables == null) {
            if (!exact) {
                throw new IllegalStateException("store has no index; search it with exact = true");
            }
            int oldest = (int) ((written - count) % capacity);
            for (int a = 0; a < count; a++) {
                int slot = oldest + a;
                if (slot >= capacity) {
                    slot -= capacity;
                }
                size = offer(size, k, dot(qn, qOff, keys, slot * dk, dk), a, slot);
            }
        } else {
            int n = collectCandidates(qn, qOff);
            for (int c = 0; c < n; c++) {
                int slot = candidates[c];
                size = offer(size, k, dot(qn, qOff, keys, slot * dk, dk), age(slot), slot);
            }
        }
        // heap -> best first: repeatedly pop the worst into the back
        for (int end = size - 1; end >= 0; end--) {
            outSlots[end] = heapSlot[0];
            outScores[end] = heapScore[0];
            heapSlot[0] = heapSlot[end];
            heapScore[0] = heapScore[end];
            heapAge[0] = heapAge[end];
            siftDown(0, end);
        }
        return size;
    }

    /** Number of distinct candidates for q (for benchmarks), filling the candidate scratch. */
    public int candidateCount(float[] qn, int qOff) {
        return count == 0 ? 0 : collectCandidates(qn, qOff);
    }

    private int collectCandidates(float[] qn, int qOff) {
        if (++stamp == Integer.MAX_VALUE) {
            Arrays.fill(mark, 0);
            stamp = 1;
        }
        int n = 0;
        for (int r = 0; r < rounds; r++) {
            IntQueue bucket = tables[r * buckets + rotations.bucket(qn, qOff, rotationHead, r, proj)];
            for (int i = 0, s = bucket.size(); i < s; i++) {
                int slot = bucket.get(i);
                if (mark[slot] != stamp) {
                    mark[slot] = stamp;
                    candidates[n++] = slot;
                }
            }
        }
        return n;
    }

    /** a is worse than b: lower score, or equal score and newer. */
    private boolean worse(float sa, int aa, float sb, int ab) {
        return sa < sb || (sa == sb && aa > ab);
    }

    private int offer(int size, int k, float score, int age, int slot) {
        if (size < k) {
            int i = size++;
            heapScore[i] = score;
            heapAge[i] = age;
            heapSlot[i] = slot;
            while (i > 0) { // sift up: root holds the worst
                int p = (i - 1) >>> 1;
                if (!worse(heapScore[i], heapAge[i], heapScore[p], heapAge[p])) {
                    break;
                }
                swap(i, p);
                i = p;
            }
            return size;
        }
        if (!worse(heapScore[0], heapAge[0], score, age)) {
            return size;
        }
        heapScore[0] = score;
        heapAge[0] = age;
        heapSlot[0] = slot;
        siftDown(0, size);
        return size;
    }

    private void siftDown(int i, int size) {
        while (true) {
            int l = 2 * i + 1;
            if (l >= size) {
                return;
            }
            int w = l;
            int r = l + 1;
            if (r < size && worse(heapScore[r], heapAge[r], heapScore[l], heapAge[l])) {
                w = r;
            }
            if (!worse(heapScore[w], heapAge[w], heapScore[i], heapAge[i])) {
                return;
            }
            swap(i, w);
            i = w;
        }
    }

    private void swap(int i, int j) {
        float s = heapScore[i];
        heapScore[i] = heapScore[j];
        heapScore[j] = s;
        int a = heapAge[i];
        heapAge[i] = heapAge[j];
        heapAge[j] = a;
        int t = heapSlot[i];
        heapSlot[i] = heapSlot[j];
        heapSlot[j] = t;
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int d = 0;
        for (; d + 3 < n; d += 4) {
            s0 += a[ao + d] * b[bo + d];
            s1 += a[ao + d + 1] * b[bo + d + 1];
            s2 += a[ao + d + 2] * b[bo + d + 2];
            s3 += a[ao + d + 3] * b[bo + d + 3];
        }
        for (; d < n; d++) {
            s0 += a[ao + d] * b[bo + d];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /** The stored value array and offset of {@code slot}'s value. */
    float[] valueArray() {
        return values;
    }

    int valueOffset(int slot) {
        return slot * dv;
    }

    /** The age rank of a slot returned by {@link #search} (0 = oldest stored); for tests and benchmarks. */
    public int ageOf(int slot) {
        return age(slot);
    }

    /** Writes count, then keys and values oldest first (already normalised). */
    void writeTo(dev.engram.api.StateWriter w, String field) {
        w.name(field + ".count").writeInt(count);
        float[] k = new float[count * dk];
        float[] v = new float[count * dv];
        int oldest = (int) ((written - count) % capacity);
        for (int a = 0; a < count; a++) {
            int slot = (oldest + a) % capacity;
            System.arraycopy(keys, slot * dk, k, a * dk, dk);
            System.arraycopy(values, slot * dv, v, a * dv, dv);
        }
        w.name(field + ".keys").writeFloats(k);
        w.name(field + ".values").writeFloats(v);
    }

    /** Reads what {@link #writeTo} wrote into this (empty) store, re-hashing the keys. */
    void readFrom(dev.engram.api.StateReader r, String field) {
        int n = r.readInt();
        if (n < 0 || n > capacity) {
            throw new dev.engram.api.SnapshotException("snapshot." + field + ".count is " + n + "; valid: [0, "
                    + capacity + "] (this memory's capacity)");
        }
        float[] k = r.readFloats(field + ".keys", n * dk);
        float[] v = r.readFloats(field + ".values", n * dv);
        for (int i = 0; i < k.length; i++) {
            if (!Float.isFinite(k[i]) || Math.abs(k[i]) > 1.0001f) {
                throw new dev.engram.api.SnapshotException("snapshot." + field + ".keys[" + i + "] is " + k[i]
                        + "; valid: a component of a unit vector");
            }
        }
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                throw new dev.engram.api.SnapshotException("snapshot." + field + ".values[" + i + "] is " + v[i]
                        + "; valid: finite");
            }
        }
        clear();
        for (int a = 0; a < n; a++) {
            appendNormalised(k, a * dk, v, a * dv);
        }
    }

    /** Appends a key that is already normalised (restore): stored bit-for-bit as given. */
    private void appendNormalised(float[] key, int keyOff, float[] value, int valueOff) {
        int slot = claimSlot();
        System.arraycopy(key, keyOff, keys, slot * dk, dk);
        store(slot, value, valueOff);
    }
}
