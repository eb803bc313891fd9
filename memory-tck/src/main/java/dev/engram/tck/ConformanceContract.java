package dev.engram.tck;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.CaseResult;
import dev.engram.conformance.ConformanceRunner;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Runs every {@code *.json} conformance case under the test resource folder {@link #casesResource()}
 * (default {@code conformance/}) against the providers on the test class path, one dynamic test per
 * case. An empty folder fails: a suite that checks nothing must not pass.
 */
public abstract class ConformanceContract {
    protected String casesResource() {
        return "conformance";
    }

    protected ProviderRegistry registry() {
        return ProviderRegistry.load(getClass().getClassLoader());
    }

    @TestFactory
    Stream<DynamicTest> everyCasePasses() throws IOException, URISyntaxException {
        URL url = getClass().getClassLoader().getResource(casesResource());
        assertNotNull(url, "no test resource folder '" + casesResource() + "' with conformance cases");
        Path dir = Path.of(url.toURI());
        List<Path> cases;
        try (Stream<Path> files = Files.walk(dir)) {
            cases = files.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
        assertFalse(cases.isEmpty(), "no *.json conformance case under " + dir);
        ConformanceRunner runner = new ConformanceRunner(registry());
        return cases.stream().map(file -> DynamicTest.dynamicTest(dir.relativize(file).toString(), () -> {
            CaseResult result = runner.check(file);
            if (!result.passed()) {
                fail(result.summaryLine() + (result.failures().isEmpty() ? "" : "\n  " + String.join("\n  ", result.failures())));
            }
        }));
    }
}
