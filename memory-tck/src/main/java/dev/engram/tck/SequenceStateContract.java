package dev.engram.tck;

import dev.engram.conformance.SeededData;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.engram.api.Capability;
import dev.engram.api.ConfigException;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.SequenceState;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.Tensor;
import dev.engram.spi.LayerContext;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.SnapshotSupport;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.UnaryOperator;
import java.lang.reflect.Method;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The checks every attention and memory must pass, written once over a "subject" that runs one
 * segment and returns copies of what it produced. {@link LongTermMemoryContract} and
 * {@link AttentionContract} adapt the two kinds.
 */
abstract class SequenceStateContract<S extends SequenceState> {
    /** Inputs for {@link #segments()} steps. Lengths vary when the provider supports it. */
    private static final int[] VARIABLE_LENGTHS = {6, 3, 1, 7, 5, 6};

    protected abstract Provider providerUnderTest();

    /** The provider's configuration as a user would write it; default: all defaults. */
    protected Map<String, Object> config() {
        return Map.of();
    }

    /**
     * More configurations to check: every check of the kit runs again under each (as dynamic tests named after the
     * configuration), so one subclass covers a provider's modes. Each map replaces {@link #config()} for its run (it is
     * not merged into it). Default: none.
     */
    protected List<Map<String, Object>> moreConfigs() {
        return List.of();
    }

    /** The configuration the check in progress runs under: {@link #config()}, or one of {@link #moreConfigs()}. */
    private Map<String, Object> underTest;

    final Map<String, Object> activeConfig() {
        return underTest != null ? underTest : config();
    }

    @TestFactory
    Stream<DynamicContainer> everyCheckAgainUnderMoreConfigs() {
        List<Method> checks = new ArrayList<>();
        for (Class<?> c = getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            if (!c.getPackageName().equals(SequenceStateContract.class.getPackageName())) {
                continue; // only the kit's own checks, not a subclass's extra tests
            }
            for (Method m : c.getDeclaredMethods()) {
                if (m.isAnnotationPresent(Test.class) && m.getParameterCount() == 0) {
                    checks.add(m);
                }
            }
        }
        checks.sort(java.util.Comparator.comparing(Method::getName));
        return moreConfigs().stream().map(config -> DynamicContainer.dynamicContainer("config " + config,
                checks.stream().map(m -> DynamicTest.dynamicTest(m.getName(), () -> {
                    underTest = config;
                    try {
                        m.setAccessible(true);
                        m.invoke(this);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    } finally {
                        underTest = null;
                    }
                }))));
    }

    /** The layer shape under test; default uses grouped-query heads when the provider supports them. */
    protected LayerSpec spec() {
        boolean gqa = providerUnderTest().supports(Capability.GROUPED_QUERY_HEADS, parsedConfig());
        return new LayerSpec(4, gqa ? 2 : 4, 8, 8, 16);
    }

    /** Number of segments each check runs; at least 4. */
    protected int segments() {
        return 6;
    }

    /** Weights for {@code spec}; default: seeded random values for every weight the provider declares. */
    protected Map<String, Tensor> weights(LayerSpec spec) {
        return SeededData.weights(providerUnderTest().weights(spec, parsedConfig()), 1234);
    }

    abstract S create(LayerContext context);

    /** Runs one segment through {@code state} and returns copies of every output it produced, each [A, N, B]. */
    abstract List<Tensor> step(S state, long start, SeededData.Inputs inputs);

    /**
     * The output-producing calls of one segment (a memory's read and combine, an attention's attend),
     * returning the tensors exactly as the provider returned them: its own, possibly reused, buffers.
     */
    abstract List<Tensor> produce(S state, long start, SeededData.Inputs inputs);

    /** The rest of the segment after {@link #produce} (a memory's write; nothing for an attention). */
    abstract void complete(S state, long start, SeededData.Inputs inputs);

    /**
     * The outputs of rows [from, N) of the segment, computed the PARTIAL_ROWS way (attendRows; readRows and
     * combine with those rows' local output), as copies shaped like {@link #step}'s with N - from tokens.
     */
    abstract List<Tensor> partialRows(S state, long start, SeededData.Inputs inputs, int from);

    final ProviderConfig parsedConfig() {
        return providerUnderTest().configSchema().parse("test config", activeConfig());
    }

    final boolean supports(Capability c) {
        return providerUnderTest().supports(c, parsedConfig());
    }

    final LayerContext context(LayerSpec spec) {
        return ProviderRegistry.context(providerUnderTest(), 0, spec, activeConfig(), weights(spec));
    }

