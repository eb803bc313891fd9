package dev.engram.runtime;

import dev.engram.api.SnapshotException;
import dev.engram.api.StateStream;
import dev.engram.runtime.config.LayerPlan;
import dev.engram.runtime.config.ProviderChoice;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

/**
 * One sequence that an {@link Engine} feeds, and all of its state: its layers' state ({@link SequenceStack}, always
 * at a segment boundary), the tokens of the segment not yet complete, and the keys and values held for decoding
 * inside that segment. Segments are aligned to absolute positions (0, S, 2S, ...), so feeding a text in one call or
 * in pieces gives the same segments and the same results bit for bit. Not thread-safe; one thread at a time.
 *
 * <p>State operations, all bit-exact:
 * <ul>
 *   <li>{@link #fork()}: an independent copy that shares the past and then diverges; costs the providers' copies.</li>
 *   <li>{@link #checkpoint()} / {@link #rollback}: the state held in memory and put back, as often as asked.</li>
 *   <li>{@link #save} / {@link #load}: the one saved-state format ({@link StateStream}, kind "sequence"), streamed,
 *       with the model and the per-layer strategy it belongs to, refused whole when anything does not fit.</li>
 * </ul>
 */
public final class ModelSequence {
    static final String KIND = "sequence";
    private static final String WHAT = "sequence snapshot";

    private final Engine owner;
    private final SequenceStack stack;
    private final int[] pending;
    private int pendingCount;
    /** The segment in progress's keys and values where every layer has PARTIAL_ROWS; null until first needed. */
    private SegmentRows rows;

    ModelSequence(Engine owner, SequenceStack stack, int segmentLength) {
        this.owner = owner;
        this.stack = stack;
        this.pending = new int[segmentLength];
    }

    private ModelSequence(ModelSequence from) {
        this.owner = from.owner;
        this.stack = from.stack.fork();
        this.pending = from.pending.clone();
        this.pendingCount = from.pendingCount;
        this.rows = from.rows == null ? null : from.rows.copy();
    }

    /** Tokens consumed, including those of the segment in progress. */
    public long position() {
        return stack.position() + pendingCount;
    }

    /** Tokens of the segment in progress: in no layer's state yet; they enter it when the segment is full. */
    public int pendingTokens() {
        return pendingCount;
    }

    /** Every layer's state; at the last segment boundary. */
    public SequenceStack stack() {
        return stack;
    }

    /** The state a snapshot holds: every layer's memory and cache, and the pending tokens. */
    public long stateBytes() {
        return stack.stateBytes() + 4L * pendingCount;
    }

    /**
     * {@link #stateBytes()} plus the rows held for decoding inside the segment (keys and values, and with
     * EXACT_ROWS queries and hidden states: one segment's worth per layer, allocated on the first token decoded row by
     * row; derived, not in snapshots): what the sequence keeps in memory, for budgets.
     */
    public long residentBytes() {
        return stateBytes() + (rows == null ? 0 : rows.bytes());
    }

    public void reset() {
        stack.reset();
        pendingCount = 0;
        clearRows();
    }

    // ---- fork, checkpoint, rollback ----

    /**
     * An independent copy of this sequence: the same past (every layer's state, the segment in progress and the rows
     * held for it), after which feeding either never changes the other, and the copy's outputs for the same input are
     * bit-identical to what this sequence's would be. It costs the providers' copies of their arrays, not a
     * serialisation; the copy belongs to the same engine.
     */
    public ModelSequence fork() {
        return new ModelSequence(this);
    }

    /** The whole state now, held in memory: {@link #rollback} puts it back bit-exactly, as often as asked. */
    public Checkpoint checkpoint() {
        return new Checkpoint(owner, stack.checkpoint(), Arrays.copyOf(pending, pendingCount),
                rows == null ? null : rows.copy());
    }

