package dev.engram.tck;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assertions;

/**
 * Keeps committed conformance cases that a plugin's own generator writes ({@code ref-*.json} from a plain
 * reference) in step with that generator: a change to the reference, a case or a seed that is not followed
 * by regenerating the files fails the plugin's test. Structure, names, config and shapes must match exactly
 * (object keys in any order: generators often build objects with {@code Map.of}, whose iteration order
 * changes between JVM runs); numbers within {@value #RELATIVE} relative, since the files hold float32 values
 * and a last-digit difference of {@code Math.exp} between JVMs may round one to the neighbouring float
 * (1.2e-7 relative at most), which is not staleness.
 */
public final class GeneratedCases {
    /** Numbers closer than this (relative) are the same value. */
    public static final double RELATIVE = 1e-6;
    private static final ObjectMapper JSON = new ObjectMapper();

    private GeneratedCases() {
    }

    /**
     * Fails unless {@code dir} holds exactly the files in {@code generated} among those matching
     * {@code prefix*.json}, each equal to its generated document.
     *
     * @param generated   file name -> the JSON the generator produces today
     * @param regenerate  the command that rewrites the files, named in the failure
     */
    public static void assertUpToDate(Path dir, String prefix, Map<String, String> generated, String regenerate) {
        List<String> stale = new ArrayList<>();
        try {
            for (Map.Entry<String, String> e : generated.entrySet()) {
                Path file = dir.resolve(e.getKey());
                if (!Files.exists(file)) {
                    stale.add(file + " is missing");
                    continue;
                }
                String d = difference("", JSON.readTree(Files.readString(file)), JSON.readTree(e.getValue()));
                if (d != null) {
                    stale.add(file + " differs at " + d);
                }
            }
            TreeSet<String> extra = new TreeSet<>();
            try (Stream<Path> files = Files.list(dir)) {
                files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix) && n.endsWith(".json"))
                        .filter(n -> !generated.containsKey(n)).forEach(extra::add);
            }
            extra.forEach(n -> stale.add(dir.resolve(n) + " is not made by the generator"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (!stale.isEmpty()) {
            Assertions.fail("stale generated cases (regenerate with " + regenerate + "):\n" + String.join("\n", stale));
        }
    }

    /** The first path where the committed and generated trees differ, or null when they agree. */
    public static String difference(String path, JsonNode committed, JsonNode generated) {
        JsonNode a = committed;
        JsonNode b = generated;
        if (a.isNumber() && b.isNumber()) {
            double x = a.doubleValue();
            double y = b.doubleValue();
            return Math.abs(x - y) <= 1e-30 + RELATIVE * Math.max(Math.abs(x), Math.abs(y)) ? null
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
