package dev.engram.examples.ema;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import dev.engram.spi.ProviderRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Config and weight errors name what is wrong; the example program runs. */
class EmaConfigurationTest {
    private static final LayerSpec SPEC = new LayerSpec(4, 2, 8, 8, 16);
    private final ProviderRegistry registry = ProviderRegistry.load();

    @Test
    void theProviderIsFoundByName() {
        assertTrue(registry.memoryNames().contains("ema"), registry.memoryNames().toString());
        assertEquals(0.9, new EmaMemoryProvider().configSchema().defaults().get(EmaMemoryProvider.DECAY));
    }

    @Test
    void decayOutsideTheOpenUnitIntervalAndAMissingGateAreReportedTogether() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> registry.newMemory("ema", 2, SPEC, Map.of("decay", 1.0), Map.of()));
        assertTrue(e.getMessage().contains("'decay' is 1.0; valid: a number in (0, 1), exclusive"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> registry.newMemory("ema", 2, SPEC, Map.of("decay", "0.5"), Map.of()));
        assertTrue(e.getMessage().contains("weight 'gate' is missing; expected shape [4]"), e.getMessage());
        assertTrue(e.getMessage().contains("layer 2 provider 'ema'"), e.getMessage());
    }

    @Test
    void aMisshapedGateAndAMisspeltKeyAreNamed() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> registry.newMemory("ema", 0, SPEC, Map.of(), Map.of("gate", Tensor.zeros(2))));
        assertTrue(e.getMessage().contains("weight 'gate' has shape [2]; expected [4]"), e.getMessage());
        e = assertThrows(ConfigException.class,
                () -> registry.newMemory("ema", 0, SPEC, Map.of("decy", 0.5), Map.of("gate", Tensor.zeros(4))));
        assertTrue(e.getMessage().contains("unknown key 'decy'; did you mean 'decay'?"), e.getMessage());
    }

    @Test
    void theExampleProgramRuns() throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            EmaExample.main(new String[] {"memory.decay=0.5", "segments=3", "tokens=2"});
        } finally {
            System.setOut(original);
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("provider 'ema' config {decay=0.5}"), out);
        assertTrue(out.contains("segment 0: |memory readout| = 0.0000"), out);
        assertTrue(out.contains("segment 2:"), out);
    }
}
