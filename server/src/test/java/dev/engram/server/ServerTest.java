package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP API against a real server on an ephemeral loopback port, with java.net.http.HttpClient. */
class ServerTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Server server;
    static Http http;
    static final String MODEL = "tiny-infini";

    @BeforeAll
    static void start() {
        model = TestModel.create(tmp);
        server = Server.start(model, 0, tmp.resolve("data"), ServeOptions.defaults().withAccessLog(false)
                .withMaxBodyBytes(64 * 1024).withMaxTokens(64, 8));
        http = new Http(server.uri());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static Map<String, Object> req(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", MODEL);
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static String createSession() {
        Http.Resp r = http.post("/v1/sessions", "");
        assertEquals(200, r.status(), r.body());
        return r.json().get("id").asText();
    }

    @Test
    void healthReadyModels() {
        assertEquals(200, http.get("/health").status());
        assertEquals("ready", http.get("/ready").json().get("status").asText());
        JsonNode models = http.get("/v1/models").json();
        assertEquals("list", models.get("object").asText());
        assertEquals(MODEL, models.get("data").get(0).get("id").asText());
        assertEquals(16, models.get("data").get(0).get("vocab_size").asInt());
        assertEquals(200, http.get("/v1/models/" + MODEL).status());
        assertEquals(404, http.get("/v1/models/gpt-4").status());
    }

    @Test
    void greedyCompletionFromTokenIdsMatchesTheRuntime() {
        int[] prompt = {1, 5, 9, 2, 14, 3, 7};
        Http.Resp r = http.post("/v1/completions", req("prompt", prompt, "max_tokens", 10, "temperature", 0));
        assertEquals(200, r.status(), r.body());
        JsonNode j = r.json();
        assertEquals("text_completion", j.get("object").asText());
        assertTrue(j.get("id").asText().startsWith("cmpl-"));
        assertEquals(MODEL, j.get("model").asText());
        JsonNode choice = j.get("choices").get(0);
        int[] expected = TestModel.greedy(model, 10, prompt);
        assertArrayEquals(expected, Http.ints(choice.get("token_ids")));
        assertEquals("length", choice.get("finish_reason").asText());
        assertEquals(new dev.engram.runtime.text.ByteTokenizer(16).decode(expected), choice.get("text").asText());
        assertEquals(7, j.get("usage").get("prompt_tokens").asInt());
        assertEquals(10, j.get("usage").get("completion_tokens").asInt());
        assertEquals(17, j.get("usage").get("total_tokens").asInt());
    }

    @Test
    void textPromptUsesTheDocumentedByteFallback() {
        String text = "Hello, Engram é!";
        Http.Resp r = http.post("/v1/completions", req("prompt", List.of(text), "max_tokens", 6, "temperature", 0));
        assertEquals(200, r.status(), r.body());
        int[] expected = TestModel.greedy(model, 6, TestModel.bytesModVocab(text));
        assertArrayEquals(expected, Http.ints(r.json().get("choices").get(0).get("token_ids")));
        assertEquals(text.getBytes(StandardCharsets.UTF_8).length, r.json().get("usage").get("prompt_tokens").asInt());
    }

    @Test
    void streamingEqualsNonStreaming() throws Exception {
        Map<String, Object> body = req("prompt", new int[] {3, 1, 4, 1, 5}, "max_tokens", 12, "temperature", 0);
        String full = http.post("/v1/completions", body).json().get("choices").get(0).get("text").asText();
        body.put("stream", true);
        body.put("stream_options", Map.of("include_usage", true));
        Http.Resp r = http.post("/v1/completions", body);
        assertEquals(200, r.status(), r.body());
        assertTrue(r.headers().firstValue("content-type").orElseThrow().startsWith("text/event-stream"));
        List<String> events = r.events();
        assertEquals("[DONE]", events.get(events.size() - 1));
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode j = Http.JSON.readTree(e);
            assertEquals("text_completion", j.get("object").asText());
            if (j.get("choices").isEmpty()) {
                usage = j.get("usage");
                continue;
            }
            JsonNode c = j.get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asText();
            }
        }
        assertEquals(full, text.toString());
        assertEquals("length", finish);
        assertNotNull(usage);
        assertEquals(12, usage.get("completion_tokens").asInt());
    }

    @Test
    void chatCompletionAndChatStreaming() throws Exception {
        Map<String, Object> body = req("messages", List.of(Map.of("role", "system", "content", "be brief"),
                Map.of("role", "user", "content", "hi")), "max_tokens", 5, "temperature", 0);
        Http.Resp r = http.post("/v1/chat/completions", body);
        assertEquals(200, r.status(), r.body());
        JsonNode j = r.json();
        assertEquals("chat.completion", j.get("object").asText());
        JsonNode msg = j.get("choices").get(0).get("message");
        assertEquals("assistant", msg.get("role").asText());
        int[] expected = TestModel.greedy(model, 5, TestModel.bytesModVocab("system: be brief\nuser: hi\nassistant: "));
        assertArrayEquals(expected, Http.ints(j.get("choices").get(0).get("token_ids")));
        body.put("stream", true);
        List<String> events = http.post("/v1/chat/completions", body).events();
        JsonNode first = Http.JSON.readTree(events.get(0));
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("assistant", first.get("choices").get(0).get("delta").get("role").asText());
        StringBuilder text = new StringBuilder();
        for (String e : events.subList(1, events.size() - 1)) {
            JsonNode d = Http.JSON.readTree(e).get("choices").get(0).get("delta");
            if (d.has("content")) {
                text.append(d.get("content").asText());
            }
        }
        assertEquals(msg.get("content").asText(), text.toString());
        assertEquals("[DONE]", events.get(events.size() - 1));
    }

    @Test
    void stopSequenceEndsTheTextBeforeIt() {
        int[] prompt = {2, 7, 1, 8, 2, 8};
        // the uncut text from the runtime itself, decoded with the documented byte fallback
        int[] greedy = TestModel.greedy(model, 20, prompt);
        String full = new dev.engram.runtime.text.ByteTokenizer(16).decode(greedy);
        String stop = full.substring(4, 5);
        JsonNode c = http.post("/v1/completions", req("prompt", prompt, "max_tokens", 20, "temperature", 0, "stop", List.of(stop)))
                .json().get("choices").get(0);
        assertEquals(full.substring(0, full.indexOf(stop)), c.get("text").asText());
        assertEquals("stop", c.get("finish_reason").asText());
        // One byte token per character: token_ids run up to and including the token that completed the stop string
        // (the session, with session_append, consumes exactly these).
        int[] ids = new int[c.get("token_ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = c.get("token_ids").get(i).asInt();
        }
        assertArrayEquals(java.util.Arrays.copyOf(greedy, full.indexOf(stop) + 1), ids);
    }

    @Test
    void seededSamplingIsReproducible() {
        Map<String, Object> body = req("prompt", new int[] {4, 4, 4}, "max_tokens", 16, "temperature", 1.0, "seed", 42);
        JsonNode a = http.post("/v1/completions", body).json().get("choices").get(0).get("token_ids");
        JsonNode b = http.post("/v1/completions", body).json().get("choices").get(0).get("token_ids");
        assertEquals(a, b);
        // the server passes seed and temperature through: the runtime sampling with them gives the same ids...
        assertArrayEquals(TestModel.sampled(model, 16, new int[] {4, 4, 4}, 1.0, 42), Http.ints(a));
        // ...and another seed other ids (so an ignored seed would be caught)
        body.put("seed", 43);
        assertFalse(a.equals(http.post("/v1/completions", body).json().get("choices").get(0).get("token_ids")));
    }

    @Test
    void sessionsRememberAppendedTextAndQueriesDoNotChangeThem() {
        String id = createSession();
        JsonNode s = http.get("/v1/sessions/" + id).json();
        assertEquals(0, s.get("tokens").asInt());
        assertTrue(s.get("strategy").get("layers").get(1).get("memory").asText().startsWith("infini"));
        String doc = "The passkey is 7391. Remember it. ".repeat(5);
        Http.Resp a = http.post("/v1/sessions/" + id + "/append", Map.of("text", doc));
        assertEquals(200, a.status(), a.body());
        int n = doc.getBytes(StandardCharsets.UTF_8).length;
        assertEquals(n, a.json().get("appended_tokens").asInt());
        s = http.get("/v1/sessions/" + id).json();
        assertEquals(n, s.get("tokens").asInt());
        assertTrue(s.get("footprint_bytes").asLong() > 0);

        int[] prompt = TestModel.bytesModVocab("The passkey is");
        Map<String, Object> q = req("prompt", "The passkey is", "max_tokens", 8, "temperature", 0, "session", id);
        JsonNode c1 = http.post("/v1/completions", q).json();
        int[] expected = TestModel.greedy(model, 8, prompt, TestModel.bytesModVocab(doc));
        assertArrayEquals(expected, Http.ints(c1.get("choices").get(0).get("token_ids")));
        assertEquals(id, c1.get("session").asText());
        // Querying does not change the session: the same answer again, tokens unchanged.
        assertEquals(c1.get("choices"), http.post("/v1/completions", q).json().get("choices"));
        assertEquals(n, http.get("/v1/sessions/" + id).json().get("tokens").asInt());
        // Without the session the answer is the plain prompt's.
        Map<String, Object> plain = req("prompt", "The passkey is", "max_tokens", 8, "temperature", 0);
        assertArrayEquals(TestModel.greedy(model, 8, prompt),
                Http.ints(http.post("/v1/completions", plain).json().get("choices").get(0).get("token_ids")));
        // session_append keeps prompt and output in the session.
        q.put("session_append", true);
        JsonNode c2 = http.post("/v1/completions", q).json();
        assertEquals(c1.get("choices").get(0).get("token_ids"), c2.get("choices").get(0).get("token_ids"));
        assertEquals(n + prompt.length + 8, http.get("/v1/sessions/" + id).json().get("tokens").asInt());

        assertEquals(200, http.delete("/v1/sessions/" + id).status());
        assertEquals(404, http.get("/v1/sessions/" + id).status());
        assertEquals("session", http.post("/v1/completions", req("prompt", "x", "session", id)).errorParam());
    }

    @Test
    void appendInPiecesEqualsOneAppendAndStreamsProgress() throws Exception {
        String doc = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(20);
        String one = createSession();
        String pieces = createSession();
        assertEquals(200, http.post("/v1/sessions/" + one + "/append", Map.of("text", doc)).status());
        int cut1 = 7;
        int cut2 = 301;
        assertEquals(200, http.postRaw("/v1/sessions/" + pieces + "/append", doc.substring(0, cut1).getBytes(StandardCharsets.UTF_8),
                "text/plain; charset=utf-8").status());
        assertEquals(200, http.post("/v1/sessions/" + pieces + "/append",
                Map.of("tokens", TestModel.bytesModVocab(doc.substring(cut1, cut2)))).status());
        Http.Resp streamed = http.post("/v1/sessions/" + pieces + "/append", Map.of("text", doc.substring(cut2), "stream", true));
        assertEquals(200, streamed.status(), streamed.body());
        List<String> events = streamed.events();
        assertEquals("[DONE]", events.get(events.size() - 1));
        JsonNode progress = Http.JSON.readTree(events.get(events.size() - 3));
        assertEquals("session.append.progress", progress.get("object").asText());
        assertEquals(doc.length() - cut2, progress.get("tokens_done").asInt());
        assertEquals(doc.length(), Http.JSON.readTree(events.get(events.size() - 2)).get("tokens").asInt());
        for (String id : List.of(one, pieces)) {
            assertEquals(doc.length(), http.get("/v1/sessions/" + id).json().get("tokens").asInt());
        }
        Map<String, Object> q = req("prompt", new int[] {1, 2, 3}, "max_tokens", 12, "temperature", 0);
        q.put("session", one);
        JsonNode a = http.post("/v1/completions", q).json().get("choices").get(0).get("token_ids");
        q.put("session", pieces);
        JsonNode b = http.post("/v1/completions", q).json().get("choices").get(0).get("token_ids");
        assertEquals(a, b);
    }

    @Test
    void sessionStrategyOverrideLoadsItsOwnEngine() {
        Http.Resp r = http.post("/v1/sessions", Map.of("strategy", Map.of("layers.default.attention.window", 2)));
        assertEquals(200, r.status(), r.body());
        String id = r.json().get("id").asText();
        String attention = http.get("/v1/sessions/" + id).json().get("strategy").get("layers").get(0).get("attention").asText();
        assertTrue(attention.contains("window=2"), attention);
        assertEquals(200, http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {1, 2, 3, 4, 5})).status());
        Http.Resp c = http.post("/v1/completions", req("prompt", new int[] {6}, "max_tokens", 3, "session", id));
        assertEquals(200, c.status(), c.body());
        // A strategy the package cannot run (no weights for infini on layer 0) is a 400 naming 'strategy'.
        Http.Resp bad = http.post("/v1/sessions", Map.of("strategy", Map.of("layers.0.memory", "infini")));
        assertEquals(400, bad.status(), bad.body());
        assertEquals("strategy", bad.errorParam());
        assertTrue(bad.json().get("error").get("message").asText().contains("beta"), bad.body());
    }

    /** Requests for a strategy being loaded wait for that one load: one engine, every request answered. */
    @Test
    void concurrentFirstRequestsForANewStrategyShareOneLoad() throws Exception {
        Map<String, Object> body = Map.of("strategy", Map.of("layers.default.attention.window", 3));
        int loadsBefore = server.engineLoads();
        var pool = java.util.concurrent.Executors.newFixedThreadPool(4);
        try {
            List<java.util.concurrent.Future<Http.Resp>> answers = new java.util.ArrayList<>();
            for (int i = 0; i < 4; i++) {
                answers.add(pool.submit(() -> http.post("/v1/sessions", body)));
            }
            for (var a : answers) {
                Http.Resp r = a.get();
                assertEquals(200, r.status(), r.body());
            }
        } finally {
            pool.shutdown();
        }
        String metrics = http.get("/metrics").body();
        long engines = metrics.lines().filter(l -> l.startsWith("engram_queue_depth{") && l.contains("window=3")).count();
        assertEquals(1, engines, metrics);
        assertEquals(1, server.engineLoads() - loadsBefore, "one load for the four requests");
    }

    @Test
    void malformedRequestsGetA4xxNamingTheFieldAndTouchNoOtherSession() {
        String victim = createSession();
        assertEquals(200, http.post("/v1/sessions/" + victim + "/append", Map.of("text", "keep me intact")).status());
        Map<String, Object> q = req("prompt", new int[] {9, 9}, "max_tokens", 6, "temperature", 0, "session", victim);
        JsonNode before = http.post("/v1/completions", q).json().get("choices");

        String big = "x".repeat(70 * 1024);
        Object[][] cases = {
            {"/v1/completions", "{not json", 400, null},
            {"/v1/completions", "[1,2]", 400, null},
            {"/v1/completions", "", 400, null},
            {"/v1/completions", "{\"prompt\": \"hi\"}", 400, "model"},
            {"/v1/completions", "{\"model\": \"gpt-4\", \"prompt\": \"hi\"}", 404, "model"},
            {"/v1/completions", "{\"model\": \"tiny-infini\"}", 400, "prompt"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": 5}", 400, "prompt"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": [1, 16]}", 400, "prompt[1]"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": [1, -1]}", 400, "prompt[1]"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": [1, 2.5]}", 400, "prompt[1]"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": []}", 400, "prompt"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"\"}", 400, "prompt"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": [\"a\", \"b\"]}", 400, "prompt"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"max_tokens\": 65}", 400, "max_tokens"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"max_tokens\": -1}", 400, "max_tokens"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"max_tokens\": \"5\"}", 400, "max_tokens"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"temperature\": -1}", 400, "temperature"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"top_p\": 0}", 400, "top_p"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"n\": 2}", 400, "n"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"stream\": \"yes\"}", 400, "stream"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"seed\": \"x\"}", 400, "seed"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"bogus\": 1}", 400, "bogus"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"model\": \"x\"}", 400, null},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"session\": \"../../etc\"}", 400, "session"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"session\": \"sess_nope\"}", 404, "session"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\", \"session_append\": true}", 400, "session_append"},
            {"/v1/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"" + big + "\"}", 413, null},
            {"/v1/chat/completions", "{\"model\": \"tiny-infini\", \"messages\": []}", 400, "messages"},
            {"/v1/chat/completions", "{\"model\": \"tiny-infini\", \"messages\": [{\"content\": \"x\"}]}", 400, "messages[0].role"},
            {"/v1/chat/completions", "{\"model\": \"tiny-infini\", \"messages\": [{\"role\": \"user\"}]}", 400, "messages[0].content"},
            {"/v1/chat/completions", "{\"model\": \"tiny-infini\", \"prompt\": \"hi\"}", 400, "prompt"},
            {"/v1/sessions", "{\"strategy\": {\"device\": \"cuda\"}}", 400, "strategy.device"},
            {"/v1/sessions", "{\"strategy\": 3}", 400, "strategy"},
            {"/v1/sessions", "{\"other\": 3}", 400, "other"},
            {"/v1/sessions/" + victim + "/append", "{\"text\": 3}", 400, "text"},
            {"/v1/sessions/" + victim + "/append", "{\"tokens\": [1, 99]}", 400, "tokens[1]"},
            {"/v1/sessions/" + victim + "/append", "{\"text\": \"a\", \"tokens\": [1]}", 400, "tokens"},
            {"/v1/sessions/" + victim + "/append", "{\"text\": \"\"}", 400, "text"},
            {"/v1/sessions/sess_unknown/append", "{\"text\": \"a\"}", 404, "id"},
        };
        List<String> failures = new ArrayList<>();
        for (Object[] c : cases) {
            Http.Resp r = http.post((String) c[0], c[1]);
            int status = (Integer) c[2];
            String param = (String) c[3];
            String where = c[0] + " " + (c[1].toString().length() > 80 ? c[1].toString().substring(0, 80) : c[1]) + " -> " + r.status()
                    + " " + (r.body().length() > 300 ? r.body().substring(0, 300) : r.body());
            try {
                JsonNode err = r.json().get("error");
                if (r.status() != status || err == null || !err.get("message").isTextual() || !err.get("type").isTextual()
                        || !java.util.Objects.equals(param, r.errorParam())) {
                    failures.add(where);
                }
            } catch (AssertionError e) {
                failures.add(where);
            }
        }
        assertEquals(List.of(), failures);
        assertEquals(405, http.send("PUT", "/v1/completions", "{}").status());
        assertEquals(404, http.get("/v2/anything").status());
        Http.Resp traversal = http.get("/v1/sessions/..%2F..%2Fetc");
        assertTrue(traversal.status() == 400 || traversal.status() == 404, traversal.body());
        assertTrue(traversal.json().get("error").get("message").isTextual(), traversal.body());
        assertEquals(200, http.get("/health").status());
        // The victim session is exactly as before.
        assertEquals("keep me intact".length(), http.get("/v1/sessions/" + victim).json().get("tokens").asInt());
        assertEquals(before, http.post("/v1/completions", q).json().get("choices"));
    }

    /** A body over the limit is answered 413 with the JSON error every time, not a connection reset mid-upload. */
    @Test
    void anOversizedBodyGets413EveryTime() {
        String huge = "{\"model\": \"tiny-infini\", \"prompt\": \"" + "y".repeat(1 << 20) + "\"}";
        for (int i = 0; i < 20; i++) {
            Http.Resp r = http.post("/v1/completions", huge);
            assertEquals(413, r.status(), r.body());
            assertEquals("request_too_large", r.json().get("error").get("code").asText());
        }
        assertEquals(200, http.get("/health").status());
    }

    @Test
    void metricsInPrometheusTextFormat() {
        http.post("/v1/completions", req("prompt", new int[] {1, 2}, "max_tokens", 3, "temperature", 0));
        createSession();
        String m = http.get("/metrics").body();
        for (String family : List.of("# TYPE engram_http_requests_total counter", "# TYPE engram_http_request_duration_seconds histogram",
                "engram_http_request_duration_seconds_bucket{route=\"/v1/completions\",le=\"+Inf\"}",
                "engram_tokens_total{kind=\"completion\"}", "engram_queue_depth{strategy=\"default\"}", "engram_batch_size{strategy=\"default\"} 0", "engram_sessions{state=\"resident\"}",
                "engram_session_memory_bytes", "engram_jvm_memory_bytes{area=\"heap_used\"}")) {
            assertTrue(m.contains(family), family + " missing from\n" + m);
        }
        assertTrue(m.contains("engram_http_requests_total{method=\"POST\",route=\"/v1/completions\",status=\"200\"}"), m);
        assertFalse(m.contains("sess_"), "session ids must not become label values");
    }
}