    final S fresh() {
        return create(context(spec()));
    }

    final int length(int segment) {
        return supports(Capability.VARIABLE_SEGMENT_LENGTH) ? VARIABLE_LENGTHS[segment % VARIABLE_LENGTHS.length] : 6;
    }

    final List<SeededData.Inputs> inputs(LayerSpec spec) {
        List<SeededData.Inputs> list = new ArrayList<>();
        for (int s = 0; s < segments(); s++) {
            list.add(SeededData.inputs(spec, length(s), 100 + s));
        }
        return list;
    }

    /** The position of segment {@code index}'s first token: the lengths of the segments before it. */
    static long startOf(List<SeededData.Inputs> inputs, int index) {
        long start = 0;
        for (int s = 0; s < index; s++) {
            start += inputs.get(s).q().dim(1);
        }
        return start;
    }

    /** A fresh state that has run segments [0, segments) of {@code inputs}. */
    final S freshAfter(List<SeededData.Inputs> inputs, int segments) {
        S state = fresh();
        run(state, inputs, 0, segments);
        return state;
    }

    /** Runs segments [from, to) and returns every output of every step. */
    final List<List<Tensor>> run(S state, List<SeededData.Inputs> inputs, int from, int to) {
        long start = startOf(inputs, from);
        List<List<Tensor>> outputs = new ArrayList<>();
        for (int s = from; s < to; s++) {
            outputs.add(step(state, start, inputs.get(s)));
            start += inputs.get(s).q().dim(1);
        }
        return outputs;
    }

    /** Fails unless {@code actual} snapshots to {@code expected}, naming the first piece of state that differs. */
    static void assertSameState(byte[] expected, SequenceState actual, String what) {
        SnapshotSupport.clearLastLayout(); // a provider that saves otherwise must not be described by a stale layout
        byte[] bytes = actual.snapshot().toBytes();
        String difference = StateDiff.describe(expected, bytes, SnapshotSupport.lastLayout());
        if (difference != null) {
            fail(what + ": " + difference);
        }
    }

    static void assertBitEqual(List<List<Tensor>> expected, List<List<Tensor>> actual, String what) {
        assertEquals(expected.size(), actual.size(), what + ": number of steps");
        for (int s = 0; s < expected.size(); s++) {
            for (int o = 0; o < expected.get(s).size(); o++) {
                Tensor e = expected.get(s).get(o);
                Tensor a = actual.get(s).get(o);
                if (!e.bitEquals(a)) {
                    fail(what + ": step " + s + " output " + o + " differs: expected " + e + " but was " + a);
                }
            }
        }
    }

    /**
     * Inputs belong to the caller and weights are shared by every sequence of a model: after a whole run, every
     * segment's q, k, v, h and local, and every weight the provider was given, hold exactly what they held before.
     */
    @Test
    void inputsAndWeightsAreNeverWritten() {
        LayerSpec s = spec();
        Map<String, Tensor> weights = weights(s);
        Map<String, Tensor> weightsBefore = new java.util.TreeMap<>();
        weights.forEach((name, t) -> weightsBefore.put(name, t.copy()));
        S state = create(ProviderRegistry.context(providerUnderTest(), 0, s, activeConfig(), weights));
        List<SeededData.Inputs> in = inputs(s);
        List<SeededData.Inputs> before = in.stream().map(SeededData.Inputs::copy).toList();
        run(state, in, 0, in.size());
        weightsBefore.forEach((name, t) -> assertTrue(t.bitEquals(weights.get(name)),
                "weight '" + name + "' changed during a run: weights are shared by every sequence of a model, read-only"));
        String[] fields = {"q", "k", "v", "h", "local"};
        for (int seg = 0; seg < in.size(); seg++) {
            Tensor[] now = {in.get(seg).q(), in.get(seg).k(), in.get(seg).v(), in.get(seg).h(), in.get(seg).local()};
            Tensor[] was = {before.get(seg).q(), before.get(seg).k(), before.get(seg).v(), before.get(seg).h(),
                    before.get(seg).local()};
            for (int f = 0; f < fields.length; f++) {
                assertTrue(was[f].bitEquals(now[f]), "segment " + seg + "'s " + fields[f]
                        + " changed during the run: inputs belong to the caller and are read-only");
            }
        }
    }

    @Test
    void sameInputsGiveBitIdenticalOutputs() {
        List<SeededData.Inputs> in = inputs(spec());
        assertBitEqual(run(fresh(), in, 0, in.size()), run(fresh(), in, 0, in.size()), "two fresh instances");
    }

