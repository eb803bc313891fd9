package dev.engram.memory.lsh;

import dev.engram.tck.GeneratedCases;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The committed ref-*.json cases are what {@link RefCaseGenerator} builds from {@link PlainReference} today
 * (the comparison's rules: {@link GeneratedCases}).
 */
class RefCasesAreUpToDateTest {
    @Test
    void committedCasesMatchTheGenerator() throws Exception {
        GeneratedCases.assertUpToDate(Path.of("src", "test", "resources", "conformance"), "ref-", RefCaseGenerator.cases(),
                "mvn -B -q -pl memory-lsh test -Dtest=RefCaseGenerator -Dengram.regenerate=true -Dsurefire.failIfNoSpecifiedTests=false");
    }
}
