package dev.engram.baselines;

import dev.engram.api.Attention;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateReader;
import dev.engram.api.StateWriter;
import dev.engram.api.Tensor;
import dev.engram.baselines.position.Alibi;
import dev.engram.baselines.position.PositionalEncoding;
import dev.engram.baselines.position.Rope;
import dev.engram.spi.LayerContext;
import dev.engram.spi.SnapshotSupport;
import dev.engram.spi.kernel.FloatKernels;
import dev.engram.spi.kernel.ParallelHeads;

/**
 * Exact causal softmax attention over a KV cache, shared by {@code full} (the cache keeps every
 * token) and {@code window} (the cache keeps the last {@code window} tokens before the segment).
 *
 * <p>Per kv head the cache is one contiguous run of tokens, oldest first, ending just before the
 * current segment; keys are stored AFTER rotary encoding (each at its absolute position), so a
 * cached key is rotated once, when it is written. A segment is appended behind the cache, every
 * query i attends to cache[0 .. length + i] (causal), then {@code window} evicts all but the last
 * {@code window} tokens by moving them to the front. Buffers grow geometrically and are reused:
 * after warm-up an {@link #attend} allocates no buffers (a call whose heads run on {@link ParallelHeads}'
 * helpers allocates its small hand-off).
 *
 * <p>Layout, for SIMD loops ({@link FloatKernels}): per kv head one key array in tiles of {@link #TILE} tokens
 * ({@link FloatKernels#tiledKeyIndex}: each tile one run of TILE floats per key dimension) and one value array,
 * token after token. A decoded token then reads its head's keys, and then its values, front to back in one
 * stream each, which is what bounds decode at long context (the cache is read whole for every token); the
 * transposed layout this replaced read keyDim arrays at once and decoded 2x slower at 16K tokens. Scores are
 * computed for blocks of four queries at once ({@link FloatKernels#tiledScores}: each key vector read once per
 * block), the output likewise ({@link FloatKernels#causalWeightedSum}). Each query's arithmetic (sums over d,
 * then over t, in order) does not depend on the blocking, so a query's output is the same whatever segment
 * length it came in.
 */
final class CachedAttention implements Attention {
    /** Tokens a window must leave below the per-array limit, so that its cache still has room for a call. */
    private static final int INITIAL_TOKENS = 64;
    /** Queries per block of the score and output loops. */
    private static final int BLOCK = 4;
    private static final FloatKernels KERNELS = FloatKernels.get();
    /** Tokens per key tile; capacities are whole tiles (and multiples of 16, the widest tile). */
    private static final int TILE = KERNELS.keyTile();
    private static final int CAPACITY_STEP = 16;
    /** The largest cache length whose per-head arrays still fit in a Java array. */
    private final int maxTokens;

    private final LayerContext context;
    private final LayerSpec spec;
    private final int stateVersion;
    private final int heads;
    private final int kvHeads;
    private final int group;
    private final int keyDim;
    private final int valueDim;
    private final float scale;
    private final PositionalEncoding positional;
    private final double ropeTheta;
    private final dev.engram.baselines.position.RopeScaling ropeScaling;
    /** > 0: keys at least this far behind a query are masked (sliding window); 0: none are. */
    private final int slidingWindow;
    private final Rope rope;
    private final float[] slopes;
    /** -1 for an unbounded (full) cache, else the number of tokens kept before a segment. */
    private final int window;
    /**
     * {@code window} only: the first {@code sinks} tokens of the sequence stay in the cache for good (StreamingLLM's
     * attention sinks), in slots [0, sinkCount), beside the {@code window} tokens that follow them.
     */
    private final int sinks;
    /** Sink tokens captured so far (min(sinks, tokens seen)). */
    private int sinkCount;
    /** sinkRaw[g][j * keyDim + d]: sink j's key before rotary encoding, re-rotated when the sinks move (below). */
    private final float[][] sinkRaw;
    /**
     * The position the sinks are placed at: StreamingLLM gives relative positions by place in the cache, so the sinks
     * sit directly before the oldest other token the next segment sees (positions vs .. vs + sinkCount - 1); keys are
     * cached rotated, so the sinks' keys are rotated again from {@link #sinkRaw} whenever this moves.
     */
    private long sinkStart;
    private final Rope sinkRope;
    private final float[] sinkRotated;

    /** How keys and values are stored: float32 in {@link #keys}/{@link #values}, or bfloat16 in the half arrays. */
    private final KvCache kvCache;
    /** keys[g][keyIndex(t, d)]: dimension d of cached token t's (rotated) key, kv head g, in tiles (float32). */
    private float[][] keys;
    /** values[g][t * valueDim + j]: component j of cached token t's value, kv head g (float32). */
    private float[][] values;
    /** bfloat16 storage: the same layouts, each entry {@link FloatKernels#toBfloat16} of the float. */
    private short[][] halfKeys;
    private short[][] halfValues;
    /** Absolute position of each cached token (shared by the kv heads). */
    private long[] positions;
    private int capacity;
    private int length;

