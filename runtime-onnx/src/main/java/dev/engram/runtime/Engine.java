package dev.engram.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.engram.api.Capability;
import dev.engram.api.EngramException;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.LayerStep;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.runtime.config.EnginePlan;
import dev.engram.runtime.config.SessionSettings;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.runtime.model.ModelPackage;
import dev.engram.runtime.onnx.OnnxGraphs;
import dev.engram.runtime.onnx.Workspace;
import dev.engram.runtime.text.Tokenizer;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.function.IntPredicate;

/**
 * Runs a model package segment by segment: ONNX Runtime executes the dense blocks, the configured
 * Attention and LongTermMemory providers run in Java between them (docs/schemes.md section 0).
 *
 * <p>Per segment of N tokens, for a batch of independent sequences: embed; per layer the pre block
 * (q, k, v, h), then per sequence the {@link LayerStep} (Attention.attend, LongTermMemory.read, combine for a
 * per-head readout or the model-space addend, LongTermMemory.write); the post block (hidden, attention, addend); the
 * head. Segments are aligned to absolute positions: a segment runs into the state only once it is
 * full, so the state after input fed in pieces equals the state after input fed at once, bit for bit.
 * The tokens of an incomplete last segment are evaluated without changing the state: where every layer
 * declares {@link Capability#PARTIAL_ROWS}, only their new rows run, against the keys and values held
 * for the segment's earlier rows (decoding costs one row per layer plus attention over the cache);
 * otherwise the segment so far runs on a fork of the boundary state, which is then dropped. Their logits equal
 * those of input fed at once to float rounding (ONNX Runtime blocks its kernels by row count).
 *
 * <p>Not thread-safe: one batch at a time (the graph buffers are shared). Create it with {@link EngineLoader}.
 */
public final class Engine implements AutoCloseable {
    /** Called after each batch step of complete segments, for progress reporting. */
    @FunctionalInterface
    public interface SegmentListener {
        /** @param sequences sequences in the step; @param tokens tokens per sequence; @param nanos wall time of the step */
        void segmentDone(int sequences, int tokens, long nanos);
    }

    private final ModelPackage pkg;
    private final ModelManifest manifest;
    private final EnginePlan plan;
    private final SequenceFactory factory;
    private final OnnxGraphs graphs;
    private final Workspace.Pool pool;
    private final int segmentLength;
    private final List<String> warnings;
    private final LayerSpec spec;
    private final int vocab;
    private final Tokenizer tokenizer;
    private SegmentListener listener = (s, t, n) -> { };
    /** Wall time spent inside OrtSession.run since the engine was made (see {@link #onnxNanos()}). */
    private long onnxNanos;
    /** Token rows the dense blocks have run on since the engine was made (see {@link #rowsRun()}). */
    private long rowsRun;
    /** Every layer's attention and memory declare PARTIAL_ROWS: a segment in progress is evaluated row by row. */
    private final boolean partialRows;

    /** A segment in progress packed for the providers: q [H, n, dk], k and v [G, n, d], h [n, e]. */
    private float[] packQ = new float[0];
    private float[] packK = new float[0];
    private float[] packV = new float[0];
    private float[] packH = new float[0];

    private float[] qArr = new float[0];
    private float[] kArr = new float[0];
    private float[] vArr = new float[0];
    private float[] hArr = new float[0];
    private float[] attnArr = new float[0];
    private float[] addendArr = new float[0];
    private float[] logitsArr = new float[0];
    private long[] idsArr = new long[0];
    /** Learned position embeddings: the table's size (positions beyond it are refused); 0 = no limit. */
    private final int maxPositions;

