package dev.engram.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.ProviderException;
import dev.engram.api.Tensor;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProviderRegistryTest {
    private final ProviderRegistry registry = ProviderRegistry.of(List.of(
            new FakeProvider("infini", SpiVersion.CURRENT), new FakeProvider("lsh-knn", SpiVersion.CURRENT)));
    private final LayerSpec spec = new LayerSpec(2, 2, 4, 4, 8);

    @Test
    void unknownNameListsWhatIsAvailable() {
        ProviderException e = assertThrows(ProviderException.class, () -> registry.memory("infiny"));
        assertEquals("no memory provider named 'infiny'; available: [infini, lsh-knn]", e.getMessage());
    }

    @Test
    void aNameTakenTwiceNamesBothClasses() {
        class Other extends FakeProvider {
            Other() {
                super("infini", SpiVersion.CURRENT);
            }
        }
        ProviderException e = assertThrows(ProviderException.class,
                () -> ProviderRegistry.of(List.of(new FakeProvider("infini", SpiVersion.CURRENT), new Other())));
        assertTrue(e.getMessage().startsWith("two memory providers are named 'infini': dev.engram.spi.FakeProvider and "
                + Other.class.getName()), e.getMessage());
    }

    @Test
    void anSpiVersionMismatchIsAClearErrorAtLoadTime() {
        ProviderException e = assertThrows(ProviderException.class,
                () -> ProviderRegistry.of(List.of(new FakeProvider("old", SpiVersion.CURRENT + 1))));
        assertTrue(e.getMessage().contains("built against engram memory-spi version " + (SpiVersion.CURRENT + 1)
                + "; this runtime provides version " + SpiVersion.CURRENT), e.getMessage());
    }

    @Test
    void malformedNamesAreRefused() {
        ProviderException e = assertThrows(ProviderException.class,
                () -> ProviderRegistry.of(List.of(new FakeProvider("Bad Name", SpiVersion.CURRENT))));
        assertTrue(e.getMessage().contains("has name 'Bad Name'; valid: lower-case letters"), e.getMessage());
    }

    @Test
    void serviceLoaderFindsNothingUnexpectedOnABareClassPath() {
        assertEquals(List.of(), ProviderRegistry.load().memoryNames());
    }

    @Test
    void everyConfigProblemIsReportedAtOnce() {
        ConfigException e = assertThrows(ConfigException.class, () -> ProviderRegistry.context(registry.memory("infini"), 3,
                spec, Map.of("sampels", 4, "tau", 2.0),
                Map.of("beta", Tensor.zeros(3), "betta", Tensor.zeros(2))));
        assertEquals(java.util.Set.of(
                "unknown key 'sampels'; did you mean 'samples'?; known keys: [samples, tau, basis]",
                "'tau' is 2.0; valid: (0, 1)"), java.util.Set.copyOf(e.problems()));
        assertTrue(e.getMessage().startsWith("layer 3 provider 'infini': 2 problems"), e.getMessage());
    }

    @Test
    void weightsAreCheckedOnceConfigIsValid() {
        ConfigException e = assertThrows(ConfigException.class, () -> ProviderRegistry.context(registry.memory("infini"), 0,
                spec, Map.of(), Map.of("betta", Tensor.zeros(2), "rotations", Tensor.zeros(4, 3))));
        assertEquals(List.of(
                "weight 'beta' is missing; expected shape [2]",
                "weight 'rotations' has shape [4, 3]; expected [4, 2]",
                "weight 'betta' is not used by this provider; did you mean 'beta'?; known weights: [beta, rotations]"),
                e.problems());
    }

    @Test
    void groupedQueryHeadsAreRefusedWhenNotSupported() {
        ConfigException e = assertThrows(ConfigException.class, () -> ProviderRegistry.context(registry.memory("infini"), 0,
                new LayerSpec(4, 2, 4, 4, 8), Map.of(), Map.of("beta", Tensor.zeros(4))));
        assertEquals(List.of("kvHeads is 2 but 'infini' does not support grouped-query heads; valid: kvHeads == heads (4)"),
                e.problems());
    }

    @Test
    void aValidContextCarriesParsedConfigAndWeights() {
        Tensor beta = Tensor.zeros(2);
        LayerContext c = ProviderRegistry.context(registry.memory("lsh-knn"), 5, spec, Map.of("samples", "16"),
                Map.of("beta", beta));
        assertEquals(16, c.config().get(FakeProvider.SAMPLES));
        assertEquals(0.5, c.config().get(FakeProvider.TAU));
        assertTrue(c.config().isSet(FakeProvider.SAMPLES));
        assertEquals(beta, c.weights().get("beta"));
        assertTrue(c.weights().find("rotations").isEmpty());
        assertEquals("provider 'lsh-knn' layer 5", c.describe());
    }
}
