package dev.engram.memory.continuous;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Regenerates src/test/resources/conformance/ref-*.json from the reference:
 * {@code mvn -pl memory-continuous test -Dtest=RefCaseGeneratorTest -Dengram.generateCases=true}.
 */
class RefCaseGeneratorTest {
    @Test
    @EnabledIfSystemProperty(named = "engram.generateCases", matches = "true")
    void writeCases() throws IOException {
        Path dir = Path.of("src/test/resources/conformance");
        Files.createDirectories(dir);
        for (RefCases.Spec spec : RefCases.all()) {
            Files.writeString(dir.resolve(spec.name() + ".json"), RefCases.build(spec) + "\n");
        }
    }
}