    /**
     * Puts back a {@link #checkpoint()} of this sequence (or of a fork of it): the state, the segment in progress and
     * its held rows, so what follows is bit-identical to what followed the checkpoint. The checkpoint stays valid.
     * One of another engine's sequence is refused, changing nothing.
     */
    public void rollback(Checkpoint checkpoint) {
        if (checkpoint.owner != owner) {
            throw new IllegalArgumentException("the checkpoint belongs to a sequence of another engine; roll back to a"
                    + " checkpoint of this sequence or of a fork of it");
        }
        stack.rollback(checkpoint.stack);
        System.arraycopy(checkpoint.pending, 0, pending, 0, checkpoint.pending.length);
        pendingCount = checkpoint.pending.length;
        rows = checkpoint.rows == null ? null : checkpoint.rows.copy();
    }

    /** A {@link #checkpoint()}: a private copy of a sequence's state. */
    public static final class Checkpoint {
        private final Engine owner;
        private final SequenceStack.Checkpoint stack;
        private final int[] pending;
        private final SegmentRows rows;

        private Checkpoint(Engine owner, SequenceStack.Checkpoint stack, int[] pending, SegmentRows rows) {
            this.owner = owner;
            this.stack = stack;
            this.pending = pending;
            this.rows = rows;
        }

        /** Tokens consumed when the checkpoint was taken. */
        public long position() {
            return stack.position() + pending.length;
        }
    }

    // ---- save and load ----

    /**
     * Writes the whole state to {@code out} as a {@link StateStream} of kind "sequence" (flushed, not closed):
     * <pre>
     *   model name (string) | layers, vocabulary size, segment length (ints)
     *   | per layer: its attention's and then its memory's strategy: provider name (string; "none" for no memory),
     *     number of configuration keys (int), each key and value (strings; every key, defaults included)
     *   | the running checksum of the header so far (int), checked before the header is compared
     *   | position at the last boundary (long) | layers (int)
     *   | per layer: the attention's snapshot entry, a memory flag (int 0/1) and the memory's snapshot entry
     *   | pending tokens (int count, ints)
     * </pre>
     * The rows held for decoding inside the segment are derived and not saved: a loaded sequence evaluates its pending
     * rows once on its next token, whose logits equal the original's to float rounding (every later segment and the
     * state itself stay bit-exact).
     */
    public void save(OutputStream out) {
        saveFields(new StateStream.Writer(out, KIND));
    }

    /**
     * Writes {@link #save}'s fields (from the model name on) into a stream another format opened, then the stream's
     * checksum: a format that stores a sequence with data of its own (the server's session records) puts its fields
     * first, and the whole has one header and one checksum. {@link #loadFields} reads it back.
     */
    public void saveFields(StateStream.Writer w) {
        w.writeString(owner.manifest().name());
        w.writeInt(stack.layers().size());
        w.writeInt(owner.vocabSize());
        w.writeInt(pending.length);
        for (Strategy strategy : strategies()) {
            w.writeString(strategy.provider());
            w.writeInt(strategy.config().size());
            strategy.config().forEach((k, v) -> w.writeString(k).writeString(v));
        }
        w.writeRunningChecksum();
        stack.write(w);
        w.writeInt(pendingCount);
        for (int i = 0; i < pendingCount; i++) {
            w.writeInt(pending[i]);
        }
        w.finish();
    }

    /**
     * Replaces the whole state with one {@link #save} wrote, reading {@code in} to its end. Everything is read and
     * checked (checksum, model, strategy of every layer, each provider's own checks) before anything changes: a
     * truncated or damaged stream, or one of another model, strategy or format version, is a {@link SnapshotException}
     * that names what does not match, and the sequence stays as it was. Reads the version 1 sequence snapshots of
     * Engram before the state stream ("ENGRAMMS") too.
     */
    public void load(InputStream in) {
        BufferedInputStream buffered = new BufferedInputStream(in, 1 << 16);
        byte[] head;
        try {
            buffered.mark(16);
            head = buffered.readNBytes(8);
            buffered.reset();
        } catch (IOException e) {
            throw new UncheckedIOException("reading a sequence snapshot failed", e);
        }
        if (Arrays.equals(head, LegacySequenceSnapshot.MAGIC)) {
            try {
                LegacySequenceSnapshot.load(this, buffered.readAllBytes());
            } catch (IOException e) {
                throw new UncheckedIOException("reading a sequence snapshot failed", e);
            }
            return;
        }
        loadFields(new StateStream.Reader(buffered, KIND, WHAT));
    }

