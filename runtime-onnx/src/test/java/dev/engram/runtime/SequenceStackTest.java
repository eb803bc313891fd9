package dev.engram.runtime;

import dev.engram.runtime.model.WeightSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SequenceStackTest {
    private static final LayerSpec SPEC = new LayerSpec(2, 2, 4, 4, 8);
    @TempDir
    Path dir;

    private SequenceFactory factory(String yaml, int layers) throws IOException {
        Path f = dir.resolve("c.yaml");
        Files.writeString(f, yaml);
        WeightSource weights = (layer, provider) -> provider.equals("fake-memory") ? Map.of("beta", Tensor.zeros(2)) : Map.of();
        return EngineFactory.create().sequences(f, java.util.Collections.nCopies(layers, SPEC), weights);
    }

    private static void feed(SequenceStack s, int tokens) {
        Segment seg = Segment.of(s.position(), Tensor.zeros(2, tokens, 4), Tensor.zeros(2, tokens, 4), Tensor.zeros(2, tokens, 4));
        for (SequenceStack.Layer l : s.layers()) {
            l.attention().attend(seg);
            l.memory().ifPresent(m -> m.write(seg));
        }
        s.advance(tokens);
    }

    /** Tokens each state of the stack has counted (the fakes count tokens), attention and memory per layer. */
    private static List<Long> counts(SequenceStack s) {
        List<Long> out = new java.util.ArrayList<>();
        for (SequenceStack.Layer l : s.layers()) {
            out.add(((Fakes.Counter) l.attention()).tokens);
            l.memory().ifPresent(m -> out.add(((Fakes.Counter) m).tokens));
        }
        return out;
    }

    /**
     * The fakes have no copy() of their own, so forks and checkpoints go through their snapshots into new instances
     * the factory makes: a fork keeps the past and then moves alone, a rollback puts the checkpoint back as often as asked.
     */
    @Test
    void guiceWiresThePlanAndForksAndCheckpointsAreIndependentCopies() throws IOException {
        SequenceFactory f = factory("layers: {default: {attention: fake-window}, \"1\": {memory: fake-memory}}", 2);
        SequenceStack s = f.newSequence();
        assertTrue(s.layers().get(1).memory().isPresent());
        feed(s, 5);
        feed(s, 3);
        SequenceStack t = s.fork();
        feed(s, 4);
        assertEquals(8, t.position());
        assertEquals(List.of(8L, 8L, 8L), counts(t), "the fork kept the past and saw none of the original's future");
        assertEquals(List.of(12L, 12L, 12L), counts(s));
        feed(t, 1);
        assertEquals(List.of(12L, 12L, 12L), counts(s), "the fork's future does not reach the original");

        SequenceStack.Checkpoint c = s.checkpoint();
        feed(s, 2);
        s.rollback(c);
        assertEquals(12, s.position());
        assertEquals(List.of(12L, 12L, 12L), counts(s));
        feed(s, 7);
        s.rollback(c);
        assertEquals(List.of(12L, 12L, 12L), counts(s), "a checkpoint stays valid after a rollback");
        t.reset();
        assertEquals(0, t.position());
        assertEquals(List.of(0L, 0L, 0L), counts(t));
    }

    @Test
    void aCheckpointOfAnotherLayoutIsRefusedAndChangesNothing() throws IOException {
        SequenceStack withMemory = factory("layers: {default: {attention: fake-window, memory: fake-memory}}", 2).newSequence();
        SequenceStack without = factory("layers: {default: {attention: fake-window}}", 2).newSequence();
        feed(without, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> without.rollback(withMemory.checkpoint()));
        assertEquals("the checkpoint's layer 0 holds attention Counter / memory Counter; this stack's holds attention"
                + " Counter: roll back to a checkpoint of this sequence or a fork of it", e.getMessage());
        assertEquals(List.of(4L, 4L), counts(without));
        assertEquals(4, without.position());
        SequenceStack three = factory("layers: {default: {attention: fake-window}}", 3).newSequence();
        assertEquals("the checkpoint has 2 layers; this stack has 3: roll back to a checkpoint of this sequence or of a"
                + " fork of it", assertThrows(IllegalArgumentException.class, () -> three.rollback(without.checkpoint()))
                .getMessage());
    }

    /** A stack made without a factory can fork only providers that copy themselves, and says so. */
    @Test
    void aStackWithoutALayerMakerNamesTheProviderThatCannotCopy() throws IOException {
        SequenceStack made = factory("layers: {default: {attention: fake-window}}", 1).newSequence();
        SequenceStack bare = new SequenceStack(made.layers());
        IllegalStateException e = assertThrows(IllegalStateException.class, bare::fork);
        assertEquals("layer 0's attention Counter has no copy() and this stack was built without a LayerMaker: make"
                + " stacks with SequenceFactory to fork them", e.getMessage());
    }

    @Test
    void missingWeightsAreReportedWhenTheSequenceIsCreated() throws IOException {
        Path f = dir.resolve("c.yaml");
        Files.writeString(f, "layers: {default: {attention: fake-window, memory: fake-memory}}");
        SequenceFactory noWeights = EngineFactory.create().sequences(f, List.of(SPEC), WeightSource.none());
        ConfigException e = assertThrows(ConfigException.class, noWeights::newSequence);
        assertEquals(List.of("layer 0 provider 'fake-memory': weight 'beta' is missing; expected shape [2]"), e.problems());
        assertEquals("configured layers: layer 0 provider 'fake-memory': weight 'beta' is missing; expected shape [2]",
                e.getMessage());
    }

    @Test
    void weightProblemsOfEveryLayerAreReportedTogether() throws IOException {
        Path f = dir.resolve("c.yaml");
        Files.writeString(f, "layers: {default: {attention: fake-window, memory: fake-memory}}");
        WeightSource broken = (layer, provider) -> !provider.equals("fake-memory") ? Map.of()
                : layer == 0 ? Map.of()
                : layer == 1 ? Map.of("beta", Tensor.zeros(3), "betta", Tensor.zeros(2))
                : Map.of("beta", Tensor.zeros(2));
        SequenceFactory factory = EngineFactory.create().sequences(f, java.util.Collections.nCopies(3, SPEC), broken);
        ConfigException e = assertThrows(ConfigException.class, factory::newSequence);
        assertEquals(List.of(
                "layer 0 provider 'fake-memory': weight 'beta' is missing; expected shape [2]",
                "layer 1 provider 'fake-memory': weight 'beta' has shape [3]; expected [2]",
                "layer 1 provider 'fake-memory': weight 'betta' is not used by this provider; did you mean 'beta'?;"
                        + " known weights: [beta]"), e.problems());
        assertTrue(e.getMessage().startsWith("configured layers: 3 problems\n  - layer 0 provider 'fake-memory'"), e.getMessage());
    }
}