    private float[] rotatedQueries = new float[0];
    /**
     * A segment in progress, decoded a row per {@link #attendRows} call, is given again whole every call: what the
     * last call staged is recognised and kept, so a decoded token stages, checks and rotates its own row only. Rows
     * [0, stagedRows) of the segment starting at {@code stagedStart} are in slots [stagedLength, ...) past a cache of
     * {@code stagedLength} tokens; stagedKeys/stagedValues[g] hold the first {@code comparableRows} of them as given
     * (before rotation), to compare the next call's rows with (bit for bit: a row that differs is staged again). Reset
     * by every call that changes the cache. {@link #attendNewRows} stages without that copy (comparableRows 0): its
     * caller holds the rows itself (the engine's held rows), and a copy per session, grown as rows come, was live
     * young data that young collections copied again (pauses of 197 and 65 ms among 8 sessions' decode steps). The
     * price: the commit of a segment decoded that way (attend or append of it whole) recognises nothing and stages
     * every row again, once per segment.
     */
    private int stagedRows;
    private int comparableRows;
    private long stagedStart;
    private int stagedLength;
    private final float[][] stagedKeys;
    private final float[][] stagedValues;
    /** Per thread slot ({@link ParallelHeads}): the scratch of one head's query blocks. */
    private final HeadScratch[] scratch;
    /** The segment being attended, for {@link #attendHead} on whichever thread runs a head. */
    private final Call call = new Call();
    private final ParallelHeads.HeadWork attendHead = this::attendHead;
    /** Row-major keys or values of one kv head, for snapshots (the payload layout predates the tiled one). */
    private float[] flat = new float[0];
    private float[] output = new float[0];
    private Tensor outputView;

    /**
     * @param window  -1 for {@code full}, else the tokens kept before a segment
     * @param sliding {@code window} only: each query sees exactly the {@code window} keys ending at itself (positions
     *                p - window < j <= p, Mistral's sliding window) instead of the segment plus {@code window} tokens
     */
    CachedAttention(LayerContext context, int stateVersion, PositionalEncoding positional, double ropeTheta,
                    dev.engram.baselines.position.RopeScaling ropeScaling, int window, boolean sliding, int sinks,
                    KvCache kvCache) {
        this.context = context;
        this.kvCache = kvCache;
        this.spec = context.spec();
        this.stateVersion = stateVersion;
        this.heads = spec.heads();
        this.kvHeads = spec.kvHeads();
        this.group = spec.groupSize();
        this.keyDim = spec.keyDim();
        this.valueDim = spec.valueDim();
        this.scale = (float) (1.0 / Math.sqrt(keyDim));
        this.positional = positional;
        this.ropeTheta = ropeTheta;
        this.ropeScaling = ropeScaling;
        this.rope = positional == PositionalEncoding.ROPE ? new Rope(keyDim, ropeTheta, ropeScaling) : null;
        this.slopes = positional == PositionalEncoding.ALIBI ? Alibi.slopes(heads) : null;
        this.window = window;
        this.slidingWindow = sliding ? window : 0;
        this.sinks = window >= 0 ? sinks : 0;
        this.sinkRaw = new float[kvHeads][this.sinks * keyDim];
        this.sinkRope = positional == PositionalEncoding.ROPE && this.sinks > 0 ? new Rope(keyDim, ropeTheta, ropeScaling) : null;
        this.sinkRotated = new float[this.sinks * keyDim];
        this.maxTokens = (Integer.MAX_VALUE - 16) / Math.max(keyDim, valueDim) / CAPACITY_STEP * CAPACITY_STEP;
        if (window > maxTokens - INITIAL_TOKENS) {
            throw InvalidInputException.outOfRange("window", window, "<= " + (maxTokens - INITIAL_TOKENS)
                    + " for keyDim " + keyDim + " and valueDim " + valueDim + " (one Java array per kv head)");
        }
        this.stagedKeys = new float[kvHeads][0];
        this.stagedValues = new float[kvHeads][0];
        this.scratch = new HeadScratch[ParallelHeads.slots(heads)];
        for (int i = 0; i < scratch.length; i++) {
            scratch[i] = new HeadScratch(valueDim);
        }
        // No room until the first call: its size decides the room (a new session's first call is often a whole
        // segment, for which a guess made here would be allocated, then allocated again and copied)
        allocate(0);
    }

    private void allocate(int tokens) {
        int slots = wholeSteps(tokens);
        if (kvCache == KvCache.BFLOAT16) {
            halfKeys = new short[kvHeads][slots * keyDim];
            halfValues = new short[kvHeads][slots * valueDim];
        } else {
            keys = new float[kvHeads][slots * keyDim];
            values = new float[kvHeads][slots * valueDim];
        }
        positions = new long[slots];
        capacity = slots;
    }

