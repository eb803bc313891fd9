package dev.engram.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GeneratedCasesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void theComparisonSeesAChangedNumberNameOrLengthButNotKeyOrderOrFloatRounding() throws IOException {
        JsonNode a = JSON.readTree("{\"x\": [1.0, 2.0], \"name\": \"a\"}");
        assertNull(GeneratedCases.difference("", a, JSON.readTree("{\"name\": \"a\", \"x\": [1.0, 2.0000002]}")));
        assertTrue(GeneratedCases.difference("", a, JSON.readTree("{\"x\": [1.0, 2.00001], \"name\": \"a\"}")).startsWith("/x/1"));
        assertTrue(GeneratedCases.difference("", a, JSON.readTree("{\"x\": [1.0, 2.0], \"name\": \"b\"}")).startsWith("/name"));
        assertTrue(GeneratedCases.difference("", a, JSON.readTree("{\"x\": [1.0], \"name\": \"a\"}")).startsWith("/x"));
    }

    @Test
    void missingExtraAndChangedFilesAreNamed() throws IOException {
        Files.writeString(dir.resolve("ref-a.json"), "{\"v\": 1.0}");
        Files.writeString(dir.resolve("ref-b.json"), "{\"v\": 2.0}");
        Files.writeString(dir.resolve("hand-c.json"), "{}");
        GeneratedCases.assertUpToDate(dir, "ref-", Map.of("ref-a.json", "{\"v\": 1.0}", "ref-b.json", "{\"v\": 2.0}"), "X");
        AssertionError e = assertThrows(AssertionError.class, () -> GeneratedCases.assertUpToDate(dir, "ref-",
                Map.of("ref-a.json", "{\"v\": 1.5}", "ref-d.json", "{}"), "the generator"));
        String m = e.getMessage();
        assertTrue(m.startsWith("stale generated cases (regenerate with the generator):"), m);
        assertTrue(m.contains("ref-a.json differs at /v: 1.0 committed vs 1.5 generated"), m);
        assertTrue(m.contains("ref-d.json is missing"), m);
        assertTrue(m.contains("ref-b.json is not made by the generator"), m);
        assertEquals(false, m.contains("hand-c.json"), m);
    }
}
