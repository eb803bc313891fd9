package dev.engram.architecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import java.util.regex.Pattern;

/**
 * The project's main classes, imported once per test JVM from the class path: every module arrives here
 * as a jar (from ~/.m2 or the reactor) or as target/classes through the test-scope dependencies in the
 * pom. Only {@code dev.engram} is imported, so no third-party jar is analysed; test classes (this
 * module's own, fixtures included, and any {@code -tests.jar}) are left out.
 */
final class EngramClasses {

    private static final Pattern TEST_JAR = Pattern.compile(".*-tests?\\.jar.*");

    private static JavaClasses main;

    private EngramClasses() {
    }

    static synchronized JavaClasses main() {
        if (main == null) {
            main = new ClassFileImporter()
                    .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                    .withImportOption((Location location) -> !location.matches(TEST_JAR))
                    .importPackages(ArchitectureRules.ENGRAM.root());
        }
        return main;
    }

    /** The deliberately violating fixture classes of one fixture package (and its sub-packages). */
    static JavaClasses fixtures(String... subPackages) {
        String[] packages = new String[subPackages.length];
        for (int i = 0; i < subPackages.length; i++) {
            packages[i] = ArchitectureRules.FIXTURES.root() + "." + subPackages[i];
        }
        return new ClassFileImporter().importPackages(packages);
    }
}