    Engine(ModelPackage pkg, EnginePlan plan, SequenceFactory factory, OnnxGraphs graphs, int segmentLength,
           List<String> warnings, Tokenizer tokenizer) {
        this.pkg = pkg;
        this.tokenizer = tokenizer;
        this.manifest = pkg.manifest();
        this.plan = plan;
        this.factory = factory;
        this.graphs = graphs;
        this.segmentLength = segmentLength;
        this.warnings = List.copyOf(warnings);
        this.spec = manifest.architecture().layerSpec();
        this.vocab = manifest.architecture().vocabSize();
        this.maxPositions = manifest.architecture().positional().maxPositions();
        this.pool = new Workspace.Pool(OnnxGraphs.environment(), manifest.architecture(), segmentLength);
        this.partialRows = factory.everyLayerDeclares(Capability.PARTIAL_ROWS);
    }

    /**
     * Whether a token inside a segment in progress runs as one new row per layer, reusing the keys and values of
     * the segment's earlier rows (every configured attention and memory declares {@link Capability#PARTIAL_ROWS}),
     * or re-runs the whole segment so far from the boundary state (otherwise; for example with {@code lsh}).
     */
    public boolean decodesRowByRow() {
        return partialRows;
    }

    /**
     * Token rows the dense blocks have run on since the engine was made, a running total: a complete segment
     * counts its length, a segment in progress what it evaluated (the new rows only when decoding row by row,
     * all of its rows otherwise).
     */
    public long rowsRun() {
        return rowsRun;
    }

    public ModelManifest manifest() {
        return manifest;
    }

    public ModelPackage modelPackage() {
        return pkg;
    }

    public EnginePlan plan() {
        return plan;
    }

    /** The device the graphs run on (CPU after a CUDA fallback). */
    public SessionSettings.Device device() {
        return graphs.device();
    }

    /** Every graph's inputs and outputs as ONNX Runtime reports them: embed, per layer pre and post, head. */
    public List<dev.engram.runtime.onnx.GraphSignature> graphSignatures() {
        return graphs.signatures(manifest);
    }

    /** Warnings from loading (for example the CUDA fallback), one line each. */
    public List<String> warnings() {
        return warnings;
    }

    /**
     * The package's tokenizer: its {@code tokenizer.json} (checked on load: every id it can produce is in the
     * model's vocabulary), or, without one, the {@link dev.engram.runtime.text.ByteTokenizer} fallback.
     */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public int segmentLength() {
        return segmentLength;
    }

    public int vocabSize() {
        return vocab;
    }

    /**
     * Nanoseconds spent inside {@code OrtSession.run} (every graph, every segment, complete or not) since the
     * engine was made: a running total, so a caller takes the difference around what it measures. The rest of a
     * segment's wall time is the Java side: plugins, copies between ONNX Runtime's buffers and arrays, glue.
     */
    public long onnxNanos() {
        return onnxNanos;
    }

    public void setSegmentListener(SegmentListener listener) {
        this.listener = listener == null ? (s, t, n) -> { } : listener;
    }

    /**
     * Refuses, before any work, a request that would run past the model's last learned position (GPT-2-style learned
     * positions; nothing to check otherwise): {@code tokens} fed after {@code position}, naming {@code field}.
     */
    public void requireRoom(long position, long tokens, String field) {
        if (maxPositions > 0 && position + tokens > maxPositions) {
            throw new InvalidInputException(field, "would take the sequence to position " + (position + tokens - 1)
                    + ", past the model's last learned position " + (maxPositions - 1) + " (it has "
                    + Math.max(0, maxPositions - position) + " positions left after " + position + " tokens)");
        }
    }

    /** A new empty sequence with the configured attention and memory on every layer. */
    public ModelSequence newSequence() {
        return new ModelSequence(this, factory.newSequence(), segmentLength);
    }

    /** Feeds {@code tokens} and returns the logits [vocabSize] after its last token. */
    public float[] ingest(ModelSequence sequence, int[] tokens) {
        return ingest(List.of(sequence), List.of(tokens)).get(0);
    }

    /** Feeds each sequence its tokens (lengths may differ); returns per sequence the logits after its last token. */
    public List<float[]> ingest(List<ModelSequence> sequences, List<int[]> tokens) {
        float[][] out = new float[sequences.size()][];
        run(sequences, tokens, out, null);
        return List.of(out);
    }

