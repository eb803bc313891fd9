package dev.engram.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.PackageMatcher;
import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The architecture rules, built for a package layout rooted at {@code root}. The real rules use
 * {@link #ENGRAM} (root {@code dev.engram}); the "can fail" tests build the very same rules for
 * {@link #FIXTURES}, a copy of the layout under {@code dev.engram.architecture.fixtures} holding
 * deliberately violating classes, so every rule is proven to fire by the code that checks the project.
 */
public record ArchitectureRules(String root) {

    public static final ArchitectureRules ENGRAM = new ArchitectureRules("dev.engram");
    public static final ArchitectureRules FIXTURES = new ArchitectureRules("dev.engram.architecture.fixtures");

    static final String JAVA = "java..";
    static final String[] JUNIT = {"org.junit..", "org.opentest4j.."};
    static final String JACKSON = "com.fasterxml.jackson..";
    /** The JDK's incubating Vector API: part of every JDK, so no third-party jar comes with it. */
    static final String VECTOR_API = "jdk.incubator.vector..";

    String api() { return root + ".api.."; }
    String spi() { return root + ".spi.."; }
    String tck() { return root + ".tck.."; }
    String conformance() { return root + ".conformance.."; }
    String runtime() { return root + ".runtime.."; }
    String cli() { return root + ".cli.."; }
    String server() { return root + ".server.."; }
    String examples() { return root + ".examples.."; }

    /** Hosts load plugins by name through the registry and never name a plugin class. */
    List<String> hosts() { return List.of(runtime(), cli(), server()); }

    /**
     * The top-level packages under the root that are NOT plugins: the contract (api, spi), the test kit and its runner,
     * the hosts, the benchmarks and this module. Every other package is a plugin, so a new plugin module
     * is covered by rules 3 and 4 the day it appears, without being listed anywhere.
     */
    static final List<String> NOT_PLUGINS = List.of("api", "spi", "tck", "conformance", "runtime", "cli", "server", "bench", "architecture");

    /**
     * The plugin {@code packageName} belongs to, or empty for the contract, the test kit and the hosts:
     * {@code root.memory.<name>} for anything under {@code root.memory}, else {@code root.<first part>}.
     * A plugin's sub-packages belong to it ({@code memory.infini.kernels} is {@code memory.infini}).
     */
    Optional<String> pluginOf(String packageName) {
        if (!packageName.startsWith(root + ".")) {
            return Optional.empty();
        }
        String[] parts = packageName.substring(root.length() + 1).split("\\.");
        if (NOT_PLUGINS.contains(parts[0])) {
            return Optional.empty();
        }
        if (parts[0].equals("memory") && parts.length > 1) {
            return Optional.of(root + ".memory." + parts[1]);
        }
        return Optional.of(root + "." + parts[0]);
    }

    DescribedPredicate<JavaClass> inAPlugin() {
        return DescribedPredicate.describe("reside in a plugin package (any package under " + root + " except "
                + NOT_PLUGINS + "; each memory.<name> is a plugin of its own)",
                c -> pluginOf(c.getPackageName()).isPresent());
    }

    // ---- rule 1 -------------------------------------------------------------------------------
    public ArchRule apiDependsOnlyOnJava() {
        return onlyDependsOn(api(), JAVA)
                .because("api is the stable contract every plugin compiles against: it must not drag in"
                        + " any of our implementation modules or any third-party library");
    }

    // ---- rule 2 -------------------------------------------------------------------------------
    public ArchRule spiDependsOnlyOnApi() {
        return onlyDependsOn(spi(), JAVA, api(), VECTOR_API)
                .because("memory-spi is the plugin contract: a plugin needs api + memory-spi and nothing else"
                        + " (its SIMD kernels use the JDK's Vector API, loaded only where the JVM has the module)");
    }

    // ---- rule 3 -------------------------------------------------------------------------------
    public ArchRule pluginsAreIsolated() {
        return classes().that(inAPlugin())
                .should(notDependOnAnotherPluginOrAHost())
                .because("plugins are found by name at run time; a plugin that names the runtime, the cli or"
                        + " another plugin can no longer be dropped on (or left off) the class path on its own");
    }

    public ArchRule examplesPluginUsesOnlyTheContract() {
        return onlyDependsOn(examples(), JAVA, api(), spi())
                .because("the examples plugin is the proof that a plugin needs nothing but api and memory-spi");
    }

    // ---- rule 4 -------------------------------------------------------------------------------
    public ArchRule hostsNeverNameAPlugin() {
        return noClasses().that().resideInAnyPackage(hosts().toArray(String[]::new))
                .should().dependOnClassesThat(inAPlugin())
                .because("runtime, cli and server find plugins through the ServiceLoader registry by name only, so a"
                        + " third-party plugin jar works exactly like ours");
    }

    // ---- rule 5 -------------------------------------------------------------------------------
    public ArchRule noPackageCycles() {
        // (**) captures the whole package name: every package is its own slice, so a cycle between a
        // package and its sub-package (runtime <-> runtime.config) is reported as well as one between modules.
        return slices().matching(root + ".(**)").namingSlices("$1")
                .should().beFreeOfCycles()
                .because("package cycles make modules impossible to split, test or understand in isolation");
    }

    // ---- rule 6 -------------------------------------------------------------------------------
    public ArchRule tckDependsOnlyOnContractJunitAndJackson() {
        String[] allowed = Stream.concat(Stream.of(JAVA, api(), spi(), JACKSON, conformance()), Stream.of(JUNIT))
                .toArray(String[]::new);
        return onlyDependsOn(tck(), allowed)
                .because("the test kit runs inside every plugin's tests: it may use the contract, its conformance"
                        + " runner, JUnit and Jackson (conformance JSON), nothing of the runtime and no plugin");
    }

    // ---- rule 7 -------------------------------------------------------------------------------
    public ArchRule conformanceDependsOnlyOnContractAndJackson() {
        return onlyDependsOn(conformance(), JAVA, api(), spi(), JACKSON)
                .because("the conformance runner is on the CLI's production class path (engram conformance, engram"
                        + " plan): the contract and Jackson only, no JUnit, nothing of the runtime and no plugin");
    }

    // ---- rule 8 -------------------------------------------------------------------------------
    public ArchRule junitOnlyInTheTestKit() {
        return noClasses().that().resideOutsideOfPackage(tck())
                .should().dependOnClassesThat().resideInAnyPackage(JUNIT)
                .because("JUnit is a test tool: only the test kit's suites use it in main code (the build's enforcer"
                        + " rule no-junit-in-production keeps it off every other module's class path)");
    }

    public List<ArchRule> all() {
        return List.of(apiDependsOnlyOnJava(), spiDependsOnlyOnApi(), pluginsAreIsolated(),
                examplesPluginUsesOnlyTheContract(), hostsNeverNameAPlugin(), noPackageCycles(),
                tckDependsOnlyOnContractJunitAndJackson(), conformanceDependsOnlyOnContractAndJackson(),
                junitOnlyInTheTestKit());
    }

    // ---- shared building blocks ---------------------------------------------------------------

    /** Classes in {@code subject} depend only on their own package tree and {@code allowed}. */
    static ArchRule onlyDependsOn(String subject, String... allowed) {
        String[] packages = Stream.concat(Stream.of(subject), Stream.of(allowed)).toArray(String[]::new);
        return classes().that().resideInAPackage(subject)
                .should().onlyDependOnClassesThat().resideInAnyPackage(packages);
    }

    ArchCondition<JavaClass> notDependOnAnotherPluginOrAHost() {
        List<PackageMatcher> hostMatchers = hosts().stream().map(PackageMatcher::of).toList();
        return new ArchCondition<>("not depend on another plugin or on a host " + hosts()) {
            @Override
            public void check(JavaClass origin, ConditionEvents events) {
                Optional<String> own = pluginOf(origin.getPackageName());
                List<Dependency> offending = new ArrayList<>();
                for (Dependency d : origin.getDirectDependenciesFromSelf()) {
                    String target = d.getTargetClass().getBaseComponentType().getPackageName();
                    Optional<String> other = pluginOf(target);
                    boolean otherPlugin = other.isPresent() && !other.equals(own);
                    if (otherPlugin || indexOf(hostMatchers, target) >= 0) {
                        offending.add(d);
                    }
                }
                if (offending.isEmpty()) {
                    events.add(SimpleConditionEvent.satisfied(origin, origin.getName() + " stays in its plugin"));
                }
                for (Dependency d : offending) {
                    events.add(SimpleConditionEvent.violated(d, d.getDescription()));
                }
            }
        };
    }

    private static int indexOf(List<PackageMatcher> matchers, String packageName) {
        for (int i = 0; i < matchers.size(); i++) {
            if (matchers.get(i).matches(packageName)) {
                return i;
            }
        }
        return -1;
    }
}
