package dev.engram.architecture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.lang.EvaluationResult;
import dev.engram.architecture.fixtures.api.CleanApi;
import dev.engram.architecture.fixtures.cli.CleanCli;
import dev.engram.architecture.fixtures.examples.CleanExample;
import dev.engram.architecture.fixtures.memory.infini.CleanInfini;
import dev.engram.architecture.fixtures.memory.infini.kernels.Kernel;
import dev.engram.architecture.fixtures.memory.lsh.CleanLsh;
import dev.engram.architecture.fixtures.runtime.CleanRuntime;
import dev.engram.architecture.fixtures.spi.CleanSpi;
import dev.engram.architecture.fixtures.tck.CleanTck;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Proves that every rule can fail: the same rule objects {@link ArchitectureTest} checks, built by
 * {@link ArchitectureRules} for the fixture layout, must report the deliberate violations in
 * {@code dev.engram.architecture.fixtures} (and only those: the compliant fixtures pass).
 */
class RulesCanFailTest {

    private static final ArchitectureRules RULES = ArchitectureRules.FIXTURES;
    private static final String F = "dev.engram.architecture.fixtures.";

    @Test
    void rule1ApiRejectsOurModulesAndThirdPartyLibraries() {
        assertFails(RULES.apiDependsOnlyOnJava(), EngramClasses.fixtures("api"),
                "com.fasterxml.jackson.databind.ObjectMapper", F + "runtime.CleanRuntime");
        assertPasses(RULES.apiDependsOnlyOnJava(), CleanApi.class);
    }

    @Test
    void rule2SpiRejectsAnythingButApi() {
        assertFails(RULES.spiDependsOnlyOnApi(), EngramClasses.fixtures("spi"), F + "runtime.CleanRuntime");
        assertPasses(RULES.spiDependsOnlyOnApi(), CleanSpi.class);
    }

    @Test
    void rule3PluginsRejectHostsAndOtherPlugins() {
        JavaClasses plugins = EngramClasses.fixtures("memory", "baselines", "examples");
        assertFails(RULES.pluginsAreIsolated(), plugins,
                F + "memory.lsh.CleanLsh", F + "runtime.CleanRuntime", F + "cli.CleanCli");
        // a plugin's own sub-package is fine; a library (LeakyExample's Jackson) is not this rule's business
        assertPasses(RULES.pluginsAreIsolated(), CleanInfini.class, Kernel.class, CleanLsh.class,
                CleanExample.class, dev.engram.architecture.fixtures.examples.LeakyExample.class);
    }

    @Test
    void rule3CoversPluginPackagesThatNoRuleNames() {
        // memory.fresh and newplugin appear in no list: the rule finds them by being neither contract nor host
        assertFails(RULES.pluginsAreIsolated(), EngramClasses.fixtures("memory.fresh", "newplugin"),
                F + "memory.infini.CleanInfini", F + "server.CleanServer", F + "runtime.CleanRuntime");
        assertPasses(RULES.pluginsAreIsolated(), dev.engram.architecture.fixtures.memory.fresh.CleanFresh.class);
    }

    @Test
    void everyPackageButTheContractAndTheHostsIsAPlugin() {
        assertEquals(Optional.of(F + "memory.infini"), RULES.pluginOf(F + "memory.infini.kernels"));
        assertEquals(Optional.of(F + "memory.fresh"), RULES.pluginOf(F + "memory.fresh"));
        assertEquals(Optional.of(F + "newplugin"), RULES.pluginOf(F + "newplugin.sub"));
        for (String notAPlugin : List.of("api", "spi", "tck", "conformance", "runtime.model", "cli", "server", "bench")) {
            assertEquals(Optional.empty(), RULES.pluginOf(F + notAPlugin), notAPlugin);
        }
        assertEquals(Optional.empty(), RULES.pluginOf("com.example.memory.x"), "outside the root");
    }

    @Test
    void rule3ExamplesPluginRejectsAnythingButApiAndSpi() {
        assertFails(RULES.examplesPluginUsesOnlyTheContract(), EngramClasses.fixtures("examples"),
                "com.fasterxml.jackson.databind.ObjectMapper");
        assertPasses(RULES.examplesPluginUsesOnlyTheContract(), CleanExample.class);
    }

