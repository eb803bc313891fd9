package dev.engram.memory.continuous;

import dev.engram.tck.GeneratedCases;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The committed ref-*.json cases are what {@link RefCases} builds from {@link ReferenceContinuous} today
 * (the comparison's rules: {@link GeneratedCases}).
 */
class RefCasesAreUpToDateTest {
    @Test
    void committedCasesMatchTheGenerator() throws Exception {
        Map<String, String> generated = new LinkedHashMap<>();
        for (RefCases.Spec spec : RefCases.all()) {
            generated.put(spec.name() + ".json", RefCases.build(spec));
        }
        GeneratedCases.assertUpToDate(Path.of("src", "test", "resources", "conformance"), "ref-", generated,
                "mvn -pl memory-continuous test -Dtest=RefCaseGeneratorTest -Dengram.generateCases=true");
    }
}
