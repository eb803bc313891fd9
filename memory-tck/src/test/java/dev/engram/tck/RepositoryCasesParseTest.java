package dev.engram.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.engram.conformance.ConformanceCase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every conformance case in this repository (any module's test resources, the PyTorch reference's output)
 * parses under the strict field checks of {@link ConformanceCase#parse}: a field the parser does not know
 * fails here first, not in some other module's build.
 */
class RepositoryCasesParseTest {

    @Test
    void everyConformanceCaseInTheRepositoryParses() throws IOException {
        Path root = Path.of("..").toAbsolutePath().normalize();
        Path pom = root.resolve("pom.xml");
        assumeTrue(Files.isRegularFile(pom) && Files.readString(pom).contains("<artifactId>engram-parent</artifactId>"),
                "not inside the Engram repository");
        List<Path> cases;
        try (Stream<Path> files = Files.walk(root)) {
            cases = files.filter(p -> p.toString().endsWith(".json"))
                    .filter(p -> !root.relativize(p).toString().matches("(.*/)?(target|\\.git|node_modules)/.*"))
                    .filter(RepositoryCasesParseTest::isConformanceCase)
                    .sorted().toList();
        }
        assertTrue(cases.size() >= 20, "found only " + cases.size() + " conformance cases under " + root);
        List<String> failures = new ArrayList<>();
        for (Path file : cases) {
            try {
                ConformanceCase.parse(root.relativize(file).toString(), Files.readString(file));
            } catch (RuntimeException e) {
                failures.add(e.getMessage());
            }
        }
        assertEquals(List.of(), failures, cases.size() + " cases checked");
    }

    private static boolean isConformanceCase(Path file) {
        try {
            return Files.size(file) < 50_000_000 && Files.readString(file).contains("\"engram-conformance/");
        } catch (IOException e) {
            return false;
        }
    }
}
