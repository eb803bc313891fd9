package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 23's server cases: invalid UTF-8 is refused naming the field, unknown words are counted, every error has the
 * JSON shape whatever the method, no answer shows the server's paths, and /metrics describes and matches its state.
 */
class BadInputTest {
    @TempDir
    Path tmp;

    private static byte[] bytes(String before, int[] raw, String after) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(before.getBytes(StandardCharsets.UTF_8));
        for (int x : raw) {
            b.write(x);
        }
        b.writeBytes(after.getBytes(StandardCharsets.UTF_8));
        return b.toByteArray();
    }

    @Test
    void invalidUtf8IsRefusedNamingTheFieldAndChangesNothing() {
        Path model = TestModel.withTokenizer(tmp.resolve("m"));
        try (Server server = Server.start(model, 0, tmp.resolve("data"), ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(server.uri());
            String id = http.post("/v1/sessions", "").json().get("id").asText();
            String append = "/v1/sessions/" + id + "/append";
            // {path, body, content type, the field the 400 must name}
            Object[][] cases = {
                {append, bytes("the key ", new int[] {0xff, 0xfe}, " is"), "text/plain", "text"},
                {append, bytes("{\"text\": \"the ", new int[] {0xc0, 0xaf}, "\"}"), "application/json", "text"}, // overlong '/'
                {append, bytes("{\"text\": \"the ", new int[] {0xed, 0xa0, 0x80}, "\"}"), "application/json", "text"}, // a surrogate
                {"/v1/completions", bytes("{\"model\": \"tiny-infini\", \"prompt\": \"the ", new int[] {0xc0, 0xaf}, "\"}"),
                        "application/json", "prompt"},
                {"/v1/chat/completions", bytes("{\"model\": \"tiny-infini\", \"messages\": [{\"role\": \"user\", \"content\": \"a",
                        new int[] {0xe2, 0x82}, "\"}]}"), "application/json", "messages[0].content"}, // cut short
                {"/v1/completions", bytes("{\"model\": \"tiny-infini\", \"prompt\": \"ok\", \"stop\": [\"x\", \"", new int[] {0x80},
                        "\"]}"), "application/json", "stop[1]"},
            };
            List<String> failures = new ArrayList<>();
            for (Object[] c : cases) {
                Http.Resp r = http.postRaw((String) c[0], (byte[]) c[1], (String) c[2]);
                if (r.status() != 400 || !c[3].equals(r.errorParam()) || !r.json().get("error").get("message").asText().contains("UTF-8")) {
                    failures.add(c[0] + " " + c[3] + " -> " + r.status() + " " + r.body());
                }
            }
            assertEquals(List.of(), failures);
            assertEquals(0, http.get("/v1/sessions/" + id).json().get("tokens").asInt(), "nothing was appended");
            // Valid multi-byte UTF-8 is still text (a word outside the vocabulary: <unk>).
            Http.Resp ok = http.postRaw(append, "the clé".getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
            assertEquals(200, ok.status(), ok.body());
        }
    }

    @Test
    void anAppendReportsHowManyWordsBecameTheUnknownToken() {
        Path model = TestModel.withTokenizer(tmp.resolve("m"));
        try (Server server = Server.start(model, 0, tmp.resolve("data"), ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(server.uri());
            String id = http.post("/v1/sessions", "").json().get("id").asText();
            // TestModel.WORDS has no "banana" and no "apple": two <unk>; "the key is 3" are all known
            JsonNode r = http.post("/v1/sessions/" + id + "/append", Map.of("text", "the banana key is apple 3")).json();
            assertEquals(6, r.get("appended_tokens").asInt(), r.toString());
            assertEquals(2, r.get("unknown_tokens").asInt(), r.toString());
            r = http.postRaw("/v1/sessions/" + id + "/append", "the key is 3".getBytes(StandardCharsets.UTF_8), "text/plain").json();
            assertEquals(0, r.get("unknown_tokens").asInt(), r.toString());
            r = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {15, 15})).json();
            assertEquals(0, r.get("unknown_tokens").asInt(), "ids are taken as given, not counted: " + r);
        }
    }

    @Test
    void everyErrorHasTheJsonShapeWhateverTheMethod() {
        try (Server server = Server.start(TestModel.create(tmp.resolve("m")), 0, tmp.resolve("data"),
                ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(server.uri());
            List<String> failures = new ArrayList<>();
            for (String path : List.of("/v1/sessions/%2e%2e%2fengram-serve.lock", "/v1/sessions/..%2F..%2Fetc", "/v1/sessions/sess_nope",
                    "/v1/sessions/a%00b", "/nowhere")) {
                for (String method : List.of("GET", "DELETE", "POST", "PUT", "PATCH")) {
                    Http.Resp r = http.send(method, path, method.equals("POST") ? "{}" : null);
                    boolean shaped;
                    try {
                        JsonNode e = r.json().get("error");
                        shaped = e != null && e.get("message").isTextual() && e.get("type").isTextual() && e.has("param") && e.has("code");
                    } catch (AssertionError | RuntimeException notJson) {
                        shaped = false;
                    }
                    if (r.status() < 400 || !shaped) {
                        failures.add(method + " " + path + " -> " + r.status() + " '" + r.body() + "'");
                    }
                }
            }
            assertEquals(List.of(), failures);
            assertTrue(Files.exists(tmp.resolve("data").resolve(SessionStore.LOCK_FILE)), "the lock file is untouched");
        }
    }

    @Test
    void errorBodiesNeverShowTheServersPaths() throws Exception {
        Path model = TestModel.create(tmp.resolve("model-dir"));
        Path data = tmp.resolve("data-dir");
        Path config = tmp.resolve("serve-config.yaml");
        Files.writeString(config, "device: cpu\n");
        ServeOptions o = ServeOptions.defaults().withAccessLog(false).withConfig(config);
        String id;
        try (Server a = Server.start(model, 0, data, o)) {
            Http http = new Http(a.uri());
            id = http.post("/v1/sessions", "").json().get("id").asText();
            assertEquals(200, http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {1, 2, 3, 4, 5})).status());
        }
        Path file = data.resolve("sessions").resolve(id + ".session");
        byte[] b = Files.readAllBytes(file);
        b[b.length - 9] ^= 1;
        Files.write(file, b);
        try (Server server = Server.start(model, 0, data, o)) {
            Http http = new Http(server.uri());
            List<Http.Resp> answers = new ArrayList<>();
            Map<String, Object> ask = new LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", new int[] {1}, "max_tokens", 2,
                    "session", id));
            answers.add(http.post("/v1/completions", ask));
            answers.add(http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {1})));
            answers.add(http.post("/v1/sessions", Map.of("strategy", Map.of("layers.default.memory", "no-such-memory"))));
            answers.add(http.post("/v1/sessions", Map.of("strategy", Map.of("layers.default.memory.update", "sideways"))));
            answers.add(http.post("/v1/sessions", Map.of("strategy", Map.of("layers.9.memory", "infini"))));
            Set<String> forbidden = new TreeSet<>(List.of(model.toAbsolutePath().toString(), data.toAbsolutePath().toString(),
                    config.toAbsolutePath().toString(), tmp.toAbsolutePath().toString(), "model-dir", "data-dir", "serve-config"));
            for (Http.Resp r : answers) {
                assertTrue(r.status() >= 400, r.body());
                for (String f : forbidden) {
                    assertFalse(r.body().contains(f), "'" + f + "' in " + r.body());
                }
            }
            assertEquals("session_damaged", answers.get(0).json().get("error").get("code").asText(), answers.get(0).body());
            assertEquals("strategy", answers.get(2).errorParam(), answers.get(2).body());
            assertTrue(answers.get(2).body().contains("no-such-memory"), "the error still says what is wrong: " + answers.get(2).body());
        }
    }

    /** Files beyond the start-up budget are checked after /ready, in the background, or on first use. */
    @Test
    void sessionsBeyondTheStartBudgetAreCheckedAfterReady() throws Exception {
        Path model = TestModel.create(tmp.resolve("m"));
        Path data = tmp.resolve("data");
        List<String> ids = new ArrayList<>();
        try (Server a = Server.start(model, 0, data, ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(a.uri());
            for (int i = 0; i < 3; i++) {
                ids.add(http.post("/v1/sessions", "").json().get("id").asText());
                assertEquals(200, http.post("/v1/sessions/" + ids.get(i) + "/append", Map.of("tokens", new int[] {1, 2, 3})).status());
            }
        }
        Path damaged = data.resolve("sessions").resolve(ids.get(1) + ".session");
        byte[] b = Files.readAllBytes(damaged);
        b[b.length - 9] ^= 1;
        Files.write(damaged, b);
        long before = SessionStore.verifyAtStartBytes;
        SessionStore.verifyAtStartBytes = 0; // every file indexed from its header only
        try (Server server = Server.start(model, 0, data, ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(server.uri());
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (!http.get("/v1/sessions/" + ids.get(1)).json().get("damaged").asBoolean() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(http.get("/v1/sessions/" + ids.get(1)).json().get("damaged").asBoolean(), "found by the background check");
            assertEquals(1.0, values(http.get("/metrics").body()).get("engram_sessions{state=\"damaged\"}"));
            for (String id : List.of(ids.get(0), ids.get(2))) {
                assertTrue(!http.get("/v1/sessions/" + id).json().get("damaged").asBoolean(), id);
                Map<String, Object> ask = new LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", new int[] {1}, "max_tokens", 2,
                        "session", id));
                assertEquals(200, http.post("/v1/completions", ask).status(), "a healthy session answers");
            }
        } finally {
            SessionStore.verifyAtStartBytes = before;
        }
    }

    /** Every family has # HELP and # TYPE, and the session gauges count what the data dir and memory hold. */
    @Test
    void metricsDescribeEveryFamilyAndMatchTheState() throws Exception {
        Path model = TestModel.create(tmp.resolve("m"));
        Path data = tmp.resolve("data");
        List<String> ids = new ArrayList<>();
        try (Server a = Server.start(model, 0, data, ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(a.uri());
            for (int i = 0; i < 4; i++) {
                ids.add(http.post("/v1/sessions", "").json().get("id").asText());
                assertEquals(200, http.post("/v1/sessions/" + ids.get(i) + "/append", Map.of("tokens", new int[] {1, 2, 3})).status());
            }
            Map<String, Double> m = values(http.get("/metrics").body());
            assertEquals(4.0, m.get("engram_sessions{state=\"on_disk\"}"), "every session has its file, resident or not");
            assertEquals(4.0, m.get("engram_sessions{state=\"resident\"}"));
            assertEquals(0.0, m.get("engram_sessions{state=\"damaged\"}"));
            assertEquals(12.0, m.get("engram_tokens_total{kind=\"append\"}"));
        }
        Path sessions = data.resolve("sessions");
        Files.writeString(sessions.resolve("junk.session"), "not a session");
        byte[] b = Files.readAllBytes(sessions.resolve(ids.get(3) + ".session"));
        b[b.length - 9] ^= 1;
        Files.write(sessions.resolve(ids.get(3) + ".session"), b);
        try (Server server = Server.start(model, 0, data, ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(server.uri());
            String text = http.get("/metrics").body();
            Set<String> families = new TreeSet<>();
            Set<String> helped = new TreeSet<>();
            Set<String> typed = new TreeSet<>();
            for (String line : text.lines().toList()) {
                if (line.startsWith("# HELP ")) {
                    helped.add(line.split(" ")[2]);
                    assertTrue(line.split(" ", 4).length == 4 && !line.split(" ", 4)[3].isBlank(), line);
                } else if (line.startsWith("# TYPE ")) {
                    typed.add(line.split(" ")[2]);
                } else if (!line.isBlank()) {
                    families.add(line.split("[{ ]")[0].replaceAll("_(bucket|sum|count)$", ""));
                }
            }
            assertTrue(helped.containsAll(families), "every family described:\n" + text);
            assertEquals(helped, typed, "every family typed:\n" + text);
            Map<String, Double> m = values(text);
            assertEquals(4.0, m.get("engram_sessions{state=\"on_disk\"}"), text);
            assertEquals(0.0, m.get("engram_sessions{state=\"resident\"}"), "nothing is loaded before it is used");
            assertEquals(1.0, m.get("engram_sessions{state=\"damaged\"}"), text);
            assertEquals(1.0, m.get("engram_session_files_skipped"), text);
            assertEquals(0.0, m.get("engram_session_memory_bytes"), text);
            assertEquals(1.0, m.get("engram_ready"), text);
            Map<String, Object> ask = new LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", new int[] {1}, "max_tokens", 2,
                    "session", ids.get(0)));
            assertEquals(200, http.post("/v1/completions", ask).status());
            m = values(http.get("/metrics").body());
            assertEquals(1.0, m.get("engram_sessions{state=\"resident\"}"));
            long footprint = http.get("/v1/sessions/" + ids.get(0)).json().get("footprint_bytes").asLong();
            assertTrue(footprint > 0);
            assertEquals((double) footprint, m.get("engram_session_memory_bytes"), "the one resident session's footprint");
            assertEquals(1.0, m.get("engram_http_requests_total{method=\"POST\",route=\"/v1/completions\",status=\"200\"}"));
            assertEquals(2.0, m.get("engram_tokens_total{kind=\"completion\"}"));
            assertEquals(200, http.delete("/v1/sessions/" + ids.get(3)).status(), "a damaged session can be deleted");
            m = values(http.get("/metrics").body());
            assertEquals(3.0, m.get("engram_sessions{state=\"on_disk\"}"));
            assertEquals(0.0, m.get("engram_sessions{state=\"damaged\"}"));
        }
    }

    private static Map<String, Double> values(String metrics) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (String line : metrics.lines().toList()) {
            if (!line.startsWith("#") && !line.isBlank()) {
                int sp = line.lastIndexOf(' ');
                m.put(line.substring(0, sp), Double.parseDouble(line.substring(sp + 1)));
            }
        }
        return m;
    }
}