    /** {@code tokens} rounded up to whole capacity steps (so to whole key tiles too). */
    private static int wholeSteps(int tokens) {
        return (tokens + CAPACITY_STEP - 1) / CAPACITY_STEP * CAPACITY_STEP;
    }

    private int keyIndex(int t, int d) {
        return FloatKernels.tiledKeyIndex(TILE, keyDim, t, d);
    }

    /** kv head g's key array: float[] or short[] (for the storage-blind copies). */
    private Object keyArray(int g) {
        return kvCache == KvCache.BFLOAT16 ? halfKeys[g] : keys[g];
    }

    private Object valueArray(int g) {
        return kvCache == KvCache.BFLOAT16 ? halfValues[g] : values[g];
    }

    /** Stores x (rounded to bfloat16 for such a cache) at {@code index} of kv head g's keys. */
    private void putKey(int g, int index, float x) {
        if (kvCache == KvCache.BFLOAT16) {
            halfKeys[g][index] = FloatKernels.toBfloat16(x);
        } else {
            keys[g][index] = x;
        }
    }

    /** The key value stored at {@code index} of kv head g (a bfloat16 widened exactly). */
    private float key(int g, int index) {
        return kvCache == KvCache.BFLOAT16 ? FloatKernels.fromBfloat16(halfKeys[g][index]) : keys[g][index];
    }

    /** Stores {@code count} floats of src from {@code from} as kv head g's values from component {@code to} on. */
    private void putValues(int g, float[] src, int from, int to, int count) {
        if (kvCache == KvCache.BFLOAT16) {
            short[] dst = halfValues[g];
            for (int i = 0; i < count; i++) {
                dst[to + i] = FloatKernels.toBfloat16(src[from + i]);
            }
        } else {
            System.arraycopy(src, from, values[g], to, count);
        }
    }

    /** Copies {@code count} stored value components of kv head g from {@code from} into dst (widened exactly). */
    private void getValues(int g, int from, float[] dst, int to, int count) {
        if (kvCache == KvCache.BFLOAT16) {
            short[] src = halfValues[g];
            for (int i = 0; i < count; i++) {
                dst[to + i] = FloatKernels.fromBfloat16(src[from + i]);
            }
        } else {
            System.arraycopy(values[g], from, dst, to, count);
        }
    }

    /**
     * Room for {@code tokens}, where the call storing them brings {@code callRows} of them (0 for a restore): full
     * doubles; a window cache holds at most window + sinks between calls, so room for such a call's rows on top means
     * calls of that size never grow it again (doubling would allocate and copy room it never uses).
     */
    private void ensureCapacity(int tokens, int callRows) {
        if (tokens <= capacity) {
            return;
        }
        if (tokens > maxTokens) {
            throw InvalidInputException.outOfRange("cached tokens", tokens, "<= " + maxTokens
                    + " per kv head for keyDim " + keyDim + " and valueDim " + valueDim + " (use 'window' to bound the cache)");
        }
        long wanted = window < 0 ? Math.max(tokens, 2L * capacity) : Math.max(tokens, (long) window + sinks + callRows);
        int grown = (int) Math.min(maxTokens, (wanted + CAPACITY_STEP - 1) / CAPACITY_STEP * CAPACITY_STEP);
        for (int g = 0; g < kvHeads; g++) { // tiles are contiguous: growing appends tiles
            if (kvCache == KvCache.BFLOAT16) {
                halfKeys[g] = java.util.Arrays.copyOf(halfKeys[g], grown * keyDim);
                halfValues[g] = java.util.Arrays.copyOf(halfValues[g], grown * valueDim);
            } else {
                keys[g] = java.util.Arrays.copyOf(keys[g], grown * keyDim);
                values[g] = java.util.Arrays.copyOf(values[g], grown * valueDim);
            }
        }
        positions = java.util.Arrays.copyOf(positions, grown);
        capacity = grown;
    }

    @Override
    public LayerSpec spec() {
        return spec;
    }

    @Override
    public Tensor attend(Segment segment) {
        appendFrom(segment, 0);
        return outputView;
    }

    /** Stages the segment's keys and values, as attend does, but computes no query row. */
    @Override
    public void append(Segment segment) {
        appendFrom(segment, segment.length());
    }

