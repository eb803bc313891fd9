package dev.engram.memory.continuous;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Snapshot;
import dev.engram.api.SnapshotException;
import dev.engram.api.StateWriter;
import dev.engram.api.Tensor;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.ProviderConfig;
import dev.engram.conformance.SeededData;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ConfigAndStateTest {
    private final ConfigSchema schema = new ContinuousMemoryProvider().configSchema();

    @Test
    void defaultsAreTheSpecs() {
        ProviderConfig c = schema.defaults();
        assertEquals(512, c.get(ContinuousMemoryProvider.BASIS));
        assertEquals(List.of(0.005, 0.01), c.get(ContinuousMemoryProvider.WIDTHS));
        assertEquals(0.5, c.get(ContinuousMemoryProvider.LAMBDA));
        assertEquals(Tau.of(0.5), c.get(ContinuousMemoryProvider.TAU));
        assertEquals(512, c.get(ContinuousMemoryProvider.SAMPLES));
        assertEquals(false, c.get(ContinuousMemoryProvider.STICKY));
        assertEquals(128, c.get(ContinuousMemoryProvider.BINS));
        assertEquals(0L, c.get(ContinuousMemoryProvider.SEED));
        assertEquals(1e-4, c.get(ContinuousMemoryProvider.SIGMA_MIN2));
        assertEquals(0L, c.get(ContinuousMemoryProvider.RESET_EVERY));
        assertEquals(ContinuousMemoryProvider.InputGate.NONE, c.get(ContinuousMemoryProvider.INPUT_GATE));
    }

    @Test
    void anOddBasisNamesTheKey() {
        ConfigException e = assertThrows(ConfigException.class, () -> schema.parse("t", Map.of("basis", 511)));
        assertTrue(e.getMessage().contains("'basis' is 511"), e.getMessage());
    }

    @Test
    void tauIsANumberInTheOpenUnitIntervalOrUniform() {
        assertEquals(Tau.UNIFORM, schema.parse("t", Map.of("tau", "uniform")).get(ContinuousMemoryProvider.TAU));
        assertEquals(Tau.UNIFORM, schema.parse("t", Map.of("tau", " Uniform ")).get(ContinuousMemoryProvider.TAU));
        assertEquals(Tau.of(0.75), schema.parse("t", Map.of("tau", "0.75")).get(ContinuousMemoryProvider.TAU));
        for (Object bad : List.of(1.0, 0, -0.5, "sometimes", true)) {
            ConfigException e = assertThrows(ConfigException.class, () -> schema.parse("t", Map.of("tau", bad)));
            assertTrue(e.getMessage().contains("'tau' is ") && e.getMessage().contains("valid: a number in (0, 1), "
                    + "or 'uniform'"), e.getMessage());
        }
    }

    @Test
    void aUniformTauGivesTheOldSignalTheShareOfTheTokensWrittenBeforeTheUpdate() {
        // 32 tokens written, a segment of 32: the old signal keeps half of [0, 1]; after 7 segments, 7/8.
        assertEquals(0.5, Tau.UNIFORM.forUpdate(32, 32));
        assertEquals(7.0 / 8, Tau.UNIFORM.forUpdate(7 * 32, 32));
        assertEquals(0.75, Tau.of(0.75).forUpdate(7 * 32, 32));
    }

    @Test
    void aUniformTauRefusesAFilledSnapshotWithNoTokensWrittenAndKeepsItsState() {
        LayerSpec spec = new LayerSpec(1, 1, 2, 2, 3);
        ContinuousMemory memory = Fixtures.randomMemory(spec, Map.of("basis", 20, "samples", 9, "tau", "uniform"), 5);
        Fixtures.write(memory, SeededData.normal(1, 1f, 5, 3), null);
        byte[] before = memory.snapshot().toBytes();
        StateWriter bad = new StateWriter().writeBoolean(false).writeFloats(new float[20 * 3])
                .writeLong(0).writeLong(0).writeBoolean(false);
        SnapshotException e = assertThrows(SnapshotException.class,
                () -> memory.restore(new Snapshot("continuous", 1, spec, bad.toBytes())));
        assertTrue(e.getMessage().contains("snapshot.tokensSinceReset is 0") && e.getMessage().contains("valid with "
                + "tau uniform: >= 1"), e.getMessage());
        assertArrayEquals(before, memory.snapshot().toBytes(), "the refused snapshot changed nothing");
    }

    @Test
    void anIllConditionedRidgeSystemIsRefusedAtConfigurationTime() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> schema.parse("t", Map.of("basis", 16, "widths", List.of(1e-4, 2e-4), "lambda", 1e-9)));
        assertTrue(e.getMessage().contains("'lambda' is 1.0E-9") && e.getMessage().contains("valid: lambda >="),
                e.getMessage());
        // the suggested lambda is accepted
        schema.parse("t", Map.of("basis", 16, "widths", List.of(1e-4, 2e-4), "lambda", 1e-2));
    }

    @Test
    void aUniformTauIsCheckedForConditioningWhereItsPositionsCrowd() {
        // A uniform tau puts the old samples near 0 early on and the new rows near 1 late: the bound at those ends
        // (about 8.3e3 / lambda here) is four times tau 0.5's (about 2.0e3 / lambda), so lambda 4e-9 passes one only.
        Map<String, Object> config = new java.util.HashMap<>(Map.of("basis", 16, "widths", List.of(0.05, 0.1),
                "samples", 64, "lambda", 4e-9, "tau", 0.5));
        schema.parse("t", config);
        config.put("tau", "uniform");
        ConfigException e = assertThrows(ConfigException.class, () -> schema.parse("t", config));
        assertTrue(e.getMessage().contains("'lambda' is 4.0E-9"), e.getMessage());
    }

    @Test
    void unknownKeysSuggestTheClosest() {
        ConfigException e = assertThrows(ConfigException.class, () -> schema.parse("t", Map.of("sample", 3)));
        assertTrue(e.getMessage().contains("samples"), e.getMessage());
    }

    @Test
    void theSeededStreamIsSplittableRandom() {
        SplittableRandom r = new SplittableRandom(-77);
        for (int i = 0; i < 1000; i++) {
            assertEquals(r.nextDouble(), UniformStream.draw(-77, i));
        }
    }

    @Test
    void aStickyWriteWithoutAReadUsesTheSegmentsQueries() {
        LayerSpec spec = new LayerSpec(2, 2, 4, 4, 6);
        Map<String, Object> config = Map.of("basis", 16, "samples", 16, "widths", "0.05,0.1", "sticky", true);
        ContinuousMemory a = Fixtures.randomMemory(spec, config, 8);
        ContinuousMemory b = Fixtures.randomMemory(spec, config, 8);
        Tensor q = SeededData.normal(1, 1f, 2, 5, 4);
        Tensor h = SeededData.normal(2, 1f, 5, 6);
        Segment first = new Segment(0, q, null, null, h, null);
        Segment second = new Segment(5, SeededData.normal(3, 1f, 2, 5, 4), null, null, SeededData.normal(4, 1f, 5, 6), null);
        a.write(first);
        b.write(first);
        a.read(second);
        a.write(second);
        b.write(second);
        assertArrayEquals(a.coefficients(), b.coefficients());
        ContinuousMemory c = Fixtures.randomMemory(spec, config, 8);
        c.write(first);
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> c.write(new Segment(5, null, null, null, second.h(), null)));
        assertTrue(e.getMessage().contains("segment.q"), e.getMessage());
    }

    @Test
    void uniformsOfTheWrongLengthAreRefusedBeforeTheRead() {
        LayerSpec spec = new LayerSpec(1, 1, 2, 2, 3);
        ContinuousMemory m = Fixtures.randomMemory(spec, Map.of("basis", 8, "samples", 4, "widths", "0.1,0.2",
                "sticky", true), 1);
        Segment bad = new Segment(0, SeededData.normal(1, 1f, 1, 2, 2), null, null, SeededData.normal(1, 1f, 2, 3))
                .with(new dev.engram.api.SamplingDraws(Tensor.of(new float[] {0.1f, 0.2f}, 2)));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> m.read(bad));
        assertTrue(e.getMessage().contains("segment.uniforms"), e.getMessage());
    }

    @Test
    void anEmptyMemoryReadsZerosWithoutDiagnosticsAndStateIsNFloats() {
        LayerSpec spec = new LayerSpec(2, 1, 2, 3, 5);
        ContinuousMemory m = Fixtures.randomMemory(spec, Map.of("basis", 8, "samples", 4, "widths", "0.1,0.2"), 1);
        Readout r = m.read(new Segment(0, SeededData.normal(1, 1f, 2, 3, 2), null, null, null, null));
        assertTrue(r.diagnostics().isEmpty());
        assertEquals(8L * 5 * 4, m.stateBytes());
        assertNull(r.diagnostics().get("mu"));
    }
}
