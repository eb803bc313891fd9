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
import dev.engram.spi.kernel.ParallelHeads;
import java.nio.FloatBuffer;
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
 * <p>Several sequences in one call ({@link #forwardBatch}, {@link #step}) share each ONNX Runtime call: their rows
 * are concatenated on the token axis (the dense blocks are row-wise), their attention and memory run per sequence.
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
    /**
     * Every layer also declares {@link Capability#EXACT_ROWS} and the graphs run on the CPU: a segment decoded row by
     * row is completed from its held rows (queries, keys, values and hidden states) without the dense blocks.
     */
    private final boolean exactRows;
    /**
     * Every layer's attention declares {@link Capability#HELD_ROWS}: a row decoded inside a segment gives the attention
     * its own key and value only ({@link Attention#attendNewRows}), not the segment's so far again.
     */
    private final boolean newRowsOnly;

    /** Per plugin-thread slot (0 = the calling thread), made before a call that uses it: a slot's segment gathered for its providers. */
    private final Scratch[] scratch = new Scratch[1 + ParallelHeads.helpers()];

    private float[] qArr = new float[0];
    private float[] kArr = new float[0];
    private float[] vArr = new float[0];
    private float[] hArr = new float[0];
    private float[] attnArr = new float[0];
    private float[] addendArr = new float[0];
    /** Calls of several sequences, none with held rows: every row copied by its own sequence's step. */
    private long callsCopyingPerSequence;
    /** The pool's addend buffer as last seen, and how many of its first rows are known to be zero. */
    private FloatBuffer addendBuffer;
    private int addendZeroRows;
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
        // ONNX Runtime's CPU kernels give a row the same bits whatever the row count (BatchingTest); a GPU's need not
        this.exactRows = partialRows && factory.everyLayerDeclares(Capability.EXACT_ROWS)
                && graphs.device() == SessionSettings.Device.CPU;
        this.newRowsOnly = partialRows && factory.everyAttentionDeclares(Capability.HELD_ROWS);
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
     * Whether a segment decoded row by row is completed from the rows held for it, without running the dense blocks
     * over it again (every layer also declares {@link Capability#EXACT_ROWS}, and the graphs run on the CPU).
     */
    public boolean completesFromHeldRows() {
        return exactRows;
    }

    /**
     * Whether a row decoded inside a segment gives each attention its own key and value only, the attention holding
     * the segment's earlier ones (every layer's attention declares {@link Capability#HELD_ROWS}).
     */
    public boolean givesAttentionNewRowsOnly() {
        return newRowsOnly;
    }

    /**
     * Token rows the dense blocks have run on since the engine was made, a running total: a complete segment
     * counts its length, a segment in progress what it evaluated (the new rows only when decoding row by row,
     * all of its rows otherwise).
     */
    public long rowsRun() {
        return rowsRun;
    }

    /** Tests: how many calls ran several sequences, none with held rows (every row copied by its own sequence). */
    long callsCopyingPerSequence() {
        return callsCopyingPerSequence;
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

    /**
     * One sequence's share of a {@link #forwardBatch} call: the tokens to feed it, a prompt or document chunk or one
     * decoded token.
     */
    public record Step(ModelSequence sequence, int[] tokens) {
    }

    /**
     * Feeds every step's tokens to its sequence and returns, per step, the logits [vocabSize] after its last token:
     * what {@link #ingest(ModelSequence, int[])} on each alone returns, bit for bit where ONNX Runtime's kernels
     * give each row the same bits whatever the row count (the CPU provider does; {@code BatchingTest}). Steps may
     * mix decode tokens and ingest chunks of sequences at any positions: the rows of all of them go through each
     * dense block in one ONNX Runtime call, so the weights are read once for the whole batch, while each
     * sequence's attention and memory run on its own rows, the sequences in parallel on the plugin helper threads.
     * A sequence may appear once per call.
     */
    public List<float[]> forwardBatch(List<Step> steps) {
        List<ModelSequence> sequences = new ArrayList<>(steps.size());
        List<int[]> tokens = new ArrayList<>(steps.size());
        for (int i = 0; i < steps.size(); i++) {
            Step step = steps.get(i);
            if (step == null || step.sequence() == null) {
                throw new InvalidInputException("steps[" + i + "]", "is null; valid: a sequence and its tokens");
            }
            sequences.add(step.sequence());
            tokens.add(step.tokens());
        }
        return ingest(sequences, tokens);
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
    int promptChunkRows() {
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
        // the one generation loop: a Generator stepped alone (a server steps many together, Engine.step)
        Generator g = generator(sequence, prompt, params, promptRows, onToken);
        while (!g.done()) {
            step(List.of(g), Integer.MAX_VALUE);
        }
        if (g.failure() != null) {
            throw g.failure();
        }
        return g.tokens();
    }

    /**
     * A generation to advance with {@link #step}, many sequences together: the same feeding, sampling and stopping as
     * {@link #generateScored} with these arguments (which checks the prompt and parameters now, before anything runs).
     */
    public Generator generator(ModelSequence sequence, int[] prompt, GenerationParams params, PromptRows promptRows,
                               ScoredToken onToken) {
        return new Generator(this, sequence, prompt, params, promptRows, onToken);
    }

    /**
     * One step of many generations (each sequence at most once; those done are skipped): every generator that decodes
     * feeds its last sampled token, then those feeding their prompt get chunks of it, in order, while
     * {@code promptBudget} tokens remain (the first always gets at least one, so every step makes progress); all of
     * it through the dense blocks in one call per graph ({@link #forwardBatch}). Then each samples its next token. A
     * failure of the engine ends every generator of the step with it (and is rethrown); a callback's failure ends
     * its own. Returns the tokens fed.
     */
    public int step(List<Generator> generators, int promptBudget) {
        Map<ModelSequence, Integer> sequenceOf = new IdentityHashMap<>();
        for (int i = 0; i < generators.size(); i++) { // before anything is consumed: a refused step changes nothing
            Generator g = generators.get(i);
            if (g == null) {
                throw new InvalidInputException("generators[" + i + "]", "is null");
            }
            if (g.engine() != this) {
                throw new InvalidInputException("generators[" + i + "]", "was created by another engine");
            }
            Integer earlier = sequenceOf.put(g.sequence(), i);
            if (earlier != null) {
                throw new InvalidInputException("generators[" + i + "]", "runs on the same sequence as generators[" + earlier
                        + "]; valid: each sequence once per step");
            }
        }
        List<Generator> chosen = new ArrayList<>();
        List<ModelSequence> sequences = new ArrayList<>();
        List<int[]> tokens = new ArrayList<>();
        int budget = promptBudget;
        boolean first = true;
        for (boolean decoding : new boolean[] {true, false}) {
            for (Generator g : generators) {
                if (g.done() || g.feedingPrompt() == decoding || (!decoding && budget <= 0 && !first)) {
                    continue;
                }
                int[] chunk = g.next(decoding ? 1 : budget);
                try { // one generator running out of learned positions ends only itself
                    requireRoom(g.sequence().position(), chunk.length, decoding ? "generated tokens" : "prompt");
                } catch (InvalidInputException e) {
                    g.fail(e);
                    continue;
                }
                chosen.add(g);
                sequences.add(g.sequence());
                tokens.add(chunk);
                if (!decoding) {
                    budget -= chunk.length;
                    first = false;
                }
            }
        }
        if (chosen.isEmpty()) {
            return 0;
        }
        float[][] last = new float[chosen.size()][];
        float[][][] all = new float[chosen.size()][][];
        for (int i = 0; i < all.length; i++) {
            all[i] = chosen.get(i).wantsEveryRow() ? new float[tokens.get(i).length][] : null;
        }
        try {
            run(sequences, tokens, last, all);
        } catch (RuntimeException e) {
            chosen.forEach(g -> g.fail(e));
            throw e;
        }
        int total = 0;
        for (int i = 0; i < chosen.size(); i++) {
            chosen.get(i).fed(tokens.get(i).length, all[i] != null ? all[i] : new float[][] {last[i]});
            total += tokens.get(i).length;
        }
        return total;
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
        List<Slot> slots = new ArrayList<>(batch);
        // Waves: each takes from every sequence with tokens left its next chunk, up to its segment boundary, and runs
        // all of them through the dense blocks in one ONNX Runtime call per graph. A chunk that fills its segment runs
        // the whole segment into the state; one that does not is evaluated without changing the state, row by row
        // (PARTIAL_ROWS) or on a fork of the boundary state. A failure gives the sequences of the failed wave the
        // tokens of that wave back; waves already run stay consumed. A sequence whose chunk completed its segment in
        // the failed wave may have had some layers' memories written before the failure, its own or another
        // sequence's (README, "Open"): roll it back to a checkpoint before using it again.
        while (true) {
            slots.clear();
            long start = System.nanoTime();
            try {
                for (int b = 0; b < batch; b++) { // inside the try: a fork that fails here gives the earlier chunks back
                    int left = tokens.get(b).length - cursor[b];
                    if (left > 0) {
                        slots.add(chunk(b, sequences.get(b), tokens.get(b), cursor[b], Math.min(left, sequences.get(b).room()),
                                all != null && all[b] != null));
                    }
                }
                if (slots.isEmpty()) {
                    return;
                }
                runSlots(slots);
            } catch (RuntimeException e) {
                for (Slot slot : slots) {
                    slot.sequence.truncatePending(slot.pendingBefore);
                }
                throw e;
            }
            int complete = 0;
            for (Slot slot : slots) {
                collect(slot, cursor[slot.index], tokens.get(slot.index).length, last, all);
                cursor[slot.index] += slot.taken;
                if (slot.complete) {
                    slot.sequence.completeSegment();
                    complete++;
                } else if (slot.held != null) {
                    slot.held.held = slot.first + slot.rows;
                }
            }
            if (complete > 0) {
                listener.segmentDone(complete, segmentLength, System.nanoTime() - start);
            }
        }
    }

    /** Appends the next {@code take} tokens of sequence {@code b} to its segment in progress and plans their rows. */
    private Slot chunk(int b, ModelSequence s, int[] tokens, int cursor, int take, boolean everyRow) {
        int pendingBefore = s.pendingTokens();
        s.appendPending(tokens, cursor, take);
        boolean complete = s.room() == 0;
        boolean finishes = cursor + take == tokens.length;
        int logitRows = everyRow ? take : finishes ? 1 : 0;
        if (complete && !(exactRows && s.rowsHeld() > 0)) {
            return new Slot(b, s, s.stack(), null, 0, segmentLength, take, true, logitRows, pendingBefore);
        }
        try {
            if (partialRows) { // a segment in progress, or (exactRows) one completed after rows were held
                SegmentRows held = heldRows(s);
                return new Slot(b, s, s.stack(), held, held.held, s.pendingTokens() - held.held, take, complete, logitRows,
                        pendingBefore);
            }
            return new Slot(b, s, s.stack().fork(), null, 0, s.pendingTokens(), take, false, logitRows, pendingBefore);
        } catch (RuntimeException e) { // no slot to give the tokens back through: give them back here
            s.truncatePending(pendingBefore);
            throw e;
        }
    }

    private SegmentRows heldRows(ModelSequence s) {
        return s.rows(layerCount(), spec.kvHeads(), spec.keyDim(), spec.valueDim(), exactRows ? spec.heads() : 0,
                spec.modelDim());
    }

    /**
     * One sequence's share of a batch call: its pending tokens [first, first + rows), run into {@code stack} (its own
     * for a complete segment, a fork for a segment in progress without PARTIAL_ROWS), or, with {@code held}, evaluated
     * row by row against the keys and values held for pending rows [0, first). The last {@code taken} rows are the
     * tokens this call fed; the head runs on the last {@code logitRows} of them.
     */
    private static final class Slot {
        final int index;
        final ModelSequence sequence;
        final SequenceStack stack;
        final SegmentRows held;
        final int first;
        final int rows;
        final int taken;
        final boolean complete;
        final int logitRows;
        final int pendingBefore;
        /** The slot's first row in the call's rows, and its first row in the head's rows. */
        int offset;
        int headOffset;

        Slot(int index, ModelSequence sequence, SequenceStack stack, SegmentRows held, int first, int rows, int taken,
             boolean complete, int logitRows, int pendingBefore) {
            this.index = index;
            this.sequence = sequence;
            this.stack = stack;
            this.held = held;
            this.first = first;
            this.rows = rows;
            this.taken = taken;
            this.complete = complete;
            this.logitRows = logitRows;
            this.pendingBefore = pendingBefore;
        }
    }

    /** Copies the head's logits of the slot's fed tokens ({@code all}) or of its last token (when this call ends its tokens). */
    private void collect(Slot slot, int cursor, int total, float[][] last, float[][][] all) {
        for (int i = 0; all != null && all[slot.index] != null && i < slot.logitRows; i++) {
            all[slot.index][cursor + i] = java.util.Arrays.copyOfRange(logitsArr, (slot.headOffset + i) * vocab,
                    (slot.headOffset + i + 1) * vocab);
        }
        if (cursor + slot.taken == total) {
            int row = slot.headOffset + slot.logitRows - 1;
            last[slot.index] = java.util.Arrays.copyOfRange(logitsArr, row * vocab, (row + 1) * vocab);
        }
    }

    /**
     * The slots' rows through every layer in one ONNX Runtime call per graph: the dense blocks are row-wise, so the
     * rows of all slots are concatenated on the token axis of a batch of one ([1, R, ...]; q/k/v/attn [1, heads, R,
     * d]); between the pre and post blocks each slot's attention and memory run on its own rows, the slots in parallel
     * on the plugin helper threads ({@link ParallelHeads}, which the plugins' own per-head loops share). The head runs
     * only on the rows whose logits are wanted.
     */
    /**
     * Tests only: a batch's sequences go to the plugin helper threads however small the call (the tiny test models'
     * calls are far below {@link ParallelHeads#WORTH_A_HELPER}), so that the threaded path is checked too.
     */
    static volatile boolean sequencesOnHelpersForTests;

    private void runSlots(List<Slot> slots) {
        int rows = 0;
        int headRows = 0;
        long work = 0;
        for (Slot slot : slots) {
            slot.offset = rows;
            slot.headOffset = headRows;
            rows += slot.rows;
            headRows += slot.logitRows;
            work += (long) slot.rows * (slot.first + slot.rows) * spec.heads() * (spec.keyDim() + spec.valueDim());
        }
        int total = rows;
        // One slot works on the call-wide arrays as they stand. With several, each slot copies its own rows between
        // ONNX Runtime's buffers and its scratch on its own thread (one copy each way where a pass through the
        // call-wide arrays made two); the arrays are filled only for slots with held rows, which keep their rows there.
        boolean alone = slots.size() == 1;
        boolean anyHeld = false; // a loop, not a stream: this runs for every decoded token
        for (Slot slot : slots) {
            anyHeld |= slot.held != null;
        }
        if (!alone && !anyHeld) {
            callsCopyingPerSequence++;
        }
        long multiplyAdds = sequencesOnHelpersForTests ? Math.max(work, ParallelHeads.WORTH_A_HELPER) : work;
        Workspace w = pool.get(1, total);
        ensureArrays(total, headRows);
        for (int t = 0; t < ParallelHeads.slots(slots.size()); t++) {
            if (scratch[t] == null) {
                scratch[t] = new Scratch(spec, segmentLength);
            }
        }
        int e = spec.modelDim();
        for (Slot slot : slots) {
            for (int i = 0; i < slot.rows; i++) {
                idsArr[slot.offset + i] = slot.sequence.pendingToken(slot.first + i);
            }
        }
        pool.ids.put(0, idsArr, 0, total);
        if (pool.positions != null) {
            // pending[0] is at the sequence's segment boundary; positions go into the same reused array after the ids
            for (Slot slot : slots) {
                long start = slot.sequence.stack().position() + slot.first;
                for (int i = 0; i < slot.rows; i++) {
                    idsArr[slot.offset + i] = start + i;
                }
            }
            pool.positions.put(0, idsArr, 0, total);
        }
        rowsRun += total;
        try {
            run(graphs.embed(), w.embedIn, w.embedOut);
            int cur = 0; // hiddenA holds the hidden state
            for (int layer = 0; layer < layerCount(); layer++) {
                run(graphs.pre(layer), w.hiddenIn.get(cur), w.preOut);
                if (alone || anyHeld) {
                    pool.q.get(0, qArr, 0, total * spec.heads() * spec.keyDim());
                    pool.k.get(0, kArr, 0, total * spec.kvHeads() * spec.keyDim());
                    pool.v.get(0, vArr, 0, total * spec.kvHeads() * spec.valueDim());
                    pool.h.get(0, hArr, 0, total * e);
                }
                int l = layer;
                if (alone) {
                    layerStep(slots.get(0), l, total, scratch[0]);
                    pool.attn.put(0, attnArr, 0, total * spec.heads() * spec.valueDim());
                } else {
                    ParallelHeads.run(slots.size(), multiplyAdds, (g, thread) -> {
                        Slot slot = slots.get(g);
                        if (slot.held == null) {
                            directLayerStep(slot, l, total, scratch[thread]);
                        } else {
                            layerStep(slot, l, total, scratch[thread]);
                        }
                    });
                }
                putAddend(slots, layer, total);
                run(graphs.post(layer), w.postIn.get(cur), w.postOut.get(cur));
                cur = 1 - cur;
            }
            if (headRows > 0) {
                FloatBuffer hidden = cur == 0 ? pool.hiddenA : pool.hiddenB;
                Workspace.Head head = pool.head(headRows);
                for (Slot slot : slots) {
                    int from = slot.offset + slot.rows - slot.logitRows;
                    head.hidden.put(slot.headOffset * e, hidden, from * e, slot.logitRows * e);
                }
                run(graphs.head(), head.in, head.out);
                head.logits.get(0, logitsArr, 0, headRows * vocab);
            }
        } catch (OrtException ex) {
            // described here, not before the call: building the text every step was a measurable part of decoding
            String what = slots.size() == 1 ? (slots.get(0).complete ? "a segment of " + total + " tokens"
                    : total + " rows of a segment in progress") : total + " rows of " + slots.size() + " sequences";
            throw new EngramException("ONNX Runtime failed while running " + what + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * The layers' addends [total, e] into the post block's input. A layer without a memory has zeros there
     * ({@link LayerStep}), and the buffer keeps what was last put: once its first rows are zeros, a memoryless layer's
     * put is skipped (one of the five copies a row of a window model makes per layer).
     */
    private void putAddend(List<Slot> slots, int layer, int total) {
        int e = spec.modelDim();
        if (pool.addend != addendBuffer) { // grown: a new direct buffer, zero-filled
            addendBuffer = pool.addend;
            addendZeroRows = addendBuffer.capacity() / e;
        }
        boolean memory = false;
        for (Slot slot : slots) {
            memory |= slot.stack.layers().get(layer).memory().isPresent();
        }
        if (!memory && addendZeroRows >= total) {
            return;
        }
        pool.addend.put(0, addendArr, 0, total * e);
        addendZeroRows = memory ? 0 : total;
    }

    /**
     * One layer for a slot without held rows in a call of several slots: its q, k, v, h gathered from ONNX Runtime's
     * buffers into this thread's scratch, the {@link LayerStep}, the attention output put back. Each slot reads and
     * writes only its own rows, through this thread's views of the buffers ({@link Scratch#views}).
     */
    private void directLayerStep(Slot slot, int layer, int total, Scratch sc) {
        int H = spec.heads();
        int G = spec.kvHeads();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int e = spec.modelDim();
        SequenceStack.Layer l = slot.stack.layers().get(layer);
        int r0 = slot.offset;
        int m = slot.rows;
        sc.views(pool);
        sc.hView.get(r0 * e, sc.gatheredH, 0, m * e);
        Segment segment = new Segment(slot.stack.position(), gather(sc.qView, H, total, r0, m, dk, sc.gatheredQ),
                gather(sc.kView, G, total, r0, m, dk, sc.gatheredK), gather(sc.vView, G, total, r0, m, dv, sc.gatheredV),
                Tensor.view(sc.gatheredH, 0, m, e));
        LayerStep.run(l.attention(), l.memory().orElse(null), segment, Tensor.view(sc.attn, 0, H, m, dv),
                Tensor.view(addendArr, r0 * e, m, e), null);
        putAttention(sc, H, total, r0, m, dv);
    }

    /** A slot's attention output [H, m, dv] (sc.attn) into its columns [r0, r0 + m) of ONNX Runtime's attn [H, total, dv]. */
    private void putAttention(Scratch sc, int H, int total, int r0, int m, int dv) {
        sc.views(pool);
        for (int h = 0; h < H; h++) {
            sc.attnView.put((h * total + r0) * dv, sc.attn, h * m * dv, m * dv);
        }
    }

    /**
     * One layer for the call's only slot, or for a slot with held rows: its rows of q, k, v, h (columns [offset,
     * offset + rows) of the call's [heads, R, d] outputs, in the call-wide arrays) as the provider's segment (with the
     * held rows before them), the {@link LayerStep}, and, when it shares the call, its attention output put back into
     * ONNX Runtime's buffer. Slots touch disjoint rows, so they run in parallel.
     */
    private void layerStep(Slot slot, int layer, int total, Scratch sc) {
        assert slot.held != null || slot.rows == total : "a slot without held rows shares no call here";
        int H = spec.heads();
        int G = spec.kvHeads();
        int dk = spec.keyDim();
        int dv = spec.valueDim();
        int e = spec.modelDim();
        SequenceStack.Layer l = slot.stack.layers().get(layer);
        int r0 = slot.offset;
        int m = slot.rows;
        int f = slot.first;
        int n = f + m;
        boolean alone = m == total; // the call's only slot: its rows are the outputs as they stand
        Tensor attnOut = alone ? Tensor.view(attnArr, 0, H, m, dv) : Tensor.view(sc.attn, 0, H, m, dv);
        Tensor addendOut = Tensor.view(addendArr, r0 * e, m, e);
        if (slot.held == null) {
            Segment segment = new Segment(slot.stack.position(), Tensor.view(qArr, 0, H, m, dk),
                    Tensor.view(kArr, 0, G, m, dk), Tensor.view(vArr, 0, G, m, dv), Tensor.view(hArr, 0, m, e));
            LayerStep.run(l.attention(), l.memory().orElse(null), segment, attnOut, addendOut, null);
        } else {
            slot.held.put(layer, f, m, kArr, r0 * dk, total * dk, vArr, r0 * dv, total * dv);
            slot.held.putQueries(layer, f, m, qArr, r0 * dk, total * dk, hArr, r0 * e);
            // Rows before the new ones are zeros for q and h (by contract not read), and for k and v too where the
            // attention holds them (HELD_ROWS), else the held ones. The scratch is zero between calls, so only the
            // rows written here are cleared afterwards: a decoded token costs O(1) rows, not O(rows so far).
            for (int h = 0; h < H; h++) {
                System.arraycopy(qArr, (h * total + r0) * dk, sc.q, (h * n + f) * dk, m * dk);
            }
            System.arraycopy(hArr, r0 * e, sc.h, f * e, m * e);
            Segment segment = new Segment(slot.stack.position(), Tensor.view(sc.q, 0, H, n, dk),
                    Tensor.view(sc.k, 0, G, n, dk), Tensor.view(sc.v, 0, G, n, dv), Tensor.view(sc.h, 0, n, e));
            boolean packed = false;
            try {
                boolean given = false;
                if (newRowsOnly) {
                    gatherInto(kArr, G, total, r0, m, dk, sc.k, n, f);
                    gatherInto(vArr, G, total, r0, m, dv, sc.v, n, f);
                    try {
                        LayerStep.rows(l.attention(), l.memory().orElse(null), segment, f, true, attnOut, addendOut);
                        given = true;
                    } catch (IllegalStateException notHeld) {
                        // it holds other rows (a fork, a restore): the whole segment so far, once; it holds them after
                    }
                }
                if (!given) {
                    packed = true;
                    slot.held.pack(layer, n, sc.k, sc.v);
                    LayerStep.rows(l.attention(), l.memory().orElse(null), segment, f, attnOut, addendOut);
                }
            } finally {
                clearRows(sc.q, H, n, f, dk);
                java.util.Arrays.fill(sc.h, f * e, n * e, 0f);
                clearRows(sc.k, G, n, packed ? 0 : f, dk);
                clearRows(sc.v, G, n, packed ? 0 : f, dv);
            }
            if (slot.complete) {
                commitHeld(slot, layer, l, n, sc);
            }
        }
        if (!alone) {
            putAttention(sc, H, total, r0, m, dv);
        }
    }

    /**
     * The whole segment of a slot whose last rows just completed it (EXACT_ROWS) into the layer's state, from its held
     * rows: its step's outputs are not needed (the new rows' are computed above, the same bits), only the state it
     * leaves ({@link LayerStep#commit}: the attention appends without attending). Once a segment: every held row
     * packed.
     */
    private void commitHeld(Slot slot, int layer, SequenceStack.Layer l, int n, Scratch sc) {
        int H = spec.heads();
        int dk = spec.keyDim();
        int e = spec.modelDim();
        slot.held.packQueries(layer, n, sc.q, sc.h);
        slot.held.pack(layer, n, sc.k, sc.v);
        try {
            Segment segment = new Segment(slot.stack.position(), Tensor.view(sc.q, 0, H, n, dk),
                    Tensor.view(sc.k, 0, spec.kvHeads(), n, dk), Tensor.view(sc.v, 0, spec.kvHeads(), n, spec.valueDim()),
                    Tensor.view(sc.h, 0, n, e));
            LayerStep.commit(l.attention(), l.memory().orElse(null), segment);
        } finally {
            java.util.Arrays.fill(sc.q, 0, H * n * dk, 0f);
            java.util.Arrays.fill(sc.h, 0, n * e, 0f);
            java.util.Arrays.fill(sc.k, 0, spec.kvHeads() * n * dk, 0f);
            java.util.Arrays.fill(sc.v, 0, spec.kvHeads() * n * spec.valueDim(), 0f);
        }
    }

    /** Rows [first, first + m) of [heads, n, d] in dst from the call's rows [r0, r0 + m) of [heads, total, d]. */
    private static void gatherInto(float[] src, int heads, int total, int r0, int m, int d, float[] dst, int n, int first) {
        for (int h = 0; h < heads; h++) {
            System.arraycopy(src, (h * total + r0) * d, dst, (h * n + first) * d, m * d);
        }
    }

    /** Columns [r0, r0 + m) of {@code src} [heads, total, d] (an ONNX Runtime buffer) as [heads, m, d] in {@code dst}. */
    private static Tensor gather(FloatBuffer src, int heads, int total, int r0, int m, int d, float[] dst) {
        for (int h = 0; h < heads; h++) {
            src.get((h * total + r0) * d, dst, h * m * d, m * d);
        }
        return Tensor.view(dst, 0, heads, m, d);
    }

    /** Zeros rows [from, n) of every head of [heads, n, d] in a: the scratch is zero again between calls. */
    private static void clearRows(float[] a, int heads, int n, int from, int d) {
        for (int h = 0; h < heads; h++) {
            java.util.Arrays.fill(a, (h * n + from) * d, (h * n + n) * d, 0f);
        }
    }

    /**
     * A thread's arrays for one slot's segment, each with room for a whole segment. q, k, v, h (the held rows' segment
     * so far) are all zero between calls; gatheredQ/K/V/H (a slot of new rows only, from a call shared with other
     * slots) are overwritten whole by each use and never cleared.
     */
    private static final class Scratch {
        final float[] q;
        final float[] k;
        final float[] v;
        final float[] h;
        final float[] attn;
        final float[] gatheredQ;
        final float[] gatheredK;
        final float[] gatheredV;
        final float[] gatheredH;
        /**
         * This thread's views of the pool's q, k, v, h and attn buffers: a buffer object is not for concurrent use (its
         * memory is), and a view made per call would be an allocation per layer and token. Made again when the pool
         * grows (it replaces every buffer at once).
         */
        private FloatBuffer viewsOf;
        FloatBuffer qView;
        FloatBuffer kView;
        FloatBuffer vView;
        FloatBuffer hView;
        FloatBuffer attnView;

        Scratch(LayerSpec spec, int s) {
            q = new float[spec.heads() * s * spec.keyDim()];
            k = new float[spec.kvHeads() * s * spec.keyDim()];
            v = new float[spec.kvHeads() * s * spec.valueDim()];
            h = new float[s * spec.modelDim()];
            attn = new float[spec.heads() * s * spec.valueDim()];
            gatheredQ = new float[q.length];
            gatheredK = new float[k.length];
            gatheredV = new float[v.length];
            gatheredH = new float[h.length];
        }

        void views(Workspace.Pool pool) {
            if (viewsOf != pool.q) {
                viewsOf = pool.q;
                qView = pool.q.duplicate();
                kView = pool.k.duplicate();
                vView = pool.v.duplicate();
                hView = pool.h.duplicate();
                attnView = pool.attn.duplicate();
            }
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


    private void ensureArrays(int rows, int headRows) {
        if (idsArr.length < rows) {
            int capacity = (rows + segmentLength - 1) / segmentLength * segmentLength;
            idsArr = new long[capacity];
            qArr = new float[capacity * spec.heads() * spec.keyDim()];
            kArr = new float[capacity * spec.kvHeads() * spec.keyDim()];
            vArr = new float[capacity * spec.kvHeads() * spec.valueDim()];
            hArr = new float[capacity * spec.modelDim()];
            attnArr = new float[capacity * spec.heads() * spec.valueDim()];
            addendArr = new float[capacity * spec.modelDim()];
        }
        if (logitsArr.length < headRows * vocab) {
            logitsArr = new float[headRows * vocab];
        }
    }

    @Override
    public void close() {
        pool.close();
        graphs.close();
    }
}