    /** attend's state change, with the outputs of query rows [from, N) (none for from = N). */
    private void appendFrom(Segment segment, int from) {
        // Validate everything before touching any state: a bad segment leaves the cache as it was.
        int n = stage(segment, from, false, false); // the slots become the cache: nothing to recognise next call
        length += n;
        long next = segment.startPosition() + n;
        if (sinks > 0) {
            sinkCount = (int) Math.min(sinks, Math.max(sinkCount, next)); // positions start at 0: the first tokens
        }
        int fixed = sinkCount; // slots [0, fixed) hold the sinks and are never evicted
        if (window >= 0 && length - fixed > window) {
            int drop = length - fixed - window;
            for (int g = 0; g < kvHeads; g++) {
                moveKeys(g, fixed + drop, fixed, window);
                System.arraycopy(valueArray(g), (fixed + drop) * valueDim, valueArray(g), fixed * valueDim,
                        window * valueDim);
            }
            System.arraycopy(positions, fixed + drop, positions, fixed, window);
            length = fixed + window;
        }
        if (sinkCount > 0) {
            placeSinks(length > sinkCount ? positions[sinkCount] : next);
        }
    }

    /** Moves the keys of tokens [from, from + count) to [to, to + count), to &lt; from (a window's eviction). */
    private void moveKeys(int g, int from, int to, int count) {
        if (from % TILE == 0 && to % TILE == 0) { // whole tiles move as they are (slots past count are scratch)
            int tiles = (count + TILE - 1) / TILE;
            System.arraycopy(keyArray(g), from * keyDim, keyArray(g), to * keyDim, tiles * TILE * keyDim);
            return;
        }
        for (int t = 0; t < count; t++) { // ascending: a slot is read before anything is written over it
            for (int d = 0; d < keyDim; d++) {
                int src = keyIndex(from + t, d);
                int dst = keyIndex(to + t, d);
                if (kvCache == KvCache.BFLOAT16) {
                    halfKeys[g][dst] = halfKeys[g][src];
                } else {
                    keys[g][dst] = keys[g][src];
                }
            }
        }
    }

    /**
     * Puts the sinks directly before position {@code oldest} (the oldest other token the next segment sees): their
     * positions become oldest - sinkCount .. oldest - 1 and, under RoPE, their keys are rotated there from the raw
     * ones. While no token has been evicted between them and the window this is where they were written (no change).
     */
    private void placeSinks(long oldest) {
        long start = oldest - sinkCount;
        if (start == sinkStart) {
            return;
        }
        for (int j = 0; j < sinkCount; j++) {
            positions[j] = start + j;
        }
        if (sinkRope != null) {
            float[] rotated = sinkRotated; // sized for all sinks once; reused every time the window moves
            for (int g = 0; g < kvHeads; g++) {
                sinkRope.rotate(sinkRaw[g], 0, rotated, 0, start, sinkCount);
                for (int j = 0; j < sinkCount; j++) {
                    for (int d = 0; d < keyDim; d++) {
                        putKey(g, keyIndex(j, d), rotated[j * keyDim + d]);
                    }
                }
            }
        }
        sinkStart = start;
    }

    /**
     * The segment's keys and values go into the slots just past the cache, as {@link #attend} puts them, but
     * {@code length} stays: those slots are scratch until a call appends, so the cache is unchanged.
     */
    @Override
    public Tensor attendRows(Segment segment, int from) {
        segment.requireRowsFrom(from);
        stage(segment, from, true, false);
        return outputView;
    }

    /**
     * {@link #attendRows} without the comparison of rows [0, from) with what the last call staged: the caller vouches
     * for them (and passes zeros), so a decoded token reads and checks its own row only. Keeps no copy of the rows as
     * given, so a later call with the whole segment (attendRows, attend, append) stages it all again.
     */
    @Override
    public Tensor attendNewRows(Segment segment, int from) {
        segment.requireRowsFrom(from);
        if (from > 0 && (stagedRows < from || segment.startPosition() != stagedStart || length != stagedLength)) {
            throw new IllegalStateException("attendNewRows: rows [0, " + from + ") of the segment at position "
                    + segment.startPosition() + " are not held (held: " + stagedRows + " rows of the segment at "
                    + stagedStart + "); give the whole segment to attendRows");
        }
        stage(segment, from, true, true);
        return outputView;
    }

