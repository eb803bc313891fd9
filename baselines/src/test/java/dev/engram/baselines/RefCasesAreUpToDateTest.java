package dev.engram.baselines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The ref-*.json files are exactly what {@link RefCaseGenerator} produces now (re-run it when this fails). */
class RefCasesAreUpToDateTest {
    @Test
    void everyGeneratedCaseIsOnDiskUnchanged() throws IOException {
        if (Boolean.getBoolean("engram.regenerate")) {
            // Surefire runs in the module directory; the classpath copy is refreshed by the next build.
            RefCaseGenerator.main(new String[] {"src/test/resources/conformance"});
            return;
        }
        for (RefCaseGenerator.Spec c : RefCaseGenerator.CASES) {
            String resource = "conformance/" + c.name() + ".json";
            try (InputStream in = getClass().getClassLoader().getResourceAsStream(resource)) {
                assertNotNull(in, resource + " is missing: run RefCaseGenerator");
                assertEquals(RefCaseGenerator.render(c), new String(in.readAllBytes(), StandardCharsets.UTF_8),
                        resource + " differs from what RefCaseGenerator produces: re-run it");
            }
        }
    }
}
