package dev.engram.runtime.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import dev.engram.spi.ProviderRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    // Only the fakes: the test class path also holds the baselines, which would change the "available" lists.
    private final ConfigLoader loader = new ConfigLoader(ProviderRegistry.of(
            List.of(new dev.engram.runtime.Fakes.FakeWindow(), new dev.engram.runtime.Fakes.FakeMemory())));
    @TempDir
    Path dir;

    private Path write(String yaml) throws IOException {
        Path f = dir.resolve("engram.yaml");
        Files.writeString(f, yaml);
        return f;
    }

    @Test
    void rangesReplaceTheDefaultSectionBySection() throws IOException {
        EnginePlan plan = loader.load(write("""
                layers:
                  default:
                    attention: {provider: fake-window, window: 64}
                  "2-3":
                    memory: {provider: fake-memory, update: delta}
                  "4":
                    attention: fake-window
                """), 6);
        assertEquals(6, plan.layers().size());
        assertTrue(plan.layers().get(0).memory().isEmpty());
        assertEquals(64, plan.layers().get(2).attention().config().asMap().get("window"), "attention comes from default");
        assertEquals("fake-memory", plan.layers().get(3).memory().orElseThrow().provider());
        assertEquals(Map.of("update", "delta"), plan.layers().get(2).memory().orElseThrow().raw());
        assertEquals(512, plan.layers().get(4).attention().config().asMap().get("window"), "range 4 replaced the attention");
        assertTrue(plan.layers().get(5).memory().isEmpty());
    }

    @Test
    void everyProblemInTheFileIsReportedAtOnce() throws IOException {
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(write("""
                layer: {}
                device: tpu
                layers:
                  default:
                    attention: {provider: fake-windw}
                  "0-3":
                    memory: {provider: fake-memory, updte: delta, rate: 7}
                  "3-4":
                    memroy: {provider: fake-memory}
                  "9":
                    attention: fake-window
                """), 6));
        List<String> p = e.problems();
        assertTrue(p.contains("unknown key 'layer'; did you mean 'layers'?; known keys: [layers, model, device, session, replaceLayers]"), p.toString());
        assertTrue(p.contains("'device' is 'tpu'; valid: cpu or cuda"), p.toString());
        assertTrue(p.contains("layers.3-4: unknown key 'memroy'; did you mean 'memory'?; known keys: [attention, memory]"), p.toString());
        assertTrue(p.contains("layers '0-3' and '3-4' overlap at layer 3; valid: each layer in at most one range"), p.toString());
        assertTrue(p.contains("layers key '9' is outside the model's layers; valid: 0 to 5, low end first"), p.toString());
        assertTrue(p.stream().anyMatch(s -> s.startsWith("layers.default.attention: no attention provider named 'fake-windw'; available: [fake-window]; did you mean 'fake-window'?")), p.toString());
        assertTrue(p.contains("layers.0-3.memory 'fake-memory': unknown key 'updte'; did you mean 'update'?; known keys: [update, rate]"), p.toString());
        assertTrue(p.contains("layers.0-3.memory 'fake-memory': 'rate' is 7; valid: (0, 1]"), p.toString());
        assertTrue(e.getMessage().startsWith(dir.resolve("engram.yaml") + ": "), e.getMessage());
    }

    @Test
    void aMisspeltLayersKeyIsOneProblemNotOnePerLayer() throws IOException {
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(write("""
                layer:
                  default: {attention: fake-window}
                """), 14));
        assertEquals(List.of("unknown key 'layer'; did you mean 'layers'?; known keys: [layers, model, device, session, replaceLayers]",
                "'layers' is missing; it maps 'default' or layer ranges such as '0-5' to {attention, memory}"), e.problems());
    }

    @Test
    void layerKeysGetDidYouMeanAndABackwardRangeIsNamedAsSuch() throws IOException {
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(write("""
                layers:
                  defualt: {attention: fake-window}
                  "9-3": {memory: fake-memory}
                  "0-11": {attention: fake-window}
                """), 12));
        assertTrue(e.problems().contains("layers key 'defualt' is not 'default', a layer number or a range like '0-5'; did you mean 'default'?"),
                e.problems().toString());
        assertTrue(e.problems().contains("layers key '9-3' runs backwards; did you mean '3-9'? (low end first)"), e.problems().toString());
    }

    @Test
    void aFileLaidOverAPackagesLayersKeepsWhatItDoesNotSay() {
        Map<String, Object> pkg = Map.of("default", Map.of("attention", Map.of("provider", "window", "window", 0)),
                "1", Map.of("memory", Map.of("provider", "infini", "update", "delta")));
        // a memory only: the attention stays as trained
        assertEquals(Map.of("default", Map.of("attention", Map.of("provider", "window", "window", 0),
                        "memory", Map.of("provider", "lsh-knn")),
                "1", Map.of("memory", Map.of("provider", "infini", "update", "delta"))),
                ConfigLoader.layered(pkg, Map.of("default", Map.of("memory", Map.of("provider", "lsh-knn")))));
        // same provider: only the keys given change; another provider replaces the section; 1_1 is range "1"
        assertEquals(Map.of("default", Map.of("attention", Map.of("provider", "window", "window", 256)),
                        "1", Map.of("memory", "none")),
                ConfigLoader.layered(pkg, Map.of("default", Map.of("attention", Map.of("provider", "window", "window", 256)),
                        "1", Map.of("memory", "none"))));
        assertEquals(Map.of("default", Map.of("attention", Map.of("provider", "full")),
                        "1", Map.of("memory", Map.of("provider", "infini", "update", "linear")),
                        "2-3", Map.of("memory", Map.of("provider", "infini"))),
                ConfigLoader.layered(pkg, Map.of("default", Map.of("attention", Map.of("provider", "full")),
                        "1", Map.of("memory", Map.of("provider", "infini", "update", "linear")),
                        "2-3", Map.of("memory", Map.of("provider", "infini")))));
    }

    @Test
    void layeringKeepsTheFilesRangeSpellingsShorthandsAndMissingProvidersAndNamesAnOverlap() {
        Map<String, Object> pkg = Map.of("default", Map.of("attention", Map.of("provider", "window", "window", 0)),
                "6-11", Map.of("memory", Map.of("provider", "infini", "update", "delta")));
        // "6 - 11" is the package's 6-11; a section without provider, or a bare name of the same provider, merges
        assertEquals(Map.of("default", Map.of("attention", Map.of("provider", "window", "window", 0)),
                        "6-11", Map.of("memory", Map.of("provider", "infini", "update", "linear"))),
                ConfigLoader.layered(pkg, Map.of("6 - 11", Map.of("memory", Map.of("update", "linear")))));
        assertEquals(Map.of("default", Map.of("attention", Map.of("provider", "window", "window", 0)),
                        "6-11", Map.of("memory", Map.of("provider", "infini", "update", "delta"))),
                ConfigLoader.layered(pkg, Map.of("6-11", Map.of("memory", "infini"))));
        // a new range outside the package's keeps its spelling; one overlapping them is named
        assertTrue(ConfigLoader.layered(pkg, Map.of("0 - 2", Map.of("memory", "none"))).containsKey("0 - 2"));
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigLoader.layered(pkg, Map.of("4-7", Map.of("memory", "none"))));
        assertTrue(e.getMessage().contains("layers key '4-7' overlaps the package's own range '6-11'"), e.getMessage());
    }

    @Test
    void replaceLayersMustBeABoolean() throws IOException {
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(write("""
                replaceLayers: yes please
                layers: {default: {attention: fake-window}}
                """), 2));
        assertEquals(List.of("'replaceLayers' is yes please; valid: true or false"), e.problems());
    }

    @Test
    void aLayerWithoutAttentionIsNamed() throws IOException {
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(write("""
                layers:
                  "0":
                    attention: fake-window
                """), 2));
        assertEquals(List.of("layer 1 has no attention; add one to 'default' or to a range that covers it"), e.problems());
    }

    @Test
    void memoryNoneTurnsTheDefaultMemoryOff() throws IOException {
        EnginePlan plan = loader.load(write("""
                layers:
                  default: {attention: fake-window, memory: fake-memory}
                  "1": {memory: none}
                """), 2);
        assertTrue(plan.layers().get(0).memory().isPresent());
        assertTrue(plan.layers().get(1).memory().isEmpty());
    }

    @Test
    void overridesReachNestedKeysAndAreCheckedLikeTheFile() throws IOException {
        Map<String, Object> tree = ConfigLoader.withOverrides(ConfigLoader.read(write("""
                layers:
                  default: {attention: fake-window, memory: {provider: fake-memory}}
                """)), Map.of(List.of("layers", "default", "memory", "rate"), "0.25",
                List.of("layers", "default", "attention"), "fake-window"));
        EnginePlan plan = loader.plan("overridden", tree, 1);
        assertEquals(0.25, plan.layers().get(0).memory().orElseThrow().config().asMap().get("rate"));

        Map<String, Object> bad = ConfigLoader.withOverrides(tree, Map.of(List.of("layers", "default", "memory", "rate"), "2"));
        assertEquals(List.of("layers.default.memory 'fake-memory': 'rate' is 2; valid: (0, 1]"),
                assertThrows(ConfigException.class, () -> loader.plan("overridden", bad, 1)).problems());
    }

    @Test
    void systemPropertiesOverrideTheFile() throws IOException {
        Path f = write("""
                layers:
                  default: {attention: fake-window, memory: {provider: fake-memory, rate: 0.5}}
                """);
        System.setProperty("engram.layers.default.memory.rate", "0.75");
        try {
            assertEquals(0.75, loader.load(f, 1).layers().get(0).memory().orElseThrow().config().asMap().get("rate"));
        } finally {
            System.clearProperty("engram.layers.default.memory.rate");
        }
    }

    private ConfigLoader loaderWith(Map<String, String> environment, Map<String, String> properties) {
        return new ConfigLoader(ProviderRegistry.of(
                List.of(new dev.engram.runtime.Fakes.FakeWindow(), new dev.engram.runtime.Fakes.FakeMemory())),
                environment, properties);
    }

    private static final String RANGED = """
            layers:
              default: {attention: fake-window}
              "6-11":
                memory: {provider: fake-memory, update: linear}
            """;

    @Test
    void anEnvironmentVariableOverridesALayerRangeWrittenWithAnUnderscore() throws IOException {
        // bash cannot export ENGRAM__layers__6-11__...: '-' is not allowed in a variable name, so 6_11 means 6-11
        EnginePlan plan = loaderWith(Map.of("ENGRAM__layers__6_11__memory__update", "delta", "PATH", "/usr/bin"), Map.of())
                .load(write(RANGED), 12);
        for (int layer = 6; layer <= 11; layer++) {
            assertEquals(Map.of("update", "delta"), plan.layers().get(layer).memory().orElseThrow().raw(), "layer " + layer);
        }
        assertTrue(plan.layers().get(5).memory().isEmpty(), "the override created no second range");
    }

    @Test
    void theUnderscoreAliasFindsTheFilesOwnSpellingOfTheRange() throws IOException {
        EnginePlan plan = loaderWith(Map.of("ENGRAM__layers__2_3__memory__rate", "0.25"), Map.of()).load(write("""
                layers:
                  default: {attention: fake-window}
                  "2 - 3":
                    memory: {provider: fake-memory}
                """), 4);
        assertEquals(0.25, plan.layers().get(2).memory().orElseThrow().config().asMap().get("rate"));
        assertEquals(0.25, plan.layers().get(3).memory().orElseThrow().config().asMap().get("rate"));
    }

    @Test
    void anEnvironmentVariableCanAddARangeThatTheFileLacks() throws IOException {
        EnginePlan plan = loaderWith(Map.of("ENGRAM__layers__0_1__memory__provider", "fake-memory"), Map.of())
                .load(write(RANGED), 12);
        assertEquals("fake-memory", plan.layers().get(1).memory().orElseThrow().provider());
        assertTrue(plan.layers().get(2).memory().isEmpty());
    }

    @Test
    void theDashSpellingStillWorksWhereItCanBeSet() throws IOException {
        // env -i / ProcessBuilder can set a name with '-'; the property form always could
        EnginePlan plan = loaderWith(Map.of("ENGRAM__layers__6-11__memory__update", "delta"), Map.of()).load(write(RANGED), 12);
        assertEquals(Map.of("update", "delta"), plan.layers().get(6).memory().orElseThrow().raw());
        plan = loaderWith(Map.of(), Map.of("engram.layers.6_11.memory.update", "delta")).load(write(RANGED), 12);
        assertEquals(Map.of("update", "delta"), plan.layers().get(11).memory().orElseThrow().raw());
    }

    @Test
    void aBadValueFromTheEnvironmentIsReportedWithTheFileAndTheValidRange() throws IOException {
        Path f = write(RANGED);
        ConfigException e = assertThrows(ConfigException.class,
                () -> loaderWith(Map.of("ENGRAM__layers__6_11__memory__rate", "7",
                        "ENGRAM__layers__6_11__memory__updte", "delta"), Map.of()).load(f, 12));
        // the file is named (the values land on its ranges), and so is the variable that set each value
        assertTrue(e.problems().contains("layers.6-11.memory 'fake-memory': 'rate' is 7; valid: (0, 1]"
                + " (set by ENGRAM__layers__6_11__memory__rate)"), e.problems().toString());
        assertTrue(e.problems().contains("layers.6-11.memory 'fake-memory': unknown key 'updte'; did you mean 'update'?;"
                + " known keys: [update, rate] (set by ENGRAM__layers__6_11__memory__updte)"), e.problems().toString());
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
    }

    @Test
    void aSystemPropertyThatCausedAnErrorIsNamed() throws IOException {
        Path f = write(RANGED);
        ConfigException e = assertThrows(ConfigException.class,
                () -> loaderWith(Map.of(), Map.of("engram.layers.6-11.memory.rate", "2")).load(f, 12));
        assertEquals(List.of("layers.6-11.memory 'fake-memory': 'rate' is 2; valid: (0, 1] (set by -Dengram.layers.6-11.memory.rate)"),
                e.problems());
    }

    @Test
    void theDeviceAndSessionCanBeSetByPropertyAsByEnvironment() throws IOException {
        Path f = write(RANGED);
        assertEquals(SessionSettings.Device.CUDA, loaderWith(Map.of(), Map.of("engram.device", "cuda")).load(f, 12).session().device());
        assertEquals(SessionSettings.Device.CUDA, loaderWith(Map.of("ENGRAM__device", "cuda"), Map.of()).load(f, 12).session().device());
        assertEquals(SessionSettings.Device.CPU, loaderWith(Map.of("ENGRAM__device", "cuda"), Map.of("engram.device", "cpu"))
                .load(f, 12).session().device(), "a property wins over the environment");
        assertEquals(SessionSettings.Device.CPU, loaderWith(Map.of(), Map.of("engram.kernels", "scalar")).load(f, 12).session().device(),
                "the runtime's own engram.* properties are not config");
    }

    @Test
    void overridesThatMatchNothingAreWarnedAboutInsteadOfIgnored() {
        assertEquals(List.of(
                "environment variable ENGRAM_PLUGIN is not a config override (those start with ENGRAM__, two underscores)"
                        + " and is ignored; did you mean 'ENGRAM_PLUGINS'?",
                "environment variable ENGRAM__layer__default__memory__decay sets 'layer', which is no config key;"
                        + " did you mean 'layers'?; known keys: [layers, model, device, session, replaceLayers]",
                "environment variable ENGRAM_layers__default__memory__decay is not a config override (those start with"
                        + " ENGRAM__, two underscores) and is ignored; did you mean ENGRAM__layers__default__memory__decay?",
                "system property engram.layer.default.memory.decay is not a config override and is ignored;"
                        + " did you mean -Dengram.layers.default.memory.decay?"),
                ConfigLoader.unmatchedOverrides(
                        Map.of("ENGRAM_layers__default__memory__decay", "0.9", "ENGRAM__layer__default__memory__decay", "0.9",
                                "ENGRAM_JAVA", "/usr/bin/java", "ENGRAM_PLUGINS", "x", "PATH", "/bin", "ENGRAM_PLUGIN", "y",
                                "ENGRAM_API_KEY", "k1"),
                        Map.of("engram.layer.default.memory.decay", "0.9", "engram.kernels", "scalar",
                                "engram.layers.default.memory.decay", "0.9", "engram.home", "/x")));
    }

    @Test
    void propertiesWinOverTheEnvironmentAndOtherVariablesAreIgnored() throws IOException {
        EnginePlan plan = loaderWith(
                Map.of("ENGRAM__layers__6_11__memory__rate", "0.25", "ENGRAM_HOME", "/x", "engram.layers.6-11.memory.rate", "0.1"),
                Map.of("engram.layers.6-11.memory.rate", "0.75", "engram.home", "/y"))
                .load(write(RANGED), 12);
        assertEquals(0.75, plan.layers().get(6).memory().orElseThrow().config().asMap().get("rate"));
        assertEquals(Map.of(List.of("layers", "6_11", "memory", "rate"), "0.25", List.of("layers", "6-11", "memory", "rate"), "0.75"),
                ConfigLoader.overrides(Map.of("ENGRAM__layers__6_11__memory__rate", "0.25", "ENGRAM_HOME", "/x"),
                        Map.of("engram.layers.6-11.memory.rate", "0.75", "engram.home", "/y")));
    }

    @Test
    void malformedYamlIsAConfigErrorWithALine() throws IOException {
        ConfigException e = assertThrows(ConfigException.class, () -> loader.load(write("layers: [\n  x: {"), 1));
        assertTrue(e.getMessage().contains("not valid YAML") && e.getMessage().contains("line"), e.getMessage());
    }
}