    /**
     * Writes the segment's (rotated) keys and values into cache slots [length, length + N) and computes the
     * outputs of query rows [from, N) into {@link #output} as [H, N - from, dv]; returns N. The cache's
     * {@code length} is not changed here: a caller that appends moves it. With {@code remember} (attendRows,
     * attendNewRows) the staged rows stay staged for the next call; attendRows also keeps them as given, for
     * {@link #stagedPrefix} to recognise. With {@code held} (attendNewRows) rows [0, from) are taken as staged, unread.
     */
    private int stage(Segment segment, int from, boolean remember, boolean held) {
        int kept = held ? from : stagedPrefix(segment);
        Tensor q = segment.requireQ(spec, from); // rows before from are not read
        Tensor k = segment.requireK(spec, kept); // rows before kept: checked when they were staged
        Tensor v = segment.requireV(spec, kept);
        int n = segment.length();
        int rows = n - from;
        long start = segment.startPosition();
        // full: a call of n tokens leaves room for n more, so that the copy a growing cache makes falls in a
        // prompt's segments rather than in the decode steps after it (a window's cache has its fixed size)
        int headroom = window < 0 && n > 1 ? n : 0;
        ensureCapacity((int) Math.max(length + n, Math.min(maxTokens, (long) length + n + headroom)), n);
        ensureScratch(n, rows);
        boolean copyGiven = remember && !held;
        for (int g = 0; copyGiven && g < kvHeads; g++) {
            if (stagedKeys[g].length < n * keyDim) { // keeps rows [0, kept); grows geometrically, as rows come one by one
                int grown = Math.max(n, 2 * stagedKeys[g].length / keyDim);
                stagedKeys[g] = java.util.Arrays.copyOf(stagedKeys[g], grown * keyDim);
                stagedValues[g] = java.util.Arrays.copyOf(stagedValues[g], grown * valueDim);
            }
        }

        if (rope != null) {
            rope.prepare(start, n);
        }
        for (int i = kept; i < n; i++) {
            positions[length + i] = start + i;
        }
        stagedRows = 0; // until the rows below are staged (a failure leaves nothing to recognise)
        comparableRows = 0;
        call.set(q, k, v, n, from, start, kept, copyGiven);
        if (group > 1) { // several heads read each kv head: stage them all first
            for (int g = 0; g < kvHeads; g++) {
                stageKvHead(g, scratch[0]);
            }
        }
        ParallelHeads.run(heads, (long) heads * rows * (length + n) * (keyDim + valueDim), attendHead);
        stagedRows = remember ? n : 0;
        comparableRows = copyGiven ? n : 0;
        stagedStart = start;
        stagedLength = length;
        return n;
    }

    /**
     * How many leading rows of the segment's keys and values are, bit for bit, those the last call staged at the same
     * place (same start, same cache length): 0 when anything differs, or k or v is missing or misshapen (the checks
     * that follow say so).
     */
    private int stagedPrefix(Segment segment) {
        Tensor k = segment.k();
        Tensor v = segment.v();
        if (comparableRows == 0 || segment.startPosition() != stagedStart || length != stagedLength || k == null
                || v == null || k.rank() != 3 || v.rank() != 3 || k.dim(0) != kvHeads || v.dim(0) != kvHeads
                || k.dim(2) != keyDim || v.dim(2) != valueDim || k.dim(1) != v.dim(1)) {
            return 0;
        }
        int n = k.dim(1);
        int rows = Math.min(comparableRows, n);
        for (int g = 0; g < kvHeads && rows > 0; g++) {
            int kAt = k.offset() + g * n * keyDim;
            int km = java.util.Arrays.mismatch(k.array(), kAt, kAt + rows * keyDim, stagedKeys[g], 0, rows * keyDim);
            if (km >= 0) {
                rows = km / keyDim;
            }
            int vAt = v.offset() + g * n * valueDim;
            int vm = java.util.Arrays.mismatch(v.array(), vAt, vAt + rows * valueDim, stagedValues[g], 0, rows * valueDim);
            if (vm >= 0) {
                rows = vm / valueDim;
            }
        }
        return rows;
    }

    /**
     * kv head g's (rotated) keys and values of the segment's rows [kept, N) into cache slots [length + kept, length +
     * N) (rows before kept are there from the last call), and (attendRows) their keys and values as given for the next.
     */
    private void stageKvHead(int g, HeadScratch scratch) {
        int n = call.n;
        int kept = call.kept;
        Tensor k = call.k;
        Tensor v = call.v;
        int kSrc = k.offset() + g * n * keyDim;
        int vSrc = v.offset() + g * n * valueDim;
        float[] ka = k.array();
        if (call.remember) {
            System.arraycopy(ka, kSrc + kept * keyDim, stagedKeys[g], kept * keyDim, (n - kept) * keyDim);
            System.arraycopy(v.array(), vSrc + kept * valueDim, stagedValues[g], kept * valueDim, (n - kept) * valueDim);
        }
        // sink tokens not captured yet: their raw keys, for rotating them again when they move (slots past
        // sinkCount are scratch until attend commits, so attendRows changes no state here either)
        for (int i = kept; i < n && call.start + i < sinks; i++) {
            int j = (int) (call.start + i);
            if (j >= sinkCount) {
                System.arraycopy(ka, kSrc + i * keyDim, sinkRaw[g], j * keyDim, keyDim);
            }
        }
        if (rope != null) {
            float[] rotated = scratch.rotatedKeys(n * keyDim);
            rope.rotate(ka, kSrc, rotated, 0, call.start, kept, n);
            ka = rotated;
            kSrc = 0;
        }
        for (int i = kept; i < n; i++) {
            int row = kSrc + i * keyDim;
            for (int d = 0; d < keyDim; d++) {
                putKey(g, keyIndex(length + i, d), ka[row + d]);
            }
        }
        putValues(g, v.array(), vSrc + kept * valueDim, (length + kept) * valueDim, (n - kept) * valueDim);
    }