    /** Like {@link #ingest(List, List)} but returns, per sequence, the logits of every token fed: [tokens][vocabSize]. */
    public List<float[][]> ingestAll(List<ModelSequence> sequences, List<int[]> tokens) {
        float[][][] all = new float[sequences.size()][][];
        for (int b = 0; b < all.length; b++) {
            all[b] = new float[tokens.get(b).length][];
        }
        run(sequences, tokens, new float[sequences.size()][], all);
        return List.of(all);
    }

    /**
     * Feeds {@code prompt}, then generates up to {@code params.maxTokens()} tokens, calling
     * {@code onToken} with each as soon as it is chosen. Every emitted token is also fed, so the
     * sequence ends having consumed prompt + output; a stop token ends generation and is neither
     * emitted nor fed. A generated token inside a segment in progress runs as one new row per layer where
     * the layers allow it ({@link #decodesRowByRow()}), else the segment so far is re-run from its start;
     * at each segment boundary the whole segment runs once into the memories.
     */
    public int[] generate(ModelSequence sequence, int[] prompt, GenerationParams params, IntConsumer onToken) {
        return generateWhile(sequence, prompt, params, token -> {
            if (onToken != null) {
                onToken.accept(token);
            }
            return true;
        });
    }

    /**
     * Like {@link #generate}, but {@code onToken} says whether to go on: when it returns false, generation ends
     * after that token (which is emitted and fed like every other). For stop conditions on the decoded text.
     */
    public int[] generateWhile(ModelSequence sequence, int[] prompt, GenerationParams params, IntPredicate onToken) {
        return generateScored(sequence, prompt, params, null, (token, logits) -> onToken == null || onToken.test(token));
    }

    /** A generated token with the logits [vocabSize] it was chosen from (valid during the call only); false ends generation. */
    @FunctionalInterface
    public interface ScoredToken {
        boolean accept(int token, float[] logits);
    }

    /** Rows of prompt logits handed over at a time when scoring a prompt: a bound on the memory one request takes. */
    private int promptChunkRows() {
        return Math.max(1, Math.min(segmentLength, (16 << 20) / Math.max(1, vocab))); // <= 64 MiB of float logits
    }

    /** Logits of a slice of the prompt: {@code rows[j]} follows prompt token {@code from + j} (it predicts token from + j + 1). */
    @FunctionalInterface
    public interface PromptRows {
        void accept(int from, float[][] rows);
    }

