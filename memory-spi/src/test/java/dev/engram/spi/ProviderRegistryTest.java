package dev.engram.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.ProviderException;
import dev.engram.api.Tensor;
import java.io.IOException;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProviderRegistryTest {
    private final ProviderRegistry registry = ProviderRegistry.of(List.of(
            new FakeProvider("infini", SpiVersion.CURRENT), new FakeProvider("lsh-knn", SpiVersion.CURRENT)));
    private final LayerSpec spec = new LayerSpec(2, 2, 4, 4, 8);

    @Test
    void unknownNameListsWhatIsAvailable() {
        ProviderException e = assertThrows(ProviderException.class, () -> registry.memory("infiny"));
        assertTrue(e.getMessage().startsWith("no memory provider named 'infiny'; available: [infini, lsh-knn];"
                + " did you mean 'infini'?; a plugin's jar must be on the class path (for ./engram: ENGRAM_PLUGINS="), e.getMessage());
    }

    @Test
    void unknownAttentionNameListsTheAttentionsAndSaysWhenTheNameIsAMemory() {
        ProviderException e = assertThrows(ProviderException.class, () -> registry.attention("infini"));
        assertTrue(e.getMessage().startsWith("no attention provider named 'infini'; available: [] ('infini' is a memory provider);"),
                e.getMessage());
        e = assertThrows(ProviderException.class, () -> registry.attention("windw"));
        assertTrue(e.getMessage().startsWith("no attention provider named 'windw'; available: [];"), e.getMessage());
        assertFalse(e.getMessage().contains("did you mean"), "nothing close: " + e.getMessage());
        e = assertThrows(ProviderException.class, () -> registry.any("lsh-kn"));
        assertTrue(e.getMessage().startsWith("no provider named 'lsh-kn'; available attention: [], memory: [infini, lsh-knn];"
                + " did you mean 'lsh-knn'?"), e.getMessage());
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
    void pluginsBuiltAgainstAnyVersionFromTheOldestSupportedToTheCurrentOneLoad() {
        // the rule with today's constants, and with a runtime that has moved on to 3 while still running 2
        assertTrue(SpiVersion.compatible(SpiVersion.CURRENT, SpiVersion.OLDEST_SUPPORTED, SpiVersion.CURRENT));
        assertFalse(SpiVersion.compatible(SpiVersion.CURRENT + 1, SpiVersion.OLDEST_SUPPORTED, SpiVersion.CURRENT));
        assertFalse(SpiVersion.compatible(SpiVersion.OLDEST_SUPPORTED - 1, SpiVersion.OLDEST_SUPPORTED, SpiVersion.CURRENT));
        assertTrue(SpiVersion.compatible(2, 2, 3));
        assertTrue(SpiVersion.compatible(3, 2, 3));
        assertFalse(SpiVersion.compatible(1, 2, 3));
        assertFalse(SpiVersion.compatible(4, 2, 3));
        assertTrue(SpiVersion.OLDEST_SUPPORTED <= SpiVersion.CURRENT);
    }

    @Test
    void declaresIsNoForAnOlderCapabilitySwitchAndAnErrorForAnyOtherException() {
        class OlderSwitch extends FakeProvider {
            OlderSwitch() {
                super("older", SpiVersion.CURRENT);
            }

            @Override
            public boolean supports(dev.engram.api.Capability capability, ProviderConfig config) {
                throw new MatchException("no branch for " + capability, null); // what javac's exhaustive switch throws
            }
        }
        class Buggy extends FakeProvider {
            Buggy() {
                super("buggy", SpiVersion.CURRENT);
            }

            @Override
            public boolean supports(dev.engram.api.Capability capability, ProviderConfig config) {
                throw new IllegalStateException("config not initialised");
            }
        }
        ProviderConfig none = new OlderSwitch().configSchema().defaults();
        assertFalse(ProviderRegistry.declares(new OlderSwitch(), dev.engram.api.Capability.PARTIAL_ROWS, none));
        ProviderException e = assertThrows(ProviderException.class,
                () -> ProviderRegistry.declares(new Buggy(), dev.engram.api.Capability.PARTIAL_ROWS, none));
        assertEquals("provider 'buggy' (" + Buggy.class.getName() + ") failed to answer supports(PARTIAL_ROWS):"
                + " java.lang.IllegalStateException: config not initialised", e.getMessage());
    }

    @Test
    void malformedNamesAreRefused() {
        ProviderException e = assertThrows(ProviderException.class,
                () -> ProviderRegistry.of(List.of(new FakeProvider("Bad Name", SpiVersion.CURRENT))));
        assertTrue(e.getMessage().contains("has name 'Bad Name'; valid: lower-case letters"), e.getMessage());
    }

    // ---- plugins loaded through ServiceLoader from folders built like third-party jars -------------

    @Test
    void aListedClassThatIsMissingIsNamedWithItsServicesFile(@TempDir Path dir) throws IOException {
        PluginDirs.register(dir, LongTermMemoryProvider.class, "com.example.Missing");
        try (URLClassLoader loader = PluginDirs.loader(dir)) {
            ProviderException e = brokenOnly(loader);
            assertTrue(e.getMessage().startsWith("a provider listed in META-INF/services/dev.engram.spi.LongTermMemoryProvider"
                    + " could not be loaded: "), e.getMessage());
            assertTrue(e.getMessage().contains("com.example.Missing"), e.getMessage());
            assertTrue(e.getMessage().contains("; failing: class com.example.Missing (java.lang.ClassNotFoundException: com.example.Missing), listed in "
                    + dir.toUri().toURL() + "META-INF/services/dev.engram.spi.LongTermMemoryProvider;"), e.getMessage());
            assertTrue(e.getMessage().endsWith("rebuild it against memory-spi " + SpiVersion.CURRENT), e.getMessage());
        }
    }

    @Test
    void aProviderWhoseDependencyIsMissingIsAProviderErrorNotANoClassDefFoundError(@TempDir Path dir) throws IOException {
        Path classes = Files.createDirectory(dir.resolve("classes"));
        PluginDirs.compile(classes, Map.of(
                "broken.Base", "package broken; public abstract class Base { }",
                "broken.Broken", PluginDirs.memoryProvider("broken", "Broken", "broken", SpiVersion.CURRENT, "Base")), true);
        Files.delete(classes.resolve("broken/Base.class")); // the jar shipped without a class it needs
        PluginDirs.register(classes, LongTermMemoryProvider.class, "broken.Broken");
        try (URLClassLoader loader = PluginDirs.loader(classes)) {
            ProviderException e = brokenOnly(loader);
            assertTrue(e.getMessage().contains("cannot be linked against this runtime: java.lang.NoClassDefFoundError: broken/Base"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("; failing: class broken.Broken (java.lang.NoClassDefFoundError: broken/Base), listed in "
                    + classes.toUri().toURL() + "META-INF/services/dev.engram.spi.LongTermMemoryProvider"), e.getMessage());
            assertTrue(e.getMessage().endsWith("rebuild it against memory-spi " + SpiVersion.CURRENT), e.getMessage());
        }
    }

    @Test
    void aProviderCompiledAgainstAnOlderSpiIsAProviderErrorNotAnAbstractMethodError(@TempDir Path dir) throws IOException {
        // "memory-spi 0": a LongTermMemoryProvider with name() only; the plugin is compiled against it and then
        // meets the real interface, so spiVersion() has no implementation.
        Path classes = Files.createDirectory(dir.resolve("classes"));
        PluginDirs.compile(classes, Map.of(
                "dev.engram.spi.LongTermMemoryProvider", "package dev.engram.spi; public interface LongTermMemoryProvider { String name(); }",
                "old.OldProvider", "package old; public class OldProvider implements dev.engram.spi.LongTermMemoryProvider {"
                        + " public String name() { return \"old\"; } }"), false);
        Files.delete(classes.resolve("dev/engram/spi/LongTermMemoryProvider.class"));
        PluginDirs.register(classes, LongTermMemoryProvider.class, "old.OldProvider");
        try (URLClassLoader loader = PluginDirs.loader(classes)) {
            ProviderException e = brokenOnly(loader);
            assertTrue(e.getMessage().startsWith("provider class old.OldProvider does not match this runtime's memory-spi "
                    + SpiVersion.CURRENT + ": java.lang.AbstractMethodError"), e.getMessage());
            assertTrue(e.getMessage().endsWith("rebuild it against memory-spi " + SpiVersion.CURRENT), e.getMessage());
        }
    }

    /** The refusal's clause naming the versions this runtime runs, when it runs more than one. */
    private static final String RUNS = SpiVersion.OLDEST_SUPPORTED == SpiVersion.CURRENT ? ""
            : " and runs plugins built against " + SpiVersion.OLDEST_SUPPORTED + " to " + SpiVersion.CURRENT;

    @Test
    void aPluginBuiltAgainstTheOldestSupportedSpiLoads(@TempDir Path dir) throws IOException {
        Path classes = Files.createDirectory(dir.resolve("classes"));
        PluginDirs.compile(classes, Map.of("older.Older",
                PluginDirs.memoryProvider("older", "Older", "older", SpiVersion.OLDEST_SUPPORTED, null)), true);
        PluginDirs.register(classes, LongTermMemoryProvider.class, "older.Older");
        try (URLClassLoader loader = PluginDirs.loader(classes)) {
            ProviderRegistry loaded = ProviderRegistry.load(loader);
            assertEquals(List.of(), loaded.broken().stream().map(ProviderRegistry.BrokenPlugin::name).toList());
            assertEquals("older", loaded.memory("older").name());
        }
    }

    @Test
    void aProviderBuiltAgainstAnotherSpiVersionIsRefusedWhenLoaded(@TempDir Path dir) throws IOException {
        Path classes = Files.createDirectory(dir.resolve("classes"));
        PluginDirs.compile(classes, Map.of("future.Future",
                PluginDirs.memoryProvider("future", "Future", "future", SpiVersion.CURRENT + 1, null)), true);
        PluginDirs.register(classes, LongTermMemoryProvider.class, "future.Future");
        try (URLClassLoader loader = PluginDirs.loader(classes)) {
            ProviderRegistry loaded = ProviderRegistry.load(loader);
            ProviderException e = assertThrows(ProviderException.class, () -> loaded.memory("future"));
            assertEquals(List.of("future"), loaded.broken().stream().map(ProviderRegistry.BrokenPlugin::name).toList());
            assertEquals("provider 'future' (future.Future) was built against engram memory-spi version " + (SpiVersion.CURRENT + 1)
                    + "; this runtime provides version " + SpiVersion.CURRENT + RUNS + ": rebuild the plugin against memory-spi "
                    + SpiVersion.CURRENT + " or use a matching Engram", e.getMessage());
        }
    }

    /**
     * A plugin built against SPI 1 (before the sampling draws left the core Segment record) is refused when loaded,
     * naming both versions, instead of failing with a NoSuchMethodError when its memory first reads a segment.
     */
    @Test
    void aPluginBuiltAgainstSpiOneIsRefusedByName(@TempDir Path dir) throws IOException {
        assertEquals(2, SpiVersion.OLDEST_SUPPORTED, "SPI 1 plugins cannot run here (Segment.uniforms() is gone)");
        Path classes = Files.createDirectory(dir.resolve("classes"));
        PluginDirs.compile(classes, Map.of("old.Old", PluginDirs.memoryProvider("old", "Old", "old", 1, null)), true);
        PluginDirs.register(classes, LongTermMemoryProvider.class, "old.Old");
        try (URLClassLoader loader = PluginDirs.loader(classes)) {
            ProviderException e = assertThrows(ProviderException.class, () -> ProviderRegistry.load(loader).memory("old"));
            assertEquals("provider 'old' (old.Old) was built against engram memory-spi version 1; this runtime provides"
                    + " version " + SpiVersion.CURRENT + RUNS + ": rebuild the plugin against memory-spi " + SpiVersion.CURRENT
                    + " or use a matching Engram", e.getMessage());
        }
    }

    /**
     * Loads a folder whose only plugin is broken: loading succeeds with the problem recorded once, a lookup of any
     * memory fails with that problem, and the registry still answers for what works. Returns the lookup's error.
     */
    private static ProviderException brokenOnly(URLClassLoader loader) {
        ProviderRegistry loaded = ProviderRegistry.load(loader);
        assertEquals(List.of(), loaded.memoryNames());
        assertEquals(1, loaded.broken().size(), loaded.broken().toString());
        ProviderException e = assertThrows(ProviderException.class, () -> loaded.memory("recent-mean"));
        assertTrue(e.getMessage().startsWith("no memory provider named 'recent-mean'; available: []; 1 plugin could not be loaded: "),
                e.getMessage());
        String problem = loaded.broken().get(0).problem();
        assertTrue(e.getMessage().endsWith(problem), e.getMessage());
        return new ProviderException(problem);
    }

    @Test
    void aBrokenPluginDoesNotStopTheOnesThatWork(@TempDir Path dir) throws IOException {
        Path good = Files.createDirectory(dir.resolve("good"));
        Path bad = Files.createDirectory(dir.resolve("bad"));
        PluginDirs.compile(good, Map.of("good.Good", PluginDirs.memoryProvider("good", "Good", "good", SpiVersion.CURRENT, null)), true);
        PluginDirs.register(good, LongTermMemoryProvider.class, "good.Good");
        PluginDirs.register(bad, LongTermMemoryProvider.class, "com.example.Typo");
        try (URLClassLoader loader = PluginDirs.loader(bad, good)) {
            ProviderRegistry loaded = ProviderRegistry.load(loader);
            assertEquals(List.of("good"), loaded.memoryNames());
            assertEquals("good", loaded.memory("good").name());
            assertEquals(1, loaded.broken().size());
            assertTrue(loaded.broken().get(0).problem().contains("com.example.Typo"), loaded.broken().toString());
        }
    }

    @Test
    void oneNameInTwoPluginFoldersNamesBothClasses(@TempDir Path dir) throws IOException {
        Path first = Files.createDirectory(dir.resolve("first"));
        Path second = Files.createDirectory(dir.resolve("second"));
        PluginDirs.compile(first, Map.of("first.Dup", PluginDirs.memoryProvider("first", "Dup", "dup", SpiVersion.CURRENT, null)), true);
        PluginDirs.compile(second, Map.of("second.Dup", PluginDirs.memoryProvider("second", "Dup", "dup", SpiVersion.CURRENT, null)), true);
        PluginDirs.register(first, LongTermMemoryProvider.class, "first.Dup");
        PluginDirs.register(second, LongTermMemoryProvider.class, "second.Dup");
        try (URLClassLoader one = PluginDirs.loader(first); URLClassLoader both = PluginDirs.loader(first, second)) {
            assertEquals(List.of("dup"), ProviderRegistry.load(one).memoryNames(), "one folder alone loads");
            ProviderException e = assertThrows(ProviderException.class, () -> ProviderRegistry.load(both));
            assertEquals("two memory providers are named 'dup': first.Dup and second.Dup;"
                    + " remove one jar from the class path or rename one provider", e.getMessage());
        }
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