    /** Query rows [from, N) of head h into {@link #output}, with the scratch of thread slot {@code slot}. */
    private void attendHead(int h, int slot) {
        HeadScratch scratch = this.scratch[slot];
        scratch.ensureTokens(wholeSteps(length + call.n)); // by the thread that uses it; whole tiles are scored
        if (group == 1) { // head h alone reads kv head h: stage it here, on this head's thread
            stageKvHead(h, scratch);
        }
        int n = call.n;
        int from = call.from;
        long start = call.start;
        int rows = n - from;
        Tensor q = call.q;
        float[] qa;
        int qOffset;
        if (rope != null) {
            // only the rows computed: a decoded token rotates its own query, not the whole segment's again
            rope.rotate(q.array(), q.offset() + h * n * keyDim, rotatedQueries, h * n * keyDim, start, from, n);
            qa = rotatedQueries;
            qOffset = 0;
        } else {
            qa = q.array();
            qOffset = q.offset();
        }
        int g = h / group;
        float slope = slopes == null ? 0f : slopes[h];
        float[][] scores = scratch.scores;
        float[][] acc = scratch.acc;
        float[] inv = scratch.inv;
        for (int i0 = from; i0 < n; i0 += BLOCK) {
            int block = Math.min(BLOCK, n - i0);
            int first = length + i0; // the last cached token the block's first query sees
            int qRow = qOffset + (h * n + i0) * keyDim;
            if (kvCache == KvCache.BFLOAT16) {
                KERNELS.tiledScores(qa, qRow, block, keyDim, halfKeys[g], first + block, scores);
            } else {
                KERNELS.tiledScores(qa, qRow, block, keyDim, keys[g], first + block, scores);
            }
            for (int r = 0; r < block; r++) {
                inv[r] = softmax(scores[r], first + r, slope, start + i0 + r);
            }
            if (kvCache == KvCache.BFLOAT16) {
                KERNELS.causalWeightedSum(scores, block, halfValues[g], 0, first + 1, valueDim, acc);
            } else {
                KERNELS.causalWeightedSum(scores, block, values[g], 0, first + 1, valueDim, acc);
            }
            for (int r = 0; r < block; r++) {
                float[] a = acc[r];
                float w = inv[r];
                int o = (h * rows + i0 - from + r) * valueDim;
                for (int d = 0; d < valueDim; d++) {
                    output[o + d] = a[d] * w;
                }
            }
        }
    }

    /** Scales (and ALiBi-biases) s[0..last], replaces it by exp(s - max); returns 1 / the sum. */
    private float softmax(float[] s, int last, float slope, long queryPosition) {
        if (slopes == null) {
            for (int t = 0; t <= last; t++) {
                s[t] *= scale;
            }
        } else {
            for (int t = 0; t <= last; t++) {
                s[t] = s[t] * scale - slope * (float) (queryPosition - positions[t]);
            }
        }
        if (slidingWindow > 0) { // positions ascend: mask the oldest keys, exp(-inf) is exactly 0
            for (int t = 0; t <= last && queryPosition - positions[t] >= slidingWindow; t++) {
                s[t] = Float.NEGATIVE_INFINITY;
            }
        }
        return 1f / KERNELS.expMinusMax(s, last + 1);
    }

    /** Scratch for a segment of {@code n} tokens whose last {@code rows} rows are computed. */
    private void ensureScratch(int n, int rows) {
        if (rope != null && rotatedQueries.length < heads * n * keyDim) {
            rotatedQueries = new float[heads * n * keyDim];
        }
        if (output.length < heads * rows * valueDim) {
            output = new float[Math.max(heads * rows * valueDim, 2 * output.length)];
            outputView = null;
        }
        if (outputView == null || outputView.dim(1) != rows) {
            outputView = Tensor.view(output, 0, heads, rows, valueDim);
        }
    }

    @Override
    public void reset() {
        if (capacity > 0) {
            allocate(0);
        }
        length = 0;
        sinkCount = 0;
        sinkStart = 0;
        stagedRows = 0;
        comparableRows = 0;
    }

    /** A copy with this cache: the cached keys, values and positions, and the sinks (scratch is the copy's own). */
    @Override
    public CachedAttention copy() {
        CachedAttention c = new CachedAttention(context, stateVersion, positional, ropeTheta, ropeScaling, window,
                slidingWindow != 0, sinks, kvCache);
        c.allocate(capacity); // the room this cache had, so the copy grows when this one would
        for (int g = 0; g < kvHeads; g++) {
            System.arraycopy(keyArray(g), 0, c.keyArray(g), 0, wholeSteps(length) * keyDim);
            System.arraycopy(valueArray(g), 0, c.valueArray(g), 0, length * valueDim);
            System.arraycopy(sinkRaw[g], 0, c.sinkRaw[g], 0, sinkRaw[g].length);
        }
        System.arraycopy(positions, 0, c.positions, 0, length);
        c.length = length;
        c.sinkCount = sinkCount;
        c.sinkStart = sinkStart;
        return c;
    }

