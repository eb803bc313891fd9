package dev.engram.architecture;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The rules over the project's real main classes. Each failure fails the build. */
class ArchitectureTest {

    private static final ArchitectureRules RULES = ArchitectureRules.ENGRAM;

    /**
     * Guards against rules passing vacuously: every module's package must have been imported. A module
     * missing from the class path (dependency dropped from the pom) fails here instead of silently
     * escaping every rule.
     */
    @Test
    void everyModuleIsImported() {
        JavaClasses classes = EngramClasses.main();
        Set<String> packages = classes.stream().map(JavaClass::getPackageName)
                .collect(Collectors.toCollection(TreeSet::new));
        List<String> expected = List.of("dev.engram.api", "dev.engram.spi", "dev.engram.tck", "dev.engram.conformance",
                "dev.engram.runtime", "dev.engram.cli", "dev.engram.memory.infini",
                "dev.engram.memory.continuous", "dev.engram.memory.lsh", "dev.engram.baselines",
                "dev.engram.examples");
        // The server's classes are checked once the module has any: its sources decide, so a server module
        // dropped from this pom fails here instead of escaping rule 4.
        if (hasSources(Path.of("..", "server", "src", "main", "java", "dev", "engram", "server"))) {
            expected = new ArrayList<>(expected);
            expected.add("dev.engram.server");
        }
        for (String p : expected) {
            assertTrue(packages.stream().anyMatch(q -> q.equals(p) || q.startsWith(p + ".")),
                    "no main class imported from " + p + " (module missing from architecture-tests' class path?);"
                            + " imported packages: " + packages);
        }
        assertTrue(packages.stream().noneMatch(q -> q.startsWith("dev.engram.architecture")),
                "this module's own test classes / fixtures must not be imported: " + packages);
    }

    private static boolean hasSources(Path dir) {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            return files.anyMatch(f -> f.toString().endsWith(".java"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The generic plugin rule sees every plugin module (none is a contract or host package by mistake). */
    @Test
    void everyPluginModuleIsClassifiedAsAPlugin() {
        Set<String> plugins = EngramClasses.main().stream()
                .map(c -> RULES.pluginOf(c.getPackageName()))
                .flatMap(java.util.Optional::stream)
                .collect(Collectors.toCollection(TreeSet::new));
        assertTrue(plugins.containsAll(List.of("dev.engram.baselines", "dev.engram.examples", "dev.engram.memory.continuous",
                "dev.engram.memory.infini", "dev.engram.memory.lsh")), plugins.toString());
        for (String host : List.of("dev.engram.runtime", "dev.engram.cli", "dev.engram.server", "dev.engram.api",
                "dev.engram.spi", "dev.engram.tck", "dev.engram.conformance")) {
            assertTrue(plugins.stream().noneMatch(p -> p.equals(host)), host + " classified as a plugin: " + plugins);
        }
    }

    @Test
    void apiDependsOnlyOnJava() {
        RULES.apiDependsOnlyOnJava().check(EngramClasses.main());
    }

    @Test
    void spiDependsOnlyOnJavaAndApi() {
        RULES.spiDependsOnlyOnApi().check(EngramClasses.main());
    }

    @Test
    void pluginsNeverDependOnHostsOrOtherPlugins() {
        RULES.pluginsAreIsolated().check(EngramClasses.main());
    }

    @Test
    void examplesPluginUsesOnlyApiAndSpi() {
        RULES.examplesPluginUsesOnlyTheContract().check(EngramClasses.main());
    }

    @Test
    void runtimeCliAndServerNeverNameAPluginClass() {
        RULES.hostsNeverNameAPlugin().check(EngramClasses.main());
    }

    @Test
    void noPackageCycles() {
        RULES.noPackageCycles().check(EngramClasses.main());
    }

    @Test
    void tckDependsOnlyOnContractJunitAndJackson() {
        RULES.tckDependsOnlyOnContractJunitAndJackson().check(EngramClasses.main());
    }

    @Test
    void conformanceRunnerDependsOnlyOnContractAndJackson() {
        RULES.conformanceDependsOnlyOnContractAndJackson().check(EngramClasses.main());
    }

    @Test
    void noMainClassOutsideTheTestKitUsesJUnit() {
        RULES.junitOnlyInTheTestKit().check(EngramClasses.main());
    }
}
