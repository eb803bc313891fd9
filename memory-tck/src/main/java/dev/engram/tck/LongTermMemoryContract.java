package dev.engram.tck;

import dev.engram.conformance.SeededData;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.LayerContext;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.Provider;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The test kit for a {@link LongTermMemoryProvider}. A plugin's test is a subclass:
 * <pre>{@code
 * class MyMemoryTest extends LongTermMemoryContract {
 *     protected LongTermMemoryProvider provider() { return new MyProvider(); }
 *     protected Map<String, Object> config() { return Map.of("decay", 0.9); }   // optional
 * }
 * }</pre>
 * Each step runs read, combine and write as the pipeline does (docs/schemes.md section 0).
 * Readout diagnostics are expected per head and token, [H, N] or [H, N, d].
 */
public abstract class LongTermMemoryContract extends SequenceStateContract<LongTermMemory> {
    protected abstract LongTermMemoryProvider provider();

    @Override
    protected final Provider providerUnderTest() {
        return provider();
    }

    @Override
    final LongTermMemory create(LayerContext context) {
        return provider().create(context);
    }

    static Segment segment(long start, SeededData.Inputs in) {
        return new Segment(start, in.q(), in.k(), in.v(), in.h());
    }

    @Override
    final List<Tensor> step(LongTermMemory memory, long start, SeededData.Inputs in) {
        Segment segment = segment(start, in);
        List<Tensor> outputs = new ArrayList<>(readAndCombine(memory, segment, in.local()));
        memory.write(segment);
        return outputs;
    }

    @Override
    final List<Tensor> produce(LongTermMemory memory, long start, SeededData.Inputs in) {
        Readout readout = memory.read(segment(start, in));
        List<Tensor> outputs = new ArrayList<>();
        switch (readout) {
            case Readout.PerHead p -> {
                outputs.add(p.values());
                outputs.add(memory.combine(in.local().copy(), readout));
            }
            case Readout.ModelSpace m -> outputs.add(m.addend());
        }
        readout.diagnostics().keySet().stream().sorted().forEach(k -> outputs.add(readout.diagnostics().get(k)));
        return outputs;
    }

    @Override
    final void complete(LongTermMemory memory, long start, SeededData.Inputs in) {
        memory.write(segment(start, in));
    }

    @Override
    final List<Tensor> partialRows(LongTermMemory memory, long start, SeededData.Inputs in, int from) {
        Segment segment = segment(start, in);
        Readout readout = memory.readRows(segment, from);
        Tensor local = in.local();
        return outputs(memory, readout, from < 0 || from >= local.dim(1) ? local : rowsFrom(local, from));
    }

    private static List<Tensor> readAndCombine(LongTermMemory memory, Segment segment, Tensor local) {
        return outputs(memory, memory.read(segment), local);
    }

    /** Copies of a readout's outputs and of its combine with {@code local}, each [A, tokens, B]. */
    private static List<Tensor> outputs(LongTermMemory memory, Readout readout, Tensor local) {
        List<Tensor> outputs = new ArrayList<>();
        switch (readout) {
            case Readout.PerHead p -> {
                outputs.add(p.values().copy());
                outputs.add(memory.combine(local.copy(), readout).copy());
            }
            // Every output is made rank 3 with tokens on axis 1, so the causality check knows where tokens are:
            // the addend [N, e] becomes [1, N, e]; per-head diagnostics [H, N] become [H, N, 1].
            case Readout.ModelSpace m -> outputs.add(m.addend().copy().reshape(1, m.addend().dim(0), m.addend().dim(1)));
        }
        readout.diagnostics().keySet().stream().sorted().forEach(k -> {
            Tensor d = readout.diagnostics().get(k).copy();
            outputs.add(d.rank() == 2 ? d.reshape(d.dim(0), d.dim(1), 1) : d);
        });
        return outputs;
    }

    @Test
    void aSegmentNeverReadsItsOwnKeysValuesOrHiddenStates() {
        List<SeededData.Inputs> in = inputs(spec());
        int last = in.size() - 1;
        LongTermMemory a = freshAfter(in, last);
        LongTermMemory b = freshAfter(in, last);
        long start = startOf(in, last);
        SeededData.Inputs original = in.get(last);
        SeededData.Inputs other = SeededData.inputs(spec(), original.q().dim(1), 999);
        SeededData.Inputs mixed = new SeededData.Inputs(original.q(), other.k(), other.v(), other.h(), original.local());
        List<Tensor> x = readAndCombine(a, segment(start, original), original.local());
        List<Tensor> y = readAndCombine(b, segment(start, mixed), original.local());
        for (int i = 0; i < x.size(); i++) {
            assertTrue(x.get(i).bitEquals(y.get(i)),
                    "read output " + i + " changed with this segment's k/v/h: the memory read its own segment");
        }
    }

    /** {@code local} (the local attention's output) reaches the memory only through combine: checked like the segment's inputs. */
    @Test
    void aMisshapedOrNonFiniteLocalIsRejectedByCombineOrUnused() {
        LayerSpec s = spec();
        checkBadInput("local", "local", inputs -> {
            SeededData.Inputs c = inputs.copy();
            return new SeededData.Inputs(c.q(), c.k(), c.v(), c.h(),
                    SeededData.normal(9, 1f, s.heads(), c.local().dim(1), s.valueDim() + 1));
        });
        checkBadInput("local", "local", inputs -> {
            SeededData.Inputs c = inputs.copy();
            c.local().array()[1] = Float.NaN;
            return c;
        });
        checkBadInput("local", "local", inputs -> {
            SeededData.Inputs c = inputs.copy();
            c.local().array()[c.local().size() - 1] = Float.NEGATIVE_INFINITY;
            return c;
        });
    }

    /**
     * The memory reaches the output: after different pasts are written, the same segment's output (the combine, or
     * a model-space addend) differs. A combine that ignores the readout, or a read that ignores what was written,
     * fails here. The kit's weights are seeded random values, so no gate is exactly closed.
     */
    @Test
    void whatWasWrittenChangesTheOutput() {
        List<SeededData.Inputs> in = inputs(spec());
        int last = in.size() - 1;
        LongTermMemory a = fresh();
        LongTermMemory b = fresh();
        run(a, in, 0, last);
        long start = 0;
        for (int s = 0; s < last; s++) {
            SeededData.Inputs other = SeededData.inputs(spec(), in.get(s).q().dim(1), 5000 + s);
            step(b, start, other);
            start += other.q().dim(1);
        }
        SeededData.Inputs now = in.get(last);
        boolean perHead = fresh().read(segment(start, now)) instanceof Readout.PerHead; // asked of a third instance
        List<Tensor> x = readAndCombine(a, segment(start, now), now.local());
        List<Tensor> y = readAndCombine(b, segment(start, now), now.local());
        int output = perHead ? 1 : 0; // the combine of a per-head readout; the addend of a model-space one
        assertTrue(!x.get(output).bitEquals(y.get(output)), "two different pasts gave the same output for the same segment: "
                + "the memory does not reach the output (does combine ignore the readout, or read ignore what was written?)");
    }

    @Test
    void theFirstReadSeesAnEmptyMemory() {
        LongTermMemory memory = fresh();
        SeededData.Inputs in = inputs(spec()).get(0);
        Readout readout = memory.read(segment(0, in));
        Tensor t = switch (readout) {
            case Readout.PerHead p -> p.values();
            case Readout.ModelSpace m -> m.addend();
        };
        for (float x : t.toArray()) {
            assertTrue(x == 0f, "an empty memory must read as zeros, read " + t);
        }
    }
}