    /**
     * Payload (state version 1): positional ordinal, ropeTheta, window (-1 = full), the cached
     * tokens' positions, then per kv head their keys (rotated) and values (a bfloat16 cache's widened exactly), the
     * sinks where configured, and last, only for a bfloat16 cache, {@code kvCache} (its ordinal): a float32 cache's
     * payload is what it was before the option existed.
     */
    @Override
    public Snapshot snapshot() {
        return SnapshotSupport.save(context, stateVersion, w -> {
            w.name("positional").writeInt(positional.ordinal());
            w.name("ropeTheta").writeDouble(ropeTheta);
            w.name("window").writeInt(window);
            w.name("positions").writeLongs(java.util.Arrays.copyOf(positions, length));
            if (flat.length < length * Math.max(keyDim, valueDim)) {
                flat = new float[length * Math.max(keyDim, valueDim)];
            }
            for (int g = 0; g < kvHeads; g++) {
                for (int t = 0; t < length; t++) {
                    for (int d = 0; d < keyDim; d++) {
                        flat[t * keyDim + d] = key(g, keyIndex(t, d));
                    }
                }
                w.name("keys[" + g + "]").writeFloats(flat, 0, length * keyDim);
                getValues(g, 0, flat, 0, length * valueDim);
                w.name("values[" + g + "]").writeFloats(flat, 0, length * valueDim);
            }
            if (sinks > 0) { // only with sinks, so a window without them keeps its payload of before
                w.name("sinkCount").writeInt(sinkCount);
                for (int g = 0; g < kvHeads; g++) {
                    w.name("sinkKeys[" + g + "]").writeFloats(sinkRaw[g], 0, sinkCount * keyDim);
                }
            }
            if (kvCache != KvCache.FLOAT32) {
                w.name("kvCache").writeInt(kvCache.ordinal());
            }
        });
    }

    @Override
    public void restore(Snapshot snapshot) {
        SnapshotSupport.load(context, stateVersion, snapshot, this::readState);
    }

    private Runnable readState(StateReader r) {
        int positionalOrdinal = r.readInt();
        double theta = r.readDouble();
        int savedWindow = r.readInt();
        if (positionalOrdinal != positional.ordinal()) {
            String saved = positionalOrdinal >= 0 && positionalOrdinal < PositionalEncoding.values().length
                    ? PositionalEncoding.values()[positionalOrdinal].name().toLowerCase(java.util.Locale.ROOT)
                    : String.valueOf(positionalOrdinal);
            throw new SnapshotException("snapshot.positional is " + saved + "; this attention uses "
                    + positional.name().toLowerCase(java.util.Locale.ROOT) + ": its cached keys do not fit");
        }
        if (positional == PositionalEncoding.ROPE && Double.doubleToLongBits(theta) != Double.doubleToLongBits(ropeTheta)) {
            throw new SnapshotException("snapshot.ropeTheta is " + theta + "; this attention uses " + ropeTheta);
        }
        if (savedWindow != window) {
            throw new SnapshotException("snapshot.window is " + describeWindow(savedWindow) + "; this attention's is "
                    + describeWindow(window));
        }
        long[] savedPositions = r.readLongsUpTo("positions", window >= 0 ? window + sinks : maxTokens);
        int tokens = savedPositions.length;
        for (int t = 0; t < tokens; t++) {
            if (savedPositions[t] < 0) {
                throw new SnapshotException("snapshot.positions[" + t + "] is " + savedPositions[t] + "; valid: >= 0");
            }
        }
        float[][] k = new float[kvHeads][];
        float[][] v = new float[kvHeads][];
        for (int g = 0; g < kvHeads; g++) {
            k[g] = requireFinite(r.readFloats("keys[" + g + "]", tokens * keyDim), "keys[" + g + "]");
            v[g] = requireFinite(r.readFloats("values[" + g + "]", tokens * valueDim), "values[" + g + "]");
        }
        int savedSinks = 0;
        float[][] raw = new float[kvHeads][];
        if (sinks > 0) {
            savedSinks = r.readInt();
            if (savedSinks < 0 || savedSinks > Math.min(sinks, tokens)) {
                throw new SnapshotException("snapshot.sinkCount is " + savedSinks + "; valid: [0, " + Math.min(sinks, tokens) + "]");
            }
            for (int g = 0; g < kvHeads; g++) {
                raw[g] = requireFinite(r.readFloats("sinkKeys[" + g + "]", savedSinks * keyDim), "sinkKeys[" + g + "]");
            }
        }
        // a float32 payload ends here; anything after it but a bfloat16 cache's marker is a layout mismatch
        KvCache saved = r.atEnd() ? KvCache.FLOAT32 : savedKvCache(r.readInt());
        if (saved != kvCache) {
            throw new SnapshotException("snapshot.kvCache is " + name(saved) + "; this attention's is " + name(kvCache)
                    + " (its cached keys and values are stored another way)");
        }
        int restoredSinks = savedSinks;
        return () -> {
            sinkCount = restoredSinks;
            sinkStart = restoredSinks > 0 ? savedPositions[0] : 0;
            for (int g = 0; g < kvHeads && restoredSinks > 0; g++) {
                System.arraycopy(raw[g], 0, sinkRaw[g], 0, restoredSinks * keyDim);
            }
            // full: room for as many tokens again, at most 4096 (as a prompt's segment leaves room), so the decode
            // steps right after a restore do not copy the cache
            ensureCapacity(window < 0 ? (int) Math.min(maxTokens, tokens + Math.min(tokens, 4096L)) : tokens, 0);
            for (int g = 0; g < kvHeads; g++) {
                for (int t = 0; t < tokens; t++) {
                    for (int d = 0; d < keyDim; d++) {
                        putKey(g, keyIndex(t, d), k[g][t * keyDim + d]);
                    }
                }
                putValues(g, v[g], 0, 0, tokens * valueDim);
            }
            System.arraycopy(savedPositions, 0, positions, 0, tokens);
            length = tokens;
            stagedRows = 0;
            comparableRows = 0;
        };
    }

