package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server in its own JVM, killed with SIGKILL after acknowledged appends, then started again on the same data dir. */
class RestartTest {
    private static final Pattern LISTENING = Pattern.compile("listening on (http://[^ ]+) ");

    @TempDir
    Path tmp;

    private record Child(Process process, Http http) {
    }

    private Child spawn(Path model, Path data, String name) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path"), ServerMain.class.getName(), "--model", model.toString(), "--port", "0",
                "--data-dir", data.toString());
        pb.redirectError(tmp.resolve(name + ".err").toFile());
        Process p = pb.start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        if (line == null) {
            p.waitFor(5, TimeUnit.SECONDS);
            throw new AssertionError("the server did not start: " + Files.readString(tmp.resolve(name + ".err")));
        }
        Matcher m = LISTENING.matcher(line);
        assertTrue(m.find(), line);
        return new Child(p, new Http(URI.create(m.group(1))));
    }

    @Test
    void aKilledServerLosesNoAcknowledgedAppend() throws Exception {
        Path model = TestModel.create(tmp);
        Path data = tmp.resolve("data");
        String part1 = "Engram keeps long-lived memory sessions. ";
        int[] part2 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
        String part3 = "after the restart";
        int[] prompt = {2, 4, 8};

        Child a = spawn(model, data, "first");
        String id = a.http().post("/v1/sessions", "").json().get("id").asText();
        assertEquals(200, a.http().post("/v1/sessions/" + id + "/append", Map.of("text", part1)).status());
        assertEquals(200, a.http().post("/v1/sessions/" + id + "/append", Map.of("tokens", part2)).status());
        a.process().destroyForcibly();
        assertTrue(a.process().waitFor(10, TimeUnit.SECONDS));

        Child b = spawn(model, data, "second");
        try {
            int n = part1.length() + part2.length;
            assertEquals(n, b.http().get("/v1/sessions/" + id).json().get("tokens").asInt());
            Map<String, Object> q = new java.util.LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", prompt,
                    "max_tokens", 10, "temperature", 0, "session", id));
            int[] uninterrupted = TestModel.greedy(model, 10, prompt, TestModel.bytesModVocab(part1), part2);
            assertArrayEquals(uninterrupted, Http.ints(b.http().post("/v1/completions", q).json().get("choices").get(0).get("token_ids")));
            // and the session goes on growing after the restart
            assertEquals(200, b.http().post("/v1/sessions/" + id + "/append", Map.of("text", part3)).status());
            int[] continued = TestModel.greedy(model, 10, prompt, TestModel.bytesModVocab(part1), part2, TestModel.bytesModVocab(part3));
            assertArrayEquals(continued, Http.ints(b.http().post("/v1/completions", q).json().get("choices").get(0).get("token_ids")));
            assertEquals(java.util.Set.of(id + ".session", id + ".checkpoints"), Files.list(data.resolve("sessions"))
                    .map(f -> f.getFileName().toString()).collect(java.util.stream.Collectors.toSet()), "no temporary files are left behind");
            assertEquals(List.of("previous.session"), Files.list(data.resolve("sessions").resolve(id + ".checkpoints"))
                    .map(f -> f.getFileName().toString()).toList(), "the state before the last append, and nothing else");
        } finally {
            b.process().destroy(); // SIGTERM: graceful shutdown through the hook
            assertTrue(b.process().waitFor(20, TimeUnit.SECONDS));
        }
    }
}
