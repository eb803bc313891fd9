package dev.engram.spi;

import dev.engram.api.LayerSpec;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateReader;
import dev.engram.api.StateWriter;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The snapshot plumbing every provider needs, in one place: the header (provider, state version,
 * layer spec), its checks, and the "parse everything, then swap" rule that keeps a bad snapshot
 * from damaging the live state.
 *
 * <pre>{@code
 * public Snapshot snapshot() { return SnapshotSupport.save(context, provider.stateVersion(), this::writeState); }
 * public void restore(Snapshot s) { SnapshotSupport.load(context, provider.stateVersion(), s, this::readState); }
 * // readState parses into locals and returns the Runnable that installs them
 * }</pre>
 */
public final class SnapshotSupport {
    private SnapshotSupport() {
    }

    public static Snapshot save(LayerContext context, int stateVersion, Consumer<StateWriter> writeState) {
        StateWriter w = new StateWriter();
        writeState.accept(w);
        LAST_LAYOUT.set(w.layout());
        return new Snapshot(context.provider(), stateVersion, context.spec(), w.toBytes());
    }

    private static final ThreadLocal<List<StateWriter.Field>> LAST_LAYOUT = ThreadLocal.withInitial(List::of);

    /**
     * The payload layout of the last snapshot this thread saved through {@link #save}: for diagnostics such as the
     * test kit's "state field 'memory' differs at element 17"; empty before any save.
     */
    public static List<StateWriter.Field> lastLayout() {
        return LAST_LAYOUT.get();
    }

    /** Forgets this thread's last layout, so that a snapshot not saved through {@link #save} leaves none behind. */
    public static void clearLastLayout() {
        LAST_LAYOUT.remove();
    }

    /**
     * Checks {@code snapshot} belongs here, lets {@code readState} parse the whole payload into new
     * objects and return the action that installs them, and runs that action only when parsing
     * succeeded and consumed every byte.
     */
    public static void load(LayerContext context, int stateVersion, Snapshot snapshot,
                            Function<StateReader, Runnable> readState) {
        LayerSpec spec = context.spec();
        snapshot.requireCompatible(context.provider(), stateVersion, spec);
        StateReader reader = new StateReader(snapshot.payload());
        Runnable install;
        try {
            install = readState.apply(reader);
            reader.requireEnd();
        } catch (SnapshotException e) {
            throw new SnapshotException(context.describe() + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new SnapshotException(context.describe() + ": snapshot payload is inconsistent: " + e, e);
        }
        install.run();
    }
}