    /**
     * Reads {@link #saveFields}'s fields from a stream another format opened and has read its own fields of, to the
     * stream's end and checksum, with every check of {@link #load}: nothing changes unless all of it passes.
     */
    public void loadFields(StateStream.Reader r) {
        String model = r.readString("model name");
        int layers = r.readInt("layers");
        int vocab = r.readInt("vocabulary size");
        int segmentLength = r.readInt("segment length");
        List<Strategy> expected = strategies();
        if (layers < 0 || layers > 1 << 16) {
            throw new SnapshotException(WHAT + " claims " + layers + " layers (the stream is damaged)");
        }
        List<Strategy> saved = new java.util.ArrayList<>();
        for (int i = 0; i < 2 * layers; i++) {
            String where = WHAT + " layer " + (i / 2) + " " + (i % 2 == 0 ? "attention" : "memory");
            String provider = r.readString("strategy provider");
            int keys = r.readInt("strategy size");
            if (keys < 0 || keys > 4096) {
                throw new SnapshotException(where + " has " + keys + " configuration keys (the stream is damaged)");
            }
            TreeMap<String, String> config = new TreeMap<>();
            for (int k = 0; k < keys; k++) {
                config.put(r.readString("strategy key"), r.readString("strategy value"));
            }
            saved.add(new Strategy(provider, config));
        }
        r.checkRunningChecksum("header");
        requireModel(model, layers, vocab, segmentLength);
        for (int i = 0; i < expected.size(); i++) {
            expected.get(i).requireSame(WHAT + " layer " + (i / 2) + " " + (i % 2 == 0 ? "attention" : "memory"),
                    saved.get(i));
        }
        SequenceStack.Saved layersSaved = stack.read(r);
        int[] tokens = readPending(r);
        r.finish(true);
        checkTokens(tokens);
        install(layersSaved, tokens);
    }

    private void requireModel(String model, int layers, int vocab, int segmentLength) {
        String name = owner.manifest().name();
        if (!model.equals(name)) {
            throw new SnapshotException(WHAT + " belongs to model '" + model + "'; this engine runs model '" + name + "'");
        }
        if (layers != stack.layers().size() || vocab != owner.vocabSize()) {
            throw new SnapshotException(WHAT + " is of a model with " + layers + " layers and vocabulary " + vocab
                    + "; this engine's model '" + name + "' has " + stack.layers().size() + " and " + owner.vocabSize());
        }
        if (segmentLength != pending.length) {
            throw new SnapshotException(WHAT + " was saved with segment length " + segmentLength + "; this engine runs "
                    + pending.length + ": load it into an engine with segment length " + segmentLength);
        }
    }

    /** The pending tokens as stored; their values are checked once the checksum has passed ({@link #checkTokens}). */
    private int[] readPending(StateStream.Reader r) {
        int count = r.readInt("pending token count");
        if (count < 0 || count >= pending.length) {
            throw new SnapshotException(WHAT + " has " + count + " pending tokens; valid: 0 to " + (pending.length - 1)
                    + " (segment length " + pending.length + "; the stream is damaged)");
        }
        int[] tokens = new int[count];
        for (int i = 0; i < count; i++) {
            tokens[i] = r.readInt("pending token " + i);
        }
        return tokens;
    }