    /** The cache a payload's trailing {@code kvCache} field names; only caches other than float32 write one. */
    private static KvCache savedKvCache(int ordinal) {
        if (ordinal <= KvCache.FLOAT32.ordinal() || ordinal >= KvCache.values().length) {
            throw new SnapshotException("snapshot.payload has unread bytes after the cache (kvCache " + ordinal
                    + "; valid: " + KvCache.BFLOAT16.ordinal() + " for bfloat16, or nothing): layout mismatch");
        }
        return KvCache.values()[ordinal];
    }

    private static String name(KvCache c) {
        return c.name().toLowerCase(java.util.Locale.ROOT);
    }

    private static String describeWindow(int w) {
        return w < 0 ? "unbounded (full)" : String.valueOf(w);
    }

    private static float[] requireFinite(float[] a, String field) {
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) {
                throw new SnapshotException("snapshot." + field + "[" + i + "] is " + a[i] + "; valid: finite values");
            }
        }
        return a;
    }

    /**
     * Cache bytes: for {@code full}, the keys, values and positions of the tokens held now; for
     * {@code window}, those of a full window (its fixed, preallocated size), so it does not grow.
     */
    @Override
    public long stateBytes() {
        long tokens = window >= 0 ? window + sinks : length;
        return tokens * (kvHeads * (long) (keyDim + valueDim) * kvCache.bytes + Long.BYTES)
                + (long) sinks * kvHeads * keyDim * Float.BYTES; // the sinks' raw keys

    }

    /** Tokens cached now (for tests and diagnostics). */
    int cachedTokens() {
        return length;
    }

    /** Tokens the arrays hold before they grow (for tests). */
    int capacity() {
        return capacity;
    }

    /** The arguments of one {@link #stage} call that the per-head work reads. */
    private static final class Call {
        Tensor q;
        Tensor k;
        Tensor v;
        int n;
        int from;
        long start;
        /** Rows [0, kept) are staged already ({@link #stagedPrefix}). */
        int kept;
        /** Keep the rows' keys and values as given, to recognise them next call (attendRows only). */
        boolean remember;

        void set(Tensor q, Tensor k, Tensor v, int n, int from, long start, int kept, boolean remember) {
            this.q = q;
            this.k = k;
            this.v = v;
            this.n = n;
            this.from = from;
            this.start = start;
            this.kept = kept;
            this.remember = remember;
        }
    }

    /**
     * One thread's scratch: scores, then softmax weights, of a block's queries; their output accumulators; a
     * kv head's rotated keys.
     */
    private static final class HeadScratch {
        final float[][] scores = new float[BLOCK][0];
        final float[][] acc;
        final float[] inv = new float[BLOCK];
        private float[] rotatedKeys = new float[0];

        float[] rotatedKeys(int size) {
            if (rotatedKeys.length < size) {
                rotatedKeys = new float[size];
            }
            return rotatedKeys;
        }

        HeadScratch(int valueDim) {
            acc = new float[BLOCK][valueDim];
        }

        void ensureTokens(int tokens) {
            if (scores[0].length < tokens) {
                int grown = Math.max(tokens, 2 * scores[0].length);
                for (int r = 0; r < BLOCK; r++) {
                    scores[r] = new float[grown];
                }
            }
        }
    }
}