    @Test
    void outputsAreFinite() {
        List<SeededData.Inputs> in = inputs(spec());
        for (List<Tensor> step : run(fresh(), in, 0, in.size())) {
            for (Tensor t : step) {
                t.requireFinite("output");
            }
        }
    }

    @Test
    void anOutputNeverDependsOnALaterToken() {
        if (!supports(Capability.CAUSAL)) {
            return; // declared non-causal: nothing to hold it to
        }
        List<SeededData.Inputs> in = inputs(spec());
        int last = in.size() - 1;
        List<SeededData.Inputs> changed = new ArrayList<>(in);
        SeededData.Inputs perturbed = in.get(last).copy();
        int n = perturbed.q().dim(1);
        assertTrue(n >= 2, "the last test segment needs two tokens");
        perturbLastToken(perturbed.q(), 1);
        perturbLastToken(perturbed.k(), 1);
        perturbLastToken(perturbed.v(), 1);
        perturbLastToken(perturbed.h(), 0);
        perturbLastToken(perturbed.local(), 1);
        changed.set(last, perturbed);
        List<List<Tensor>> a = run(fresh(), in, 0, in.size());
        List<List<Tensor>> b = run(fresh(), changed, 0, in.size());
        assertBitEqual(a.subList(0, last), b.subList(0, last), "segments before the perturbed one");
        for (int o = 0; o < a.get(last).size(); o++) {
            Tensor x = a.get(last).get(o);
            Tensor y = b.get(last).get(o);
            for (int t = 0; t < n - 1; t++) {
                assertTrue(tokenSlice(x, t).bitEquals(tokenSlice(y, t)),
                        "output " + o + " at token " + t + " changed when only token " + (n - 1) + " changed");
            }
        }
    }

    private static void perturbLastToken(Tensor t, int tokenAxis) {
        int n = t.dim(tokenAxis);
        if (tokenAxis == 0) {
            Tensor row = t.select(n - 1);
            for (int i = 0; i < row.size(); i++) {
                row.array()[row.offset() + i] += 3f;
            }
            return;
        }
        for (int h = 0; h < t.dim(0); h++) {
            Tensor row = t.select(h).select(n - 1);
            for (int i = 0; i < row.size(); i++) {
                row.array()[row.offset() + i] += 3f;
            }
        }
    }

    /** The values of token {@code token} of an output [A, N, B] (every step output has tokens on axis 1). */
    static Tensor tokenSlice(Tensor t, int token) {
        int heads = t.dim(0);
        int width = t.dim(2);
        Tensor out = Tensor.zeros(heads, width);
        for (int h = 0; h < heads; h++) {
            out.select(h).copyFrom(t.select(h).select(token));
        }
        return out;
    }

