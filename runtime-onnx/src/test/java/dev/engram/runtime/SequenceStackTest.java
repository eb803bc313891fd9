package dev.engram.runtime;

import dev.engram.runtime.model.WeightSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.inject.Guice;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Segment;
import dev.engram.api.SnapshotException;
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
        return Guice.createInjector(new EngramModule(f, java.util.Collections.nCopies(layers, SPEC), weights))
                .getInstance(SequenceFactory.class);
    }

    private static void feed(SequenceStack s, int tokens) {
        Segment seg = Segment.of(s.position(), Tensor.zeros(2, tokens, 4), Tensor.zeros(2, tokens, 4), Tensor.zeros(2, tokens, 4));
        for (SequenceStack.Layer l : s.layers()) {
            l.attention().attend(seg);
            l.memory().ifPresent(m -> m.write(seg));
        }
        s.advance(tokens);
    }

    @Test
    void guiceWiresThePlanAndSnapshotsRoundTrip() throws IOException {
        SequenceFactory f = factory("layers: {default: {attention: fake-window}, \"1\": {memory: fake-memory}}", 2);
        SequenceStack s = f.newSequence();
        assertTrue(s.layers().get(1).memory().isPresent());
        feed(s, 5);
        feed(s, 3);
        byte[] snap = s.snapshot();
        SequenceStack t = f.newSequence();
        t.restore(snap);
        assertEquals(8, t.position());
        assertArrayEquals(snap, t.snapshot());
        t.reset();
        assertEquals(0, t.position());
    }

    @Test
    void aSnapshotOfAnotherLayoutIsRefusedAndChangesNothing() throws IOException {
        SequenceStack withMemory = factory("layers: {default: {attention: fake-window, memory: fake-memory}}", 2).newSequence();
        SequenceStack without = factory("layers: {default: {attention: fake-window}}", 2).newSequence();
        feed(without, 4);
        byte[] before = without.snapshot();
        SnapshotException e = assertThrows(SnapshotException.class, () -> without.restore(withMemory.snapshot()));
        assertEquals("sequence snapshot layer 0 has long-term memory; the configured layer has none", e.getMessage());
        assertArrayEquals(before, without.snapshot());
        byte[] damaged = before.clone();
        damaged[20] ^= 1;
        assertTrue(assertThrows(SnapshotException.class, () -> without.restore(damaged)).getMessage().contains("checksum"));
        SequenceStack three = factory("layers: {default: {attention: fake-window}}", 3).newSequence();
        assertEquals("sequence snapshot has 2 layers; this model has 3",
                assertThrows(SnapshotException.class, () -> three.restore(before)).getMessage());
    }

    @Test
    void missingWeightsAreReportedWhenTheSequenceIsCreated() throws IOException {
        Path f = dir.resolve("c.yaml");
        Files.writeString(f, "layers: {default: {attention: fake-window, memory: fake-memory}}");
        SequenceFactory noWeights = Guice.createInjector(new EngramModule(f, List.of(SPEC), WeightSource.none()))
                .getInstance(SequenceFactory.class);
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
        SequenceFactory factory = Guice.createInjector(new EngramModule(f, java.util.Collections.nCopies(3, SPEC), broken))
                .getInstance(SequenceFactory.class);
        ConfigException e = assertThrows(ConfigException.class, factory::newSequence);
        assertEquals(List.of(
                "layer 0 provider 'fake-memory': weight 'beta' is missing; expected shape [2]",
                "layer 1 provider 'fake-memory': weight 'beta' has shape [3]; expected [2]",
                "layer 1 provider 'fake-memory': weight 'betta' is not used by this provider; did you mean 'beta'?;"
                        + " known weights: [beta]"), e.problems());
        assertTrue(e.getMessage().startsWith("configured layers: 3 problems\n  - layer 0 provider 'fake-memory'"), e.getMessage());
    }
}
