package dev.engram.tck;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

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
        return TestData.weights(providerUnderTest().weights(spec, parsedConfig()), 1234);
    }

    abstract S create(LayerContext context);

    /** Runs one segment through {@code state} and returns copies of every output it produced, each [A, N, B]. */
    abstract List<Tensor> step(S state, long start, TestData.Inputs inputs);

    final ProviderConfig parsedConfig() {
        return providerUnderTest().configSchema().parse("test config", config());
    }

    final boolean supports(Capability c) {
        return providerUnderTest().supports(c, parsedConfig());
    }

    final LayerContext context(LayerSpec spec) {
        return ProviderRegistry.context(providerUnderTest(), 0, spec, config(), weights(spec));
    }

    final S fresh() {
        return create(context(spec()));
    }

    final int length(int segment) {
        return supports(Capability.VARIABLE_SEGMENT_LENGTH) ? VARIABLE_LENGTHS[segment % VARIABLE_LENGTHS.length] : 6;
    }

    final List<TestData.Inputs> inputs(LayerSpec spec) {
        List<TestData.Inputs> list = new ArrayList<>();
        for (int s = 0; s < segments(); s++) {
            list.add(TestData.inputs(spec, length(s), 100 + s));
        }
        return list;
    }

    /** Runs segments [from, to) and returns every output of every step. */
    final List<List<Tensor>> run(S state, List<TestData.Inputs> inputs, int from, int to) {
        long start = 0;
        for (int s = 0; s < from; s++) {
            start += inputs.get(s).q().dim(1);
        }
        List<List<Tensor>> outputs = new ArrayList<>();
        for (int s = from; s < to; s++) {
            outputs.add(step(state, start, inputs.get(s)));
            start += inputs.get(s).q().dim(1);
        }
        return outputs;
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

    @Test
    void sameInputsGiveBitIdenticalOutputs() {
        List<TestData.Inputs> in = inputs(spec());
        assertBitEqual(run(fresh(), in, 0, in.size()), run(fresh(), in, 0, in.size()), "two fresh instances");
    }

    @Test
    void outputsAreFinite() {
        List<TestData.Inputs> in = inputs(spec());
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
        List<TestData.Inputs> in = inputs(spec());
        int last = in.size() - 1;
        List<TestData.Inputs> changed = new ArrayList<>(in);
        TestData.Inputs perturbed = in.get(last).copy();
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

    @Test
    void snapshotRestoreContinueIsBitIdenticalToNeverStopping() {
        List<TestData.Inputs> in = inputs(spec());
        int half = in.size() / 2;
        S uninterrupted = fresh();
        List<List<Tensor>> expected = run(uninterrupted, in, 0, in.size());

        S first = fresh();
        run(first, in, 0, half);
        byte[] bytes = first.snapshot().toBytes();
        S second = fresh();
        second.restore(Snapshot.fromBytes(bytes));
        assertArrayEquals(bytes, second.snapshot().toBytes(), "a restored state snapshots to the same bytes");
        assertEquals(first.stateBytes(), second.stateBytes(), "stateBytes after restore");
        List<List<Tensor>> continued = run(second, in, half, in.size());
        assertBitEqual(expected.subList(half, in.size()), continued, "restored and continued");
        assertArrayEquals(uninterrupted.snapshot().toBytes(), second.snapshot().toBytes(), "final state");
    }

    @Test
    void resetReturnsToTheEmptyState() {
        List<TestData.Inputs> in = inputs(spec());
        S state = fresh();
        byte[] empty = state.snapshot().toBytes();
        List<List<Tensor>> firstRun = run(state, in, 0, in.size());
        state.reset();
        assertArrayEquals(empty, state.snapshot().toBytes(), "snapshot after reset equals a fresh one");
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
        List<TestData.Inputs> in = new ArrayList<>();
        for (int s = 0; s < segments() * 4; s++) {
            in.add(TestData.inputs(spec(), length(s), 500 + s));
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
                TestData.Inputs c = inputs.copy();
                tensorOf(c, field).array()[1] = bad;
                return c;
            });
        }
    }

    @Test
    void wrongShapesAreRejectedOrUnusedAndLeaveTheStateUnchanged() {
        LayerSpec s = spec();
        checkBadInput("q", inputs -> {
            TestData.Inputs c = inputs.copy();
            int n = c.q().dim(1);
            return new TestData.Inputs(TestData.normal(9, 1f, s.heads(), n, s.keyDim() + 1), c.k(), c.v(), c.h(), c.local());
        });
        checkBadInput("k", inputs -> {
            TestData.Inputs c = inputs.copy();
            int n = c.k().dim(1);
            return new TestData.Inputs(c.q(), TestData.normal(9, 1f, s.kvHeads() + 1, n, s.keyDim()), c.v(), c.h(), c.local());
        });
        checkBadInput("h", inputs -> {
            TestData.Inputs c = inputs.copy();
            int n = c.h().dim(0);
            return new TestData.Inputs(c.q(), c.k(), c.v(), TestData.normal(9, 1f, n, s.modelDim() + 3), c.local());
        });
    }

    private static Tensor tensorOf(TestData.Inputs inputs, String field) {
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
     * field and its outputs equal those of the undamaged segment.
     */
    private void checkBadInput(String field, UnaryOperator<TestData.Inputs> damage) {
        List<TestData.Inputs> in = inputs(spec());
        S state = fresh();
        run(state, in, 0, 2);
        long start = in.get(0).q().dim(1) + in.get(1).q().dim(1);
        byte[] before = state.snapshot().toBytes();
        TestData.Inputs good = in.get(2);
        TestData.Inputs bad = damage.apply(good);
        try {
            List<Tensor> out = step(state, start, bad);
            S reference = fresh();
            run(reference, in, 0, 2);
            List<Tensor> expected = step(reference, start, good);
            assertBitEqual(List.of(expected), List.of(out),
                    "segment." + field + " was damaged but accepted, so it must be unused");
        } catch (InvalidInputException e) {
            assertTrue(e.getMessage().contains("segment." + field),
                    "the error must name segment." + field + ": " + e.getMessage());
            assertArrayEquals(before, state.snapshot().toBytes(),
                    "a rejected segment." + field + " changed the state");
        }
    }

    @Test
    void restoreRefusesForeignOrDamagedSnapshotsAndKeepsTheState() {
        List<TestData.Inputs> in = inputs(spec());
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
        assertArrayEquals(before, state.snapshot().toBytes(), what + " changed the state although it was refused");
    }

    @Test
    void handingAnInstanceBetweenThreadsGivesTheSameResult() throws Exception {
        List<TestData.Inputs> in = inputs(spec());
        List<List<Tensor>> expected = run(fresh(), in, 0, in.size());
        S state = fresh();
        ExecutorService a = Executors.newSingleThreadExecutor();
        ExecutorService b = Executors.newSingleThreadExecutor();
        try {
            List<List<Tensor>> actual = new ArrayList<>();
            long start = 0;
            for (int s = 0; s < in.size(); s++) {
                final long st = start;
                final TestData.Inputs inputs = in.get(s);
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

    @Test
    void groupedQueryHeadsAreSupportedOrRefusedClearly() {
        LayerSpec s = spec();
        LayerSpec grouped = new LayerSpec(4, 2, s.keyDim(), s.valueDim(), s.modelDim());
        if (supports(Capability.GROUPED_QUERY_HEADS)) {
            S state = create(context(grouped));
            step(state, 0, TestData.inputs(grouped, 3, 7)).forEach(t -> t.requireFinite("output"));
        } else {
            ConfigException e = assertThrows(ConfigException.class, () -> context(grouped));
            assertTrue(e.getMessage().contains("kvHeads"), e.getMessage());
        }
    }
}