    /**
     * PARTIAL_ROWS: rows [from, N) of a segment in progress equal those rows of the whole segment's step (bit for bit
     * where the provider declares EXACT_ROWS, else to float rounding), whatever
     * q, h and local hold in the rows before {@code from} (the runtime passes zeros there), and change no state,
     * neither what snapshots show nor anything hidden that a later step would read.
     */
    @Test
    void partialRowsEqualTheWholeSegmentsRowsAndChangeNothing() {
        boolean exact = supports(Capability.EXACT_ROWS);
        if (!supports(Capability.PARTIAL_ROWS)) {
            assertFalse(exact, "Capability.EXACT_ROWS is declared without PARTIAL_ROWS, which it qualifies");
            return; // not declared: the runtime re-runs a segment in progress from a checkpoint instead
        }
        List<SeededData.Inputs> in = inputs(spec());
        int at = in.size() - 2; // a state with some segments in it
        S state = freshAfter(in, at);
        long start = startOf(in, at);
        byte[] before = state.snapshot().toBytes();
        SeededData.Inputs segment = in.get(at);
        int n = segment.q().dim(1);
        assertTrue(n >= 2, "the test segment needs two tokens");
        S reference = fresh();
        reference.restore(Snapshot.fromBytes(before));
        List<Tensor> whole = step(reference, start, segment);
        for (int from : new java.util.TreeSet<>(List.of(0, 1, n / 2, n - 1))) {
            List<Tensor> rows = partialRows(state, start, garbleRowsBefore(segment, from), from);
            assertEquals(whole.size(), rows.size(), "number of outputs of rows from " + from);
            for (int o = 0; o < whole.size(); o++) {
                String what = "output " + o + " of rows [" + from + ", " + n + ")";
                if (exact) { // declared: the runtime builds the state from these rows, so they must be the same bits
                    assertTrue(rowsFrom(whole.get(o), from).bitEquals(rows.get(o)), what + " differs in bits from the "
                            + "whole segment's (the provider declares Capability.EXACT_ROWS)");
                } else {
                    assertClose(rowsFrom(whole.get(o), from), rows.get(o), what);
                }
            }
            assertSameState(before, state, "the state after rows from " + from);
        }
        for (int bad : new int[] {-1, n}) {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> partialRows(state, start, segment, bad), "rows from " + bad);
            assertTrue(e.getMessage().startsWith("from: is " + bad), e.getMessage());
            assertSameState(before, state, "the state after refusing rows from " + bad);
        }
        S control = fresh();
        control.restore(Snapshot.fromBytes(before));
        assertBitEqual(run(control, in, at, in.size()), run(state, in, at, in.size()),
                "steps after partial rows (something not in the snapshot changed)");
    }

    /** A copy with q, h and local of rows [0, from) replaced by large unrelated values; k and v kept. */
    private static SeededData.Inputs garbleRowsBefore(SeededData.Inputs in, int from) {
        SeededData.Inputs c = in.copy();
        Tensor noise = SeededData.normal(from + 77L, 40f, 1, 1, c.h().size());
        int next = 0;
        for (Tensor t : List.of(c.q(), c.local())) {
            for (int a = 0; a < t.dim(0); a++) {
                for (int i = 0; i < from; i++) {
                    Tensor row = t.select(a).select(i);
                    for (int d = 0; d < row.size(); d++) {
                        row.array()[row.offset() + d] = noise.array()[next++ % noise.size()];
                    }
                }
            }
        }
        for (int i = 0; i < from; i++) {
            Tensor row = c.h().select(i);
            for (int d = 0; d < row.size(); d++) {
                row.array()[row.offset() + d] = noise.array()[next++ % noise.size()];
            }
        }
        return c;
    }

    /** Tokens [from, N) of an output [A, N, B]. */
    static Tensor rowsFrom(Tensor t, int from) {
        int rows = t.dim(1) - from;
        Tensor out = Tensor.zeros(t.dim(0), rows, t.dim(2));
        for (int a = 0; a < t.dim(0); a++) {
            for (int i = 0; i < rows; i++) {
                out.select(a).select(i).copyFrom(t.select(a).select(from + i));
            }
        }
        return out;
    }

    /** Equal shapes and every value within float rounding of a different summation order: 1e-5 (1 + |expected|). */
    static void assertClose(Tensor expected, Tensor actual, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        float[] e = expected.toArray();
        float[] a = actual.toArray();
        for (int i = 0; i < e.length; i++) {
            if (!(Math.abs(a[i] - e[i]) <= 1e-5 * (1 + Math.abs(e[i])))) {
                fail(what + ": value " + i + " is " + a[i] + "; the whole segment's is " + e[i]);
            }
        }
    }

    @Test
    void snapshotRestoreContinueIsBitIdenticalToNeverStopping() {
        List<SeededData.Inputs> in = inputs(spec());
        int half = in.size() / 2;
        S uninterrupted = fresh();
        List<List<Tensor>> expected = run(uninterrupted, in, 0, in.size());

        S first = fresh();
        run(first, in, 0, half);
        byte[] bytes = first.snapshot().toBytes();
        S second = fresh();
        second.restore(Snapshot.fromBytes(bytes));
        assertSameState(bytes, second, "a restored state snapshots to the same bytes");
        assertEquals(first.stateBytes(), second.stateBytes(), "stateBytes after restore");
        List<List<Tensor>> continued = run(second, in, half, in.size());
        assertBitEqual(expected.subList(half, in.size()), continued, "restored and continued");
        assertSameState(uninterrupted.snapshot().toBytes(), second, "final state");
    }

    /**
     * The copy a runtime makes to fork a sequence or hold a checkpoint: the provider's {@code copy()}, which must be a
     * new instance of its own class, or, where the provider has none, a new instance with this state's snapshot restored.
     */
    @SuppressWarnings("unchecked")
    final S copyOf(S state) {
        SequenceState copy = state.copy();
        if (copy == null) {
            S fresh = fresh();
            fresh.restore(state.snapshot());
            return fresh;
        }
        assertTrue(copy != state, "copy() returned the instance itself; it must return a new, independent one");
        assertEquals(state.getClass(), copy.getClass(), "copy() must return an instance of the state's own class");
        return (S) copy;
    }

    /**
     * A fork's future never changes the original: after half the segments the state is copied; then, segment by
     * segment, the original and the copy alternate, the copy fed other inputs. The original's outputs and final state
     * are bit-identical to a run that was never copied, and a second copy fed the original's inputs gives the same
     * outputs too (a copy continues exactly as the original would).
     */
    @Test
    void aForkNeverChangesTheOriginalAndContinuesAsItWould() {
        List<SeededData.Inputs> in = inputs(spec());
        int half = in.size() / 2;
        S uninterrupted = fresh();
        List<List<Tensor>> expected = run(uninterrupted, in, 0, in.size());

        S original = fresh();
        run(original, in, 0, half);
        byte[] atFork = original.snapshot().toBytes();
        S fork = copyOf(original);
        S twin = copyOf(original);
        assertSameState(atFork, fork, "a copy snapshots to the original's bytes");
        assertEquals(original.stateBytes(), fork.stateBytes(), "stateBytes of a copy");
        List<List<Tensor>> actual = new ArrayList<>();
        long start = startOf(in, half);
        for (int s = half; s < in.size(); s++) {
            actual.add(step(original, start, in.get(s)));
            step(fork, start, SeededData.inputs(spec(), length(s), 900 + s)); // the fork's own, different future
            start += in.get(s).q().dim(1);
        }
        assertBitEqual(expected.subList(half, in.size()), actual, "the original beside its fork");
        assertSameState(uninterrupted.snapshot().toBytes(), original, "the original's final state beside its fork");
        assertBitEqual(expected.subList(half, in.size()), run(twin, in, half, in.size()), "a copy fed the original's inputs");
    }

    /**
     * A checkpoint (a copy held aside) rolls back bit-exactly, as often as asked: the segments after it give the same
     * outputs every time they are run from a copy of it, and running them never changes the checkpoint.
     */
    @Test
    void rollbackToACheckpointIsBitExactAndRepeatable() {
        List<SeededData.Inputs> in = inputs(spec());
        int half = in.size() / 2;
        S state = fresh();
        run(state, in, 0, half);
        S checkpoint = copyOf(state);
        byte[] atCheckpoint = checkpoint.snapshot().toBytes();
        List<List<Tensor>> first = run(state, in, half, in.size());
        byte[] end = state.snapshot().toBytes();
        for (int attempt = 1; attempt <= 2; attempt++) {
            S rolledBack = copyOf(checkpoint);
            assertSameState(atCheckpoint, rolledBack, "rollback " + attempt + " restores the checkpoint's state");
            assertBitEqual(first, run(rolledBack, in, half, in.size()), "the segments after rollback " + attempt);
            assertSameState(end, rolledBack, "the state after rollback " + attempt + " and the same segments");
            assertSameState(atCheckpoint, checkpoint, "the checkpoint after rollback " + attempt + " was used");
        }
    }

    @Test
    void resetReturnsToTheEmptyState() {
        List<SeededData.Inputs> in = inputs(spec());
        S state = fresh();
        byte[] empty = state.snapshot().toBytes();
        List<List<Tensor>> firstRun = run(state, in, 0, in.size());
        state.reset();
        assertSameState(empty, state, "snapshot after reset equals a fresh one");
        assertBitEqual(firstRun, run(state, in, 0, in.size()), "run after reset");
    }

    @Test
    void stateBytesIsNonNegativeAndFlatWhenDeclaredConstant() {
        S state = fresh();
        assertTrue(state.stateBytes() >= 0, "stateBytes of a fresh state");
        if (!supports(Capability.CONSTANT_STATE_SIZE)) {
            return;
        }
        // Four times the usual number of segments, positions continuing, so caches fill and evict.
        List<SeededData.Inputs> in = new ArrayList<>();
        for (int s = 0; s < segments() * 4; s++) {
            in.add(SeededData.inputs(spec(), length(s), 500 + s));
        }
        run(state, in, 0, 2);
        long early = state.stateBytes();
        run(state, in, 2, in.size());
        assertEquals(early, state.stateBytes(), "declared CONSTANT_STATE_SIZE but stateBytes grew");
    }

    @Test
    void nonFiniteInputsAreRejectedOrUnusedAndLeaveTheStateUnchanged() {
        String[] fields = {"q", "k", "v", "h"};
        for (int f = 0; f < fields.length; f++) {
            String field = fields[f];
            float bad = f % 2 == 0 ? Float.NaN : Float.POSITIVE_INFINITY;
            checkBadInput(field, inputs -> {
                SeededData.Inputs c = inputs.copy();
                tensorOf(c, field).array()[1] = bad;
                return c;
            });
        }
    }

    @Test
    void wrongShapesAreRejectedOrUnusedAndLeaveTheStateUnchanged() {
        LayerSpec s = spec();
        checkBadInput("q", inputs -> {
            SeededData.Inputs c = inputs.copy();
            int n = c.q().dim(1);
            return new SeededData.Inputs(SeededData.normal(9, 1f, s.heads(), n, s.keyDim() + 1), c.k(), c.v(), c.h(), c.local());
        });
        checkBadInput("k", inputs -> {
            SeededData.Inputs c = inputs.copy();
            int n = c.k().dim(1);
            return new SeededData.Inputs(c.q(), SeededData.normal(9, 1f, s.kvHeads() + 1, n, s.keyDim()), c.v(), c.h(), c.local());
        });
        checkBadInput("v", inputs -> {
            SeededData.Inputs c = inputs.copy();
            int n = c.v().dim(1);
            return new SeededData.Inputs(c.q(), c.k(), SeededData.normal(9, 1f, c.v().dim(0), n, s.valueDim() + 1), c.h(), c.local());
        });
        checkBadInput("h", inputs -> {
            SeededData.Inputs c = inputs.copy();
            int n = c.h().dim(0);
            return new SeededData.Inputs(c.q(), c.k(), c.v(), SeededData.normal(9, 1f, n, s.modelDim() + 3), c.local());
        });
    }

    private static Tensor tensorOf(SeededData.Inputs inputs, String field) {
        return switch (field) {
            case "q" -> inputs.q();
            case "k" -> inputs.k();
            case "v" -> inputs.v();
            case "h" -> inputs.h();
            default -> throw new IllegalArgumentException(field);
        };
    }

    /**
     * Feeds a damaged segment after two good ones. Either the step fails with an InvalidInputException
     * that names segment.{field} and the state is exactly as before, or the provider does not use that
     * field: its outputs and the state after the step equal those of the undamaged segment.
     */
    final void checkBadInput(String field, UnaryOperator<SeededData.Inputs> damage) {
        checkBadInput(field, "segment." + field, damage);
    }

    /** As {@link #checkBadInput(String, UnaryOperator)}, for an input whose errors must name {@code named}. */
    final void checkBadInput(String field, String named, UnaryOperator<SeededData.Inputs> damage) {
        List<SeededData.Inputs> in = inputs(spec());
        S state = fresh();
        run(state, in, 0, 2);
        long start = in.get(0).q().dim(1) + in.get(1).q().dim(1);
        byte[] before = state.snapshot().toBytes();
        SeededData.Inputs good = in.get(2);
        SeededData.Inputs bad = damage.apply(good);
        try {
            List<Tensor> out = step(state, start, bad);
            S reference = fresh();
            run(reference, in, 0, 2);
            List<Tensor> expected = step(reference, start, good);
            assertBitEqual(List.of(expected), List.of(out),
                    named + " was damaged but accepted, so it must be unused");
            // A field a memory consumes only in write() shows in no output of this segment: compare the state too.
            assertSameState(reference.snapshot().toBytes(), state,
                    named + " was damaged but accepted, and the state after the segment differs from the undamaged"
                            + " segment's: a field that is used must be checked");
        } catch (InvalidInputException e) {
            assertTrue(e.getMessage().contains(named),
                    "the error must name " + named + ": " + e.getMessage());
            assertSameState(before, state,
                    "a rejected " + named + " changed the state");
        }
    }

    @Test
    void restoreRefusesForeignOrDamagedSnapshotsAndKeepsTheState() {
        List<SeededData.Inputs> in = inputs(spec());
        S state = fresh();
        run(state, in, 0, 2);
        Snapshot good = state.snapshot();
        byte[] before = good.toBytes();

        LayerSpec s = spec();
        LayerSpec other = new LayerSpec(s.heads(), s.kvHeads(), s.keyDim() * 2, s.valueDim(), s.modelDim());
        Snapshot otherShape = create(context(other)).snapshot();
        assertRefused(state, otherShape, before, "a snapshot of another layer shape");

        Snapshot otherProvider = new Snapshot(good.provider() + "-other", good.stateVersion(), good.spec(), good.payload());
        assertRefused(state, otherProvider, before, "a snapshot of another provider");

        Snapshot otherVersion = new Snapshot(good.provider(), good.stateVersion() + 1, good.spec(), good.payload());
        assertRefused(state, otherVersion, before, "a snapshot of another state version");

        byte[] payload = good.payload();
        if (payload.length > 0) {
            Snapshot truncated = new Snapshot(good.provider(), good.stateVersion(), good.spec(),
                    Arrays.copyOf(payload, payload.length / 2));
            assertRefused(state, truncated, before, "a truncated payload");
        }
        Snapshot padded = new Snapshot(good.provider(), good.stateVersion(), good.spec(),
                Arrays.copyOf(payload, payload.length + 4));
        assertRefused(state, padded, before, "a payload with trailing bytes");

        byte[] flipped = good.toBytes();
        flipped[flipped.length / 2] ^= 0x5a;
        assertThrows(SnapshotException.class, () -> Snapshot.fromBytes(flipped), "a damaged byte fails the checksum");
    }

    private void assertRefused(S state, Snapshot snapshot, byte[] before, String what) {
        assertThrows(SnapshotException.class, () -> state.restore(snapshot), what + " must be refused");
        assertSameState(before, state, what + " changed the state although it was refused");
    }

    @Test
    void handingAnInstanceBetweenThreadsGivesTheSameResult() throws Exception {
        List<SeededData.Inputs> in = inputs(spec());
        List<List<Tensor>> expected = run(fresh(), in, 0, in.size());
        S state = fresh();
        ExecutorService a = Executors.newSingleThreadExecutor();
        ExecutorService b = Executors.newSingleThreadExecutor();
        try {
            List<List<Tensor>> actual = new ArrayList<>();
            long start = 0;
            for (int s = 0; s < in.size(); s++) {
                final long st = start;
                final SeededData.Inputs inputs = in.get(s);
                // Future.get() is the happens-before edge the confinement contract asks callers for.
                actual.add((s % 2 == 0 ? a : b).submit(() -> step(state, st, inputs)).get());
                start += inputs.q().dim(1);
            }
            assertBitEqual(expected, actual, "alternating threads");
        } finally {
            a.shutdownNow();
            b.shutdownNow();
        }
    }

    /**
     * Two instances never share mutable state: calls on A and B interleaved give each exactly what it gives
     * alone, and a whole segment on B, run between A's output-producing calls and A's write, never changes
     * the tensors A returned (a static buffer, a shared cache or a shared random stream would show here).
     */
    @Test
    void twoInstancesNeverShareMutableState() {
        List<SeededData.Inputs> inA = inputs(spec());
        List<SeededData.Inputs> inB = new ArrayList<>();
        for (int s = 0; s < inA.size(); s++) {
            inB.add(SeededData.inputs(spec(), length(s + 1), 700 + s));
        }
        List<List<Tensor>> aloneA = new ArrayList<>();
        S solo = fresh();
        long start = 0;
        for (SeededData.Inputs segment : inA) {
            aloneA.add(produce(solo, start, segment).stream().map(Tensor::copy).toList());
            complete(solo, start, segment);
            start += segment.q().dim(1);
        }
        List<List<Tensor>> aloneB = run(fresh(), inB, 0, inB.size());

        S a = fresh();
        S b = fresh();
        List<List<Tensor>> outA = new ArrayList<>();
        List<List<Tensor>> outB = new ArrayList<>();
        long startA = 0;
        long startB = 0;
        for (int s = 0; s < inA.size(); s++) {
            List<Tensor> returnedByA = produce(a, startA, inA.get(s));
            List<Tensor> keptA = returnedByA.stream().map(Tensor::copy).toList();
            outB.add(step(b, startB, inB.get(s)));
            for (int o = 0; o < returnedByA.size(); o++) {
                if (!returnedByA.get(o).bitEquals(keptA.get(o))) {
                    fail("segment " + s + ": output " + o + " returned by instance A changed during a call on instance B;"
                            + " two instances must never share a buffer or other mutable state");
                }
            }
            complete(a, startA, inA.get(s));
            outA.add(keptA);
            startA += inA.get(s).q().dim(1);
            startB += inB.get(s).q().dim(1);
        }
        assertBitEqual(aloneA, outA, "instance A with calls on instance B interleaved");
        assertBitEqual(aloneB, outB, "instance B with calls on instance A interleaved");
    }

    /**
     * Two instances running at the same time on two threads give exactly what each gives alone: a static scratch
     * array or other state shared between instances, even one used only inside a call, races here. Each thread runs
     * its whole sequence on fresh instances again and again for {@link #CONCURRENT_MILLIS} ms, so the calls overlap
     * many times, and every run is compared with the run alone.
     */
    @Test
    void twoInstancesOnTwoThreadsAtOnceGiveWhatEachGivesAlone() throws Exception {
        List<SeededData.Inputs> inA = inputs(spec());
        List<SeededData.Inputs> inB = new ArrayList<>();
        for (int s = 0; s < inA.size(); s++) {
            inB.add(SeededData.inputs(spec(), length(s), 900 + s));
        }
        List<List<Tensor>> aloneA = run(fresh(), inA, 0, inA.size());
        List<List<Tensor>> aloneB = run(fresh(), inB, 0, inB.size());
        java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(2);
        long deadline = System.nanoTime() + CONCURRENT_MILLIS * 1_000_000L;
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            var a = threads.submit(() -> runRepeatedly(inA, aloneA, start, deadline, stop, "instance A"));
            var b = threads.submit(() -> runRepeatedly(inB, aloneB, start, deadline, stop, "instance B"));
            // both threads have ended before this check returns, failed or not: a thread still running would go on
            // calling the provider during the next check
            Throwable failure = null;
            for (var f : List.of(a, b)) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    failure = failure != null ? failure : e.getCause();
                }
            }
            if (failure != null) {
                throw failure instanceof AssertionError ae ? ae : new AssertionError(failure);
            }
        } finally {
            threads.shutdownNow();
        }
    }

    /** How long the two-thread check keeps both threads busy. */
    static final long CONCURRENT_MILLIS = 300;

    private Void runRepeatedly(List<SeededData.Inputs> inputs, List<List<Tensor>> alone, java.util.concurrent.CyclicBarrier start,
                               long deadline, java.util.concurrent.atomic.AtomicBoolean stop, String who) throws Exception {
        start.await(10, java.util.concurrent.TimeUnit.SECONDS);
        try {
            for (int round = 0; !stop.get() && (round == 0 || System.nanoTime() < deadline); round++) {
                assertBitEqual(alone, run(fresh(), inputs, 0, inputs.size()),
                        who + " while another instance ran on another thread (run " + round + ")");
            }
        } catch (Throwable t) {
            stop.set(true); // the other thread ends its run too
            throw t;
        }
        return null;
    }

    /**
     * VARIABLE_SEGMENT_LENGTH declared: segments of 1 token and of more tokens than any before work, each
     * output has the segment's token count, and an instance whose buffers were sized by earlier lengths
     * answers exactly like a fresh one restored to the same state. Not declared: a segment of another length
     * than the first is refused with an InvalidInputException that names the segment, state unchanged.
     */
    @Test
    void variableSegmentLengthsWorkOrAreRefusedClearly() {
        LayerSpec s = spec();
        int[] lengths = {5, 1, 9, 2, 12};
        S state = fresh();
        long start = 0;
        if (supports(Capability.VARIABLE_SEGMENT_LENGTH)) {
            for (int i = 0; i < lengths.length; i++) {
                SeededData.Inputs in = SeededData.inputs(s, lengths[i], 300 + i);
                S restored = fresh();
                restored.restore(Snapshot.fromBytes(state.snapshot().toBytes()));
                List<Tensor> out = step(state, start, in);
                for (int o = 0; o < out.size(); o++) {
                    assertEquals(lengths[i], out.get(o).dim(1), "segment of " + lengths[i] + " tokens: output " + o
                            + " has shape " + Arrays.toString(out.get(o).shape()));
                    out.get(o).requireFinite("output");
                }
                assertBitEqual(List.of(step(restored, start, in)), List.of(out),
                        "segment " + i + " (" + lengths[i] + " tokens) after segments of other lengths versus a fresh"
                                + " instance restored to the same state");
                start += lengths[i];
            }
            return;
        }
        step(state, 0, SeededData.inputs(s, lengths[0], 300));
        byte[] before = state.snapshot().toBytes();
        final long next = lengths[0];
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> step(state, next, SeededData.inputs(s, lengths[2], 302)),
                "VARIABLE_SEGMENT_LENGTH is not declared, so a segment of " + lengths[2] + " tokens after one of "
                        + lengths[0] + " must be refused");
        assertTrue(e.getMessage().contains("segment"), "the error must name the segment: " + e.getMessage());
        assertSameState(before, state, "a refused segment length changed the state");
    }

    @Test
    void groupedQueryHeadsAreSupportedOrRefusedClearly() {
        LayerSpec s = spec();
        LayerSpec grouped = new LayerSpec(4, 2, s.keyDim(), s.valueDim(), s.modelDim());
        if (supports(Capability.GROUPED_QUERY_HEADS)) {
            S state = create(context(grouped));
            step(state, 0, SeededData.inputs(grouped, 3, 7)).forEach(t -> t.requireFinite("output"));
        } else {
            ConfigException e = assertThrows(ConfigException.class, () -> context(grouped));
            assertTrue(e.getMessage().contains("kvHeads"), e.getMessage());
        }
    }
}
