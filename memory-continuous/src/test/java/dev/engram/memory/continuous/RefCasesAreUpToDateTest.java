package dev.engram.memory.continuous;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed ref-*.json cases are what {@link RefCases} builds from {@link ReferenceContinuous} today: a
 * change to the reference, a spec or a seed that is not followed by regenerating them
 * ({@code mvn -pl memory-continuous test -Dtest=RefCaseGeneratorTest -Dengram.generateCases=true}) fails
 * here. Structure, names, config and shapes must match exactly (object keys in any order); numbers within
 * 1e-6 relative: the files hold float32 values, and a last-digit difference of {@code Math.exp} between
 * JVMs may round one of them to the neighbouring float (1.2e-7 relative at most), which is not staleness.
 * A changed seed, spec or formula moves the values far more than that.
 */
class RefCasesAreUpToDateTest {
    private static final Path DIR = Path.of("src", "test", "resources", "conformance");

    @Test
    void committedCasesMatchTheGenerator() throws IOException {
        List<String> stale = new ArrayList<>();
        for (RefCases.Spec spec : RefCases.all()) {
            Path file = DIR.resolve(spec.name() + ".json");
            if (!Files.exists(file)) {
                stale.add(file + " is missing");
                continue;
            }
            JsonNode committed = RefCases.JSON.readTree(Files.readString(file));
            JsonNode generated = RefCases.JSON.readTree(RefCases.build(spec));
            String difference = difference("", committed, generated);
            if (difference != null) {
                stale.add(file + " differs at " + difference);
            }
        }
        if (!stale.isEmpty()) {
            fail("stale ref cases (regenerate with -Dtest=RefCaseGeneratorTest -Dengram.generateCases=true):\n"
                    + String.join("\n", stale));
        }
    }

    @Test
    void everyCommittedRefCaseHasAGeneratorSpec() throws IOException {
        List<String> specs = RefCases.all().stream().map(s -> s.name() + ".json").sorted().toList();
        try (Stream<Path> files = Files.list(DIR)) {
            List<String> committed = files.map(p -> p.getFileName().toString())
                    .filter(n -> n.startsWith("ref-") && n.endsWith(".json")).sorted().toList();
            assertEquals(specs, committed, "ref-*.json files without a spec in RefCases.all() (or the reverse)");
        }
    }

    @Test
    void theComparisonSeesAChangedNumberAndAChangedName() throws IOException {
        JsonNode a = RefCases.JSON.readTree("{\"x\": [1.0, 2.0], \"name\": \"a\"}");
        assertEquals(null, difference("", a, RefCases.JSON.readTree("{\"name\": \"a\", \"x\": [1.0, 2.0000002]}")));
        assertTrue(difference("", a, RefCases.JSON.readTree("{\"x\": [1.0, 2.00001], \"name\": \"a\"}")).startsWith("/x/1"));
        assertTrue(difference("", a, RefCases.JSON.readTree("{\"x\": [1.0, 2.0], \"name\": \"b\"}")).startsWith("/name"));
        assertTrue(difference("", a, RefCases.JSON.readTree("{\"x\": [1.0], \"name\": \"a\"}")).startsWith("/x"));
    }

    /** The first path where the two trees differ, or null. */
    static String difference(String path, JsonNode a, JsonNode b) {
        if (a.isNumber() && b.isNumber()) {
            double x = a.doubleValue();
            double y = b.doubleValue();
            return Math.abs(x - y) <= 1e-30 + 1e-6 * Math.max(Math.abs(x), Math.abs(y)) ? null
                    : path + ": " + x + " committed vs " + y + " generated";
        }
        if (a.getNodeType() != b.getNodeType() || a.size() != b.size()) {
            return path + ": " + abbreviate(a) + " committed vs " + abbreviate(b) + " generated";
        }
        if (a.isArray()) {
            for (int i = 0; i < a.size(); i++) {
                String d = difference(path + "/" + i, a.get(i), b.get(i));
                if (d != null) {
                    return d;
                }
            }
            return null;
        }
        if (a.isObject()) {
            for (Iterator<String> names = a.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                if (!b.has(name)) {
                    return path + "/" + name + ": only in the committed file";
                }
                String d = difference(path + "/" + name, a.get(name), b.get(name));
                if (d != null) {
                    return d;
                }
            }
            return null;
        }
        return a.equals(b) ? null : path + ": " + abbreviate(a) + " committed vs " + abbreviate(b) + " generated";
    }

    private static String abbreviate(JsonNode n) {
        String s = n.toString();
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }
}
