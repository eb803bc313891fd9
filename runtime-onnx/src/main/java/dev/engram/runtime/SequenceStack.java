package dev.engram.runtime;

import dev.engram.api.Attention;
import dev.engram.api.LongTermMemory;
import dev.engram.api.SequenceState;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The memory of one sequence at a segment boundary: per layer its attention (with any cache) and its long-term
 * memory, plus the position reached. It forks into an independent copy, checkpoints and rolls back in memory, and
 * writes its layers into a {@link ModelSequence}'s saved state; every layer is copied by its provider's
 * {@link SequenceState#copy()}, or, where a provider has none, by restoring its snapshot into a new instance.
 */
public final class SequenceStack {
    /** One layer's state. */
    public record Layer(Attention attention, Optional<LongTermMemory> memory) {
        public Layer {
            Objects.requireNonNull(attention, "attention is null");
            Objects.requireNonNull(memory, "memory is null");
        }
    }

    /** Makes new, empty instances of a layer's configured attention and memory (for copies of providers without one). */
    public interface LayerMaker {
        Layer newLayer(int layer);
    }

    private final List<Layer> layers;
    private final List<Layer> view;
    private final LayerMaker maker;
    private long position;

    /** A stack of these layers; without a {@link LayerMaker}, every provider must implement {@code copy()} to fork. */
    public SequenceStack(List<Layer> layers) {
        this(layers, null);
    }

    public SequenceStack(List<Layer> layers, LayerMaker maker) {
        this.layers = new ArrayList<>(layers);
        this.view = Collections.unmodifiableList(this.layers);
        this.maker = maker;
    }

    /** The layers now (a rollback replaces their instances: ask again after one rather than keeping them). */
    public List<Layer> layers() {
        return view;
    }

    /** Tokens this sequence has consumed. */
    public long position() {
        return position;
    }

    public void advance(int tokens) {
        position += tokens;
    }

    public void reset() {
        for (Layer l : layers) {
            l.attention().reset();
            l.memory().ifPresent(LongTermMemory::reset);
        }
        position = 0;
    }

    /** Bytes of state across all layers. */
    public long stateBytes() {
        long total = 0;
        for (Layer l : layers) {
            total += l.attention().stateBytes() + l.memory().map(LongTermMemory::stateBytes).orElse(0L);
        }
        return total;
    }

    /**
     * An independent copy: the same state and position, after which neither changes the other. It costs the
     * providers' copies (their arrays), not a serialisation, except for providers without {@code copy()}.
     */
    public SequenceStack fork() {
        List<Layer> copies = new ArrayList<>(layers.size());
        for (int i = 0; i < layers.size(); i++) {
            copies.add(copyOf(i, layers.get(i)));
        }
        SequenceStack fork = new SequenceStack(copies, maker);
        fork.position = position;
        return fork;
    }

    private Layer copyOf(int i, Layer l) {
        Layer fresh = null;
        Attention a = sameClass(l.attention(), l.attention().copy(), Attention.class);
        if (a == null) {
            fresh = fresh(i);
            a = fresh.attention();
            a.restore(l.attention().snapshot());
        }
        Optional<LongTermMemory> m = Optional.empty();
        if (l.memory().isPresent()) {
            LongTermMemory c = sameClass(l.memory().get(), l.memory().get().copy(), LongTermMemory.class);
            if (c == null) {
                fresh = fresh != null ? fresh : fresh(i);
                c = fresh.memory().orElseThrow();
                c.restore(l.memory().get().snapshot());
            }
            m = Optional.of(c);
        }
        return new Layer(a, m);
    }

    /** The provider's copy, checked to be what it copied (null: the provider has none). */
    private static <T extends SequenceState> T sameClass(T original, SequenceState copy, Class<T> kind) {
        if (copy == null) {
            return null;
        }
        if (copy.getClass() != original.getClass() || copy == original) {
            throw new IllegalStateException(original.getClass().getName() + ".copy() returned "
                    + (copy == original ? "the instance itself" : "a " + copy.getClass().getName())
                    + "; it must return a new instance of its own class (or null to be copied through a snapshot)");
        }
        return kind.cast(copy);
    }

    private Layer fresh(int i) {
        if (maker == null) {
            throw new IllegalStateException("layer " + i + "'s " + describe(layers.get(i)) + " has no copy() and this"
                    + " stack was built without a LayerMaker: make stacks with SequenceFactory to fork them");
        }
        return maker.newLayer(i);
    }

    private static String describe(Layer l) {
        return "attention " + l.attention().getClass().getSimpleName()
                + l.memory().map(m -> " / memory " + m.getClass().getSimpleName()).orElse("");
    }

    /**
     * The state now, held in memory (a private fork): {@link #rollback} puts it back, as often as asked. A checkpoint
     * costs what a {@link #fork()} costs.
     */
    public Checkpoint checkpoint() {
        return new Checkpoint(fork());
    }

    /**
     * Puts back a {@link #checkpoint()} of this stack or of a fork of it, bit-exactly; the checkpoint stays valid.
     * One of a stack with other layers is refused, changing nothing.
     */
    public void rollback(Checkpoint checkpoint) {
        SequenceStack saved = checkpoint.state;
        requireSameLayout(saved);
        SequenceStack copy = saved.fork();
        for (int i = 0; i < layers.size(); i++) {
            layers.set(i, copy.layers.get(i));
        }
        position = saved.position;
    }

    private void requireSameLayout(SequenceStack other) {
        if (other.layers.size() != layers.size()) {
            throw new IllegalArgumentException("the checkpoint has " + other.layers.size() + " layers; this stack has "
                    + layers.size() + ": roll back to a checkpoint of this sequence or of a fork of it");
        }
        for (int i = 0; i < layers.size(); i++) {
            Layer a = layers.get(i);
            Layer b = other.layers.get(i);
            if (a.attention().getClass() != b.attention().getClass() || a.memory().isPresent() != b.memory().isPresent()
                    || a.memory().isPresent() && a.memory().get().getClass() != b.memory().get().getClass()) {
                throw new IllegalArgumentException("the checkpoint's layer " + i + " holds " + describe(b)
                        + "; this stack's holds " + describe(a) + ": roll back to a checkpoint of this sequence or a fork of it");
            }
        }
    }

    /** A {@link #checkpoint()}: an unshared copy of the stack's state, which only {@link #rollback} reads. */
    public static final class Checkpoint {
        private final SequenceStack state;

        private Checkpoint(SequenceStack state) {
            this.state = state;
        }

        /** The position the checkpoint was taken at. */
        public long position() {
            return state.position;
        }
    }

    /** Writes the position and every layer's snapshot. */
    void write(StateStream.Writer w) {
        w.writeLong(position);
        w.writeInt(layers.size());
        for (Layer l : layers) {
            w.writeSnapshot(l.attention().snapshot());
            w.writeBoolean(l.memory().isPresent());
            if (l.memory().isPresent()) {
                w.writeSnapshot(l.memory().get().snapshot());
            }
        }
    }

    /** Layer snapshots read back, not yet installed: per layer the attention's and the memory's (null: none). */
    record Saved(long position, List<Snapshot> attentions, List<Snapshot> memories) {
    }

    /** Reads what {@link #write} wrote, checking the layer layout against this stack's; installs nothing. */
    Saved read(StateStream.Reader r) {
        long pos = r.readLong("position");
        if (pos < 0) {
            throw new SnapshotException("sequence snapshot position is " + pos + "; valid: >= 0 (the stream is damaged)");
        }
        int count = r.readInt("layer count");
        if (count != layers.size()) {
            throw new SnapshotException("sequence snapshot has " + count + " layers; this model has " + layers.size());
        }
        List<Snapshot> attentions = new ArrayList<>(count);
        List<Snapshot> memories = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            attentions.add(r.readSnapshot("layer " + i + " attention"));
            boolean hasMemory = r.readBoolean("layer " + i + " memory flag");
            requireMemoryLayout(i, hasMemory);
            memories.add(hasMemory ? r.readSnapshot("layer " + i + " memory") : null);
        }
        return new Saved(pos, attentions, memories);
    }

    void requireMemoryLayout(int layer, boolean hasMemory) {
        if (hasMemory != layers.get(layer).memory().isPresent()) {
            throw new SnapshotException("sequence snapshot layer " + layer + (hasMemory ? " has" : " has no")
                    + " long-term memory; the configured layer " + (hasMemory ? "has none" : "has one"));
        }
    }

    /**
     * Installs {@code saved}: every layer is restored into a new instance first (a fork's, or a fresh one's), and only
     * when all of them accepted their snapshots do they replace this stack's, so a refusal changes nothing.
     */
    void install(Saved saved) {
        List<Layer> next = new ArrayList<>(layers.size());
        for (int i = 0; i < layers.size(); i++) {
            Layer target = maker != null ? maker.newLayer(i) : copyOf(i, layers.get(i));
            target.attention().restore(saved.attentions().get(i));
            if (saved.memories().get(i) != null) {
                target.memory().orElseThrow().restore(saved.memories().get(i));
            }
            next.add(target);
        }
        for (int i = 0; i < layers.size(); i++) {
            layers.set(i, next.get(i));
        }
        position = saved.position();
    }
}