    private void checkTokens(int[] tokens) {
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= owner.vocabSize()) {
                throw new SnapshotException(WHAT + " pending token " + i + " is " + tokens[i] + "; valid: [0, "
                        + (owner.vocabSize() - 1) + "]");
            }
        }
    }

    /** Installs parsed state; the stack restores every layer into new instances before replacing any. */
    void install(SequenceStack.Saved saved, int[] tokens) {
        stack.install(saved);
        System.arraycopy(tokens, 0, pending, 0, tokens.length);
        pendingCount = tokens.length;
        clearRows();
    }

    /** A layer's attention or memory as configured: the provider and every configuration key, defaults included. */
    private record Strategy(String provider, TreeMap<String, String> config) {
        static final Strategy NONE = new Strategy("none", new TreeMap<>());

        static Strategy of(ProviderChoice choice) {
            TreeMap<String, String> config = new TreeMap<>();
            choice.config().asMap().forEach((k, v) -> config.put(k, String.valueOf(v)));
            return new Strategy(choice.provider(), config);
        }

        /** Fails, naming the provider or the keys that differ, unless {@code saved} is this strategy. */
        void requireSame(String where, Strategy saved) {
            if (!saved.provider.equals(provider)) {
                throw new SnapshotException(where + " was saved with provider '" + saved.provider + "'; this engine runs '"
                        + provider + "': load it into an engine with the same configuration");
            }
            List<String> differences = new java.util.ArrayList<>();
            java.util.TreeSet<String> keys = new java.util.TreeSet<>(config.keySet());
            keys.addAll(saved.config.keySet());
            for (String k : keys) {
                String was = saved.config.get(k);
                String now = config.get(k);
                if (!java.util.Objects.equals(was, now)) {
                    differences.add(k + " " + (was == null ? "unset" : was) + " (this engine: " + (now == null ? "unset" : now) + ")");
                }
            }
            if (!differences.isEmpty()) {
                throw new SnapshotException(where + " '" + provider + "' was saved with " + String.join(", ", differences)
                        + ": load it into an engine with the same configuration");
            }
        }
    }

    /** Per layer the attention's and the memory's strategy, as {@link #save} writes them. */
    private List<Strategy> strategies() {
        List<Strategy> out = new java.util.ArrayList<>();
        for (LayerPlan lp : owner.plan().layers()) {
            out.add(Strategy.of(lp.attention()));
            out.add(lp.memory().map(Strategy::of).orElse(Strategy.NONE));
        }
        return out;
    }

    /** {@link #save}'s bytes in an array. */
    public byte[] snapshot() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        save(bytes);
        return bytes.toByteArray();
    }

    /** {@link #load} from an array. */
    public void restore(byte[] bytes) {
        load(new ByteArrayInputStream(bytes));
    }

    // ---- the segment in progress, for the engine ----

    Engine owner() {
        return owner;
    }

    int segmentLength() {
        return pending.length;
    }

    /** Room left in the segment in progress. */
    int room() {
        return pending.length - pendingCount;
    }

    int pendingToken(int i) {
        return pending[i];
    }

    /** Adds {@code count} tokens of {@code tokens} from {@code from} to the segment in progress. */
    void appendPending(int[] tokens, int from, int count) {
        if (count > room()) {
            throw new IllegalStateException(count + " tokens do not fit the " + room() + " left in the segment");
        }
        System.arraycopy(tokens, from, pending, pendingCount, count);
        pendingCount += count;
    }

    /** Drops the pending tokens after the first {@code count} (a failed evaluation gives them back). */
    void truncatePending(int count) {
        pendingCount = count;
        if (rows != null) {
            rows.held = Math.min(rows.held, count);
        }
    }

    /** The full segment in progress has run into the stack: the next one starts. */
    void completeSegment() {
        stack.advance(pendingCount);
        pendingCount = 0;
        clearRows();
    }

    /** The pending tokens have no evaluated rows any more (a new segment started, or the state was replaced). */
    private void clearRows() {
        if (rows != null) {
            rows.held = 0;
        }
    }

    /** Pending tokens whose keys and values are held for decoding. */
    int rowsHeld() {
        return rows == null ? 0 : rows.held;
    }

    /** The held rows, allocated on first use ({@code heads} 0: keys and values only; see {@link SegmentRows}). */
    SegmentRows rows(int layers, int kvHeads, int keyDim, int valueDim, int heads, int modelDim) {
        if (rows == null) {
            rows = new SegmentRows(layers, kvHeads, pending.length, keyDim, valueDim, heads, modelDim);
        }
        return rows;
    }
}