    @Test
    void rule4HostsRejectNamingAPluginClass() {
        assertFails(RULES.hostsNeverNameAPlugin(), EngramClasses.fixtures("runtime", "cli"),
                F + "memory.infini.CleanInfini", F + "examples.CleanExample");
        assertPasses(RULES.hostsNeverNameAPlugin(), CleanRuntime.class, CleanCli.class);
    }

    @Test
    void rule4HoldsTheServerToo() {
        assertFails(RULES.hostsNeverNameAPlugin(), EngramClasses.fixtures("server"),
                F + "memory.fresh.CleanFresh", F + "newplugin.LeakyNewPlugin");
        assertPasses(RULES.hostsNeverNameAPlugin(), dev.engram.architecture.fixtures.server.CleanServer.class);
    }

    @Test
    void rule5ReportsCyclesBetweenModulesAndBetweenAPackageAndItsSubPackage() {
        EvaluationResult result = RULES.noPackageCycles().evaluate(EngramClasses.fixtures("cycle"));
        assertTrue(result.hasViolation(), "cycle rule passed on a cyclic fixture");
        String report = String.join("\n", result.getFailureReport().getDetails());
        // slices are named by their package below the root; both cycles are reported
        assertTrue(report.matches("(?s).*Cycle detected: cycle\\.a -> \\s*cycle\\.b -> \\s*cycle\\.a\\n.*"), report);
        assertTrue(report.matches("(?s).*Cycle detected: cycle\\.a -> \\s*cycle\\.a\\.inner -> \\s*cycle\\.a\\n.*"), report);
        // acyclic fixtures (api -> runtime, cli -> runtime) pass
        assertFalse(RULES.noPackageCycles().evaluate(EngramClasses.fixtures("api", "runtime", "cli")).hasViolation());
    }

    @Test
    void rule6TckRejectsPluginsAndOtherLibraries() {
        assertFails(RULES.tckDependsOnlyOnContractJunitAndJackson(), EngramClasses.fixtures("tck"),
                F + "memory.lsh.CleanLsh", "com.tngtech.archunit.core.domain.PackageMatcher");
        assertPasses(RULES.tckDependsOnlyOnContractJunitAndJackson(), CleanTck.class);
    }

    @Test
    void rule7ConformanceRejectsJUnitAndTheRuntime() {
        assertFails(RULES.conformanceDependsOnlyOnContractAndJackson(), EngramClasses.fixtures("conformance"),
                "org.junit.jupiter.api.Assertions", F + "runtime.CleanRuntime");
        assertPasses(RULES.conformanceDependsOnlyOnContractAndJackson(),
                dev.engram.architecture.fixtures.conformance.CleanConformance.class);
    }

    @Test
    void rule8RejectsJUnitOutsideTheTestKit() {
        // the kit's own JUnit use (CleanTck) is allowed; the conformance runner's and a host's are not
        assertFails(RULES.junitOnlyInTheTestKit(), EngramClasses.fixtures("tck", "conformance", "cli"),
                "org.junit.jupiter.api.Assertions");
        assertPasses(RULES.junitOnlyInTheTestKit(), CleanTck.class, CleanCli.class,
                dev.engram.architecture.fixtures.conformance.CleanConformance.class);
    }

    /** The rule fails; every violation comes from a Leaky* class; each expected target is reported. */
    private static void assertFails(ArchRule rule, JavaClasses classes, String... expectedTargets) {
        assertFalse(classes.isEmpty(), "no fixture imported");
        EvaluationResult result = rule.evaluate(classes);
        assertTrue(result.hasViolation(), "rule did not fire on its violating fixture: " + rule.getDescription());
        List<String> details = result.getFailureReport().getDetails();
        for (String line : details) {
            assertTrue(line.contains(".Leaky"), "violation reported on a compliant fixture: " + line);
        }
        for (String target : expectedTargets) {
            assertTrue(details.stream().anyMatch(l -> l.contains("<" + target)),
                    "expected a violation naming " + target + " in:\n" + String.join("\n", details));
        }
    }

    private static void assertPasses(ArchRule rule, Class<?>... compliant) {
        EvaluationResult result = rule.evaluate(new ClassFileImporter().importClasses(compliant));
        assertFalse(result.hasViolation(), () -> String.join("\n", result.getFailureReport().getDetails()));
    }
}