    /**
     * Like {@link #generateWhile}, but each token comes with the logits it was sampled from (the model's raw
     * distribution, before temperature and top-k/top-p), for log-probabilities; and with {@code promptRows} non-null the
     * prompt's own logits are handed over slice by slice as the prompt is fed (at most a segment, and at most 64 MiB,
     * at a time), for scoring a prompt ("echo") without holding [prompt length x vocab] floats.
     * {@code params.maxTokens()} may be 0: then only the prompt is fed.
     */
    public int[] generateScored(ModelSequence sequence, int[] prompt, GenerationParams params, PromptRows promptRows,
                                ScoredToken onToken) {
        Sampler sampler = new Sampler(params, vocab);
        float[] logits = null;
        if (promptRows != null) {
            int chunk = promptChunkRows();
            for (int from = 0; from < prompt.length; from += chunk) {
                int to = Math.min(prompt.length, from + chunk);
                float[][] rows = ingestAll(List.of(sequence), List.of(java.util.Arrays.copyOfRange(prompt, from, to))).get(0);
                promptRows.accept(from, rows);
                logits = rows[rows.length - 1];
            }
        } else {
            logits = ingest(sequence, prompt);
        }
        int[] out = new int[params.maxTokens()];
        int[] one = new int[1];
        int n = 0;
        while (n < params.maxTokens()) {
            int token = sampler.next(logits);
            if (params.stopTokens().contains(token)) {
                break;
            }
            out[n++] = token;
            boolean more = onToken == null || onToken.accept(token, logits);
            one[0] = token;
            logits = ingest(sequence, one);
            if (!more) {
                break;
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    void checkToken(int token, String field) {
        if (token < 0 || token >= vocab) {
            throw InvalidInputException.outOfRange(field, token, "[0, " + (vocab - 1) + "] (vocabSize " + vocab + ")");
        }
    }

    private void run(List<ModelSequence> sequences, List<int[]> tokens, float[][] last, float[][][] all) {
        int batch = sequences.size();
        if (batch == 0 || tokens.size() != batch) {
            throw new InvalidInputException("tokens", "has " + tokens.size() + " lists for " + batch
                    + " sequences; valid: one non-empty list per sequence, at least one sequence");
        }
        Map<ModelSequence, Boolean> seen = new IdentityHashMap<>();
        for (int b = 0; b < batch; b++) {
            ModelSequence s = sequences.get(b);
            if (s.owner() != this) {
                throw new InvalidInputException("sequences[" + b + "]", "was created by another engine");
            }
            if (seen.put(s, Boolean.TRUE) != null) {
                throw new InvalidInputException("sequences[" + b + "]", "appears twice in the batch");
            }
            int[] t = tokens.get(b);
            if (t == null || t.length == 0) {
                throw new InvalidInputException("tokens[" + b + "]", "is empty; valid: at least one token");
            }
            for (int i = 0; i < t.length; i++) {
                checkToken(t[i], "tokens[" + b + "][" + i + "]");
            }
            if (maxPositions > 0 && s.position() + t.length > maxPositions) {
                throw new InvalidInputException("tokens[" + b + "]", "has " + t.length + " tokens after position "
                        + s.position() + ", past the model's last learned position " + (maxPositions - 1)
                        + " (engram.json architecture.positional.maxPositions " + maxPositions + ")");
            }
        }
        int[] cursor = new int[batch];
        List<Integer> group = new ArrayList<>(batch);
        // Complete segments, batched across the sequences that have one.
        while (true) {
            group.clear();
            for (int b = 0; b < batch; b++) {
                if (tokens.get(b).length - cursor[b] >= sequences.get(b).room()) {
                    group.add(b);
                }
            }
            if (group.isEmpty()) {
                break;
            }
            long start = System.nanoTime();
            int[] taken = new int[group.size()];
            boolean head = false;
            for (int g = 0; g < group.size(); g++) {
                int b = group.get(g);
                ModelSequence s = sequences.get(b);
                taken[g] = s.room();
                s.appendPending(tokens.get(b), cursor[b], taken[g]);
                head |= all != null || cursor[b] + taken[g] == tokens.get(b).length;
            }
            forward(sequences, group, stacksOf(sequences, group), segmentLength, head);
            for (int g = 0; g < group.size(); g++) {
                int b = group.get(g);
                ModelSequence s = sequences.get(b);
                collect(b, segmentLength, taken[g], cursor[b], tokens.get(b).length, g, group.size(), last, all);
                cursor[b] += taken[g];
                s.completeSegment();
            }
            listener.segmentDone(group.size(), segmentLength, System.nanoTime() - start);
        }
        // Incomplete last segments: their tokens join the pending ones and are evaluated without changing the
        // state, either row by row (PARTIAL_ROWS) or on a fork of the boundary state. A failure here gives the
        // sequences not yet evaluated the tokens of their segment in progress back; complete segments that this
        // call already ran stay consumed.
        int[] pendingBefore = new int[batch];
        for (int b = 0; b < batch; b++) {
            ModelSequence s = sequences.get(b);
            pendingBefore[b] = s.pendingTokens();
            int rest = tokens.get(b).length - cursor[b];
            if (rest > 0) {
                s.appendPending(tokens.get(b), cursor[b], rest);
            }
        }
        try {
            if (partialRows) {
                evaluateRows(sequences, tokens, cursor, last, all);
            } else {
                evaluateOnForks(sequences, tokens, cursor, last, all);
            }
        } catch (RuntimeException e) {
            for (int b = 0; b < batch; b++) {
                if (cursor[b] < tokens.get(b).length) {
                    sequences.get(b).truncatePending(pendingBefore[b]);
                }
            }
            throw e;
        }
    }

    /**
     * PARTIAL_ROWS: only the pending rows not yet evaluated run, one group per row count, against the keys and
     * values held for the rows before them; no state changes, so nothing is put back.
     */
    private void evaluateRows(List<ModelSequence> sequences, List<int[]> tokens, int[] cursor, float[][] last,
                              float[][][] all) {
        List<Integer> group = new ArrayList<>(sequences.size());
        for (int m = 1; m < segmentLength; m++) {
            group.clear();
            for (int b = 0; b < sequences.size(); b++) {
                ModelSequence s = sequences.get(b);
                if (cursor[b] < tokens.get(b).length && s.pendingTokens() - s.rowsHeld() == m) {
                    group.add(b);
                }
            }
            if (group.isEmpty()) {
                continue;
            }
            forwardRows(sequences, group, m);
            for (int g = 0; g < group.size(); g++) {
                int b = group.get(g);
                int rest = tokens.get(b).length - cursor[b];
                collect(b, m, rest, cursor[b], tokens.get(b).length, g, group.size(), last, all);
                cursor[b] += rest;
            }
        }
    }

    /**
     * Without PARTIAL_ROWS: every pending row runs on a fork of the boundary state, which is then dropped, so the
     * sequence's own state never changes (nothing to put back, even when a provider fails halfway).
     */
    private void evaluateOnForks(List<ModelSequence> sequences, List<int[]> tokens, int[] cursor, float[][] last,
                                 float[][][] all) {
        List<Integer> group = new ArrayList<>(sequences.size());
        for (int n = 1; n < segmentLength; n++) {
            group.clear();
            for (int b = 0; b < sequences.size(); b++) {
                if (cursor[b] < tokens.get(b).length && sequences.get(b).pendingTokens() == n) {
                    group.add(b);
                }
            }
            if (group.isEmpty()) {
                continue;
            }
            List<SequenceStack> forks = new ArrayList<>(group.size());
            for (int b : group) {
                forks.add(sequences.get(b).stack().fork());
            }
            forward(sequences, group, forks, n, true);
            for (int g = 0; g < group.size(); g++) {
                int b = group.get(g);
                int rest = tokens.get(b).length - cursor[b];
                collect(b, n, rest, cursor[b], tokens.get(b).length, g, group.size(), last, all);
                cursor[b] += rest;
            }
        }
    }

    private static List<SequenceStack> stacksOf(List<ModelSequence> sequences, List<Integer> group) {
        List<SequenceStack> stacks = new ArrayList<>(group.size());
        for (int b : group) {
            stacks.add(sequences.get(b).stack());
        }
        return stacks;
    }

    /** Copies the logits of the last {@code fresh} rows of a segment of {@code n} tokens (slot g of the batch). */
    private void collect(int b, int n, int fresh, int cursor, int total, int g, int groupSize, float[][] last, float[][][] all) {
        int rowBase = g * n;
        if (all != null) {
            for (int i = 0; i < fresh; i++) {
                float[] row = new float[vocab];
                System.arraycopy(logitsArr, (rowBase + n - fresh + i) * vocab, row, 0, vocab);
                all[b][cursor + i] = row;
            }
        }
        if (cursor + fresh == total) {
            float[] row = new float[vocab];
            System.arraycopy(logitsArr, (rowBase + n - 1) * vocab, row, 0, vocab);
            last[b] = row;
        }
    }

    /**
     * What one layer does for one sequence of the batch between its pre and post blocks: from the pre block's
     * outputs (slot g of qArr, kArr, vArr, hArr, each for {@code rows} rows) it fills the attention output and the
     * memory addend of those rows, by {@link LayerStep}.
     */
    @FunctionalInterface
    private interface SlotStep {
        void run(int g, int layer, Tensor attnOut, Tensor addendOut);
    }

    /**
     * One segment of {@code n} tokens (their ids in each sequence's pending buffer) through every layer, into
     * {@code stacks} (slot g's state: the sequence's own for a complete segment, a fork for one in progress).
     */
    private void forward(List<ModelSequence> sequences, List<Integer> group, List<SequenceStack> stacks, int n, boolean head) {
        int H = spec.heads();
        int G = spec.kvHeads();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int e = spec.modelDim();
        runLayers(sequences, group, n, new int[group.size()], head, "a segment of " + n + " tokens",
                (g, layer, attnOut, addendOut) -> {
                    SequenceStack stack = stacks.get(g);
                    SequenceStack.Layer l = stack.layers().get(layer);
                    Segment segment = new Segment(stack.position(), Tensor.view(qArr, g * H * n * dk, H, n, dk),
                            Tensor.view(kArr, g * G * n * dk, G, n, dk), Tensor.view(vArr, g * G * n * dv, G, n, dv),
                            Tensor.view(hArr, g * n * e, n, e));
                    LayerStep.run(l.attention(), l.memory().orElse(null), segment, attnOut, addendOut, null);
                });
    }

    /**
     * The next {@code m} pending rows of each sequence in the group, through every layer without changing any
     * state: per layer the pre block on those rows only, their keys and values appended to the sequence's
     * {@link SegmentRows}, then attendRows and readRows on the segment so far (rows before the new ones carry
     * their held keys and values, and zeros for q and h), combine, and the post block. Logits of the m rows.
     */
    private void forwardRows(List<ModelSequence> sequences, List<Integer> group, int m) {
        int H = spec.heads();
        int G = spec.kvHeads();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int e = spec.modelDim();
        ensurePacks();
        int[] from = new int[group.size()];
        SegmentRows[] rows = new SegmentRows[group.size()];
        for (int g = 0; g < from.length; g++) {
            rows[g] = sequences.get(group.get(g)).rows(layerCount(), G, dk, dv);
            from[g] = rows[g].held;
        }
        runLayers(sequences, group, m, from, true, m + " new rows of a segment in progress",
                (g, layer, attnOut, addendOut) -> {
                    SequenceStack stack = sequences.get(group.get(g)).stack();
                    SequenceStack.Layer l = stack.layers().get(layer);
                    int f = from[g];
                    int n = f + m;
                    rows[g].put(layer, f, m, kArr, g * G * m * dk, vArr, g * G * m * dv);
                    rows[g].pack(layer, n, packK, packV);
                    for (int h = 0; h < H; h++) {
                        java.util.Arrays.fill(packQ, h * n * dk, (h * n + f) * dk, 0f);
                        System.arraycopy(qArr, g * H * m * dk + h * m * dk, packQ, (h * n + f) * dk, m * dk);
                    }
                    java.util.Arrays.fill(packH, 0, f * e, 0f);
                    System.arraycopy(hArr, g * m * e, packH, f * e, m * e);
                    Segment segment = new Segment(stack.position(), Tensor.view(packQ, 0, H, n, dk),
                            Tensor.view(packK, 0, G, n, dk), Tensor.view(packV, 0, G, n, dv), Tensor.view(packH, 0, n, e));
                    LayerStep.rows(l.attention(), l.memory().orElse(null), segment, f, attnOut, addendOut);
                });
        for (int g = 0; g < from.length; g++) {
            rows[g].held = from[g] + m;
        }
    }

    /**
     * The dense blocks around {@code step}: the ids of pending tokens [first[g], first[g] + rows) of each sequence
     * embedded, then per layer the pre block, the step per sequence, the post block; the head when {@code head}.
     */
    private void runLayers(List<ModelSequence> sequences, List<Integer> group, int rows, int[] first, boolean head,
                           String what, SlotStep step) {
        int batch = group.size();
        Workspace w = pool.get(batch, rows);
        int qLen = spec.heads() * rows * spec.keyDim();
        int kLen = spec.kvHeads() * rows * spec.keyDim();
        int vLen = spec.kvHeads() * rows * spec.valueDim();
        int hLen = rows * spec.modelDim();
        int aLen = spec.heads() * rows * spec.valueDim();
        ensureArrays(batch, rows);
        for (int g = 0; g < batch; g++) {
            ModelSequence s = sequences.get(group.get(g));
            for (int i = 0; i < rows; i++) {
                idsArr[g * rows + i] = s.pendingToken(first[g] + i);
            }
        }
        pool.ids.put(0, idsArr, 0, batch * rows);
        if (pool.positions != null) {
            // pending[0] is at the sequence's segment boundary; positions go into the same reused array after the ids
            for (int g = 0; g < batch; g++) {
                long start = sequences.get(group.get(g)).stack().position() + first[g];
                for (int i = 0; i < rows; i++) {
                    idsArr[g * rows + i] = start + i;
                }
            }
            pool.positions.put(0, idsArr, 0, batch * rows);
        }
        rowsRun += (long) batch * rows;
        try {
            run(graphs.embed(), w.embedIn, w.embedOut);
            int cur = 0; // hiddenA holds the hidden state
            for (int layer = 0; layer < layerCount(); layer++) {
                run(graphs.pre(layer), w.hiddenIn.get(cur), w.preOut);
                pool.q.get(0, qArr, 0, batch * qLen);
                pool.k.get(0, kArr, 0, batch * kLen);
                pool.v.get(0, vArr, 0, batch * vLen);
                pool.h.get(0, hArr, 0, batch * hLen);
                for (int g = 0; g < batch; g++) {
                    step.run(g, layer,
                            Tensor.view(attnArr, g * aLen, spec.heads(), rows, spec.valueDim()),
                            Tensor.view(addendArr, g * hLen, rows, spec.modelDim()));
                }
                pool.attn.put(0, attnArr, 0, batch * aLen);
                pool.addend.put(0, addendArr, 0, batch * hLen);
                run(graphs.post(layer), w.postIn.get(cur), w.postOut.get(cur));
                cur = 1 - cur;
            }
            if (head) {
                run(graphs.head(), w.hiddenIn.get(cur), w.headOut);
                pool.logits.get(0, logitsArr, 0, batch * rows * vocab);
            }
        } catch (OrtException ex) {
            throw new EngramException("ONNX Runtime failed while running " + what + " for " + batch + " sequences: "
                    + ex.getMessage(), ex);
        }
    }

    private void ensurePacks() {
        if (packQ.length == 0) {
            packQ = new float[spec.heads() * segmentLength * spec.keyDim()];
            packK = new float[spec.kvHeads() * segmentLength * spec.keyDim()];
            packV = new float[spec.kvHeads() * segmentLength * spec.valueDim()];
            packH = new float[segmentLength * spec.modelDim()];
        }
    }

    private int layerCount() {
        return manifest.architecture().layers();
    }

    private void run(OrtSession session, Map<String, OnnxTensor> inputs, Map<String, OnnxTensor> outputs)
            throws OrtException {
        long t0 = System.nanoTime();
        try {
            // Pinned outputs: the values are already in the workspace buffers; the result owns nothing else.
            session.run(inputs, outputs).close();
        } finally {
            onnxNanos += System.nanoTime() - t0;
        }
    }

    private void ensureArrays(int batch, int n) {
        int bn = batch * segmentLength;
        if (idsArr.length < bn) {
            idsArr = new long[bn];
            qArr = new float[bn * spec.heads() * spec.keyDim()];
            kArr = new float[bn * spec.kvHeads() * spec.keyDim()];
            vArr = new float[bn * spec.kvHeads() * spec.valueDim()];
            hArr = new float[bn * spec.modelDim()];
            attnArr = new float[bn * spec.heads() * spec.valueDim()];
            addendArr = new float[bn * spec.modelDim()];
            logitsArr = new float[bn * vocab];
        }
    }

    @Override
    public void close() {
        pool.close();
        graphs.close();
    }
}
