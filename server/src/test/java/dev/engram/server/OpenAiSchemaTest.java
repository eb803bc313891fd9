package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** OpenAI's request fields beyond sampling, and a session named by the Engram-Session header. */
class OpenAiSchemaTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Server server;
    static Http http;

    @BeforeAll
    static void start() {
        model = TestModel.create(tmp);
        server = Server.start(model, 0, tmp.resolve("data"), ServeOptions.defaults().withAccessLog(false));
        http = new Http(server.uri());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static Map<String, Object> chat(Object... extra) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", "tiny-infini");
        m.put("messages", List.of(Map.of("role", "user", "content", "the key is")));
        m.put("max_tokens", 4);
        m.put("temperature", 0);
        for (int i = 0; i < extra.length; i += 2) {
            m.put((String) extra[i], extra[i + 1]);
        }
        return m;
    }

    @Test
    void theApiKeyVariableIsNotTakenForAMisspeltConfigOverride() {
        assertTrue(dev.engram.runtime.config.ConfigLoader.OTHER_ENGRAM_VARIABLES.contains(ServeOptions.API_KEY_ENV));
        assertEquals(List.of(), dev.engram.runtime.config.ConfigLoader.unmatchedOverrides(Map.of(ServeOptions.API_KEY_ENV, "k"), Map.of()));
    }

    @Test
    void fieldsThatCannotChangeTheAnswerAreAcceptedAndChangeNothing() {
        String plain = http.post("/v1/chat/completions", chat()).json().get("choices").get(0).get("message").get("content").asText();
        Http.Resp r = http.post("/v1/chat/completions", chat("store", false, "metadata", Map.of("k", "v"), "service_tier", "auto",
                "parallel_tool_calls", true, "response_format", Map.of("type", "text"), "modalities", List.of("text"),
                "tool_choice", "none", "prompt_cache_key", "abc", "safety_identifier", "u1", "user", "someone"));
        assertEquals(200, r.status(), r.body());
        assertEquals(plain, r.json().get("choices").get(0).get("message").get("content").asText());
        // Spring AI sends include_obfuscation whenever it asks for stream usage
        Http.Resp streamed = http.post("/v1/chat/completions", chat("stream", true,
                "stream_options", Map.of("include_usage", true, "include_obfuscation", false)));
        assertEquals(200, streamed.status(), streamed.body());
        assertTrue(streamed.body().contains("\"usage\""), streamed.body());
    }

    @Test
    void fieldsThatWouldChangeWhatWasAskedForAreRefusedNamingThem() {
        Object[][] cases = {
                {"tools", List.of(Map.of("type", "function", "function", Map.of("name", "f")))},
                {"tool_choice", "auto"},
                {"response_format", Map.of("type", "json_object")},
                {"modalities", List.of("text", "audio")},
                {"reasoning_effort", "high"},
                {"functions", List.of(Map.of("name", "f"))},
                {"metadata", "not an object"},
                {"store", "yes"},
                {"no_such_field", 1},
        };
        for (Object[] c : cases) {
            Http.Resp r = http.post("/v1/chat/completions", chat(c[0], c[1]));
            assertEquals(400, r.status(), c[0] + ": " + r.body());
            assertEquals(c[0], r.json().path("error").path("param").asText(), r.body());
        }
    }

    private static int[] tokenIds(Http.Resp r) {
        assertEquals(200, r.status(), r.body());
        com.fasterxml.jackson.databind.JsonNode ids = r.json().get("choices").get(0).get("token_ids");
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i).asInt();
        }
        return out;
    }

    @Test
    void logitBiasAndPenaltiesAreHonoured() {
        int[] plain = tokenIds(http.post("/v1/chat/completions", chat()));
        // +100 on one token makes it the argmax at every step (every logit of this model is far below 100 apart)
        int forced = plain[0] == 3 ? 4 : 3;
        int[] biased = tokenIds(http.post("/v1/chat/completions", chat("logit_bias", Map.of(String.valueOf(forced), 100))));
        assertArrayEquals(new int[] {forced, forced, forced, forced}, biased);
        // -100 on the plain answer's first token: it is never chosen first
        int[] banned = tokenIds(http.post("/v1/chat/completions", chat("logit_bias", Map.of(String.valueOf(plain[0]), -100))));
        assertTrue(banned[0] != plain[0], java.util.Arrays.toString(banned));
        // with the +100 bias, a frequency penalty of 2 cannot overturn it (100 - 2 * 3 > every rival) but zero
        // penalties change nothing: the request is accepted and the same as without them
        assertArrayEquals(plain, tokenIds(http.post("/v1/chat/completions", chat("presence_penalty", 0, "frequency_penalty", 0))));
        assertArrayEquals(biased, tokenIds(http.post("/v1/chat/completions", chat("logit_bias",
                Map.of(String.valueOf(forced), 100), "frequency_penalty", 2))));
        // a negative presence penalty raises a token once chosen: the forced repeat stays
        int[] once = tokenIds(http.post("/v1/chat/completions", chat("logit_bias", Map.of(String.valueOf(forced), 100),
                "presence_penalty", -2)));
        assertArrayEquals(biased, once);
        // a frequency penalty changes the greedy choice by OpenAI's formula: with every token's log-probability
        // returned (top_logprobs 16 = the whole vocabulary; the model's own, unpenalised), each chosen token must be the
        // argmax of log p - 2 x (times already chosen). 20 tokens from 16 force repeats, so the penalty has to bite.
        Http.Resp penalised = http.post("/v1/chat/completions", chat("max_tokens", 20, "frequency_penalty", 2,
                "logprobs", true, "top_logprobs", 16));
        assertEquals(200, penalised.status(), penalised.body());
        Map<String, Integer> times = new java.util.HashMap<>();
        int overturned = 0;
        for (com.fasterxml.jackson.databind.JsonNode step : penalised.json().get("choices").get(0).get("logprobs").get("content")) {
            assertEquals(16, step.get("top_logprobs").size(), "the whole vocabulary: " + step);
            String best = null;
            double bestScore = Double.NEGATIVE_INFINITY;
            for (com.fasterxml.jackson.databind.JsonNode alt : step.get("top_logprobs")) {
                double score = alt.get("logprob").asDouble() - 2.0 * times.getOrDefault(alt.get("token").asText(), 0);
                if (score > bestScore) {
                    bestScore = score;
                    best = alt.get("token").asText();
                }
            }
            String token = step.get("token").asText();
            assertEquals(best, token, "the penalised argmax at " + step);
            overturned += token.equals(step.get("top_logprobs").get(0).get("token").asText()) ? 0 : 1;
            times.merge(token, 1, Integer::sum);
        }
        assertTrue(overturned > 0, "the penalty never changed a choice: the check would pass without it");
        Object[][] bad = {
                {"logit_bias", Map.of("x", 1)}, {"logit_bias", Map.of("999999", 1)}, {"logit_bias", Map.of("1", 101)},
                {"logit_bias", List.of(1)}, {"presence_penalty", 2.5}, {"frequency_penalty", -3},
        };
        for (Object[] c : bad) {
            Http.Resp r = http.post("/v1/chat/completions", chat(c[0], c[1]));
            assertEquals(400, r.status(), c[0] + ": " + r.body());
            assertEquals(c[0], r.json().path("error").path("param").asText(), r.body());
        }
    }

    private static Http.Resp postWithSession(Map<String, Object> body, String session) throws Exception {
        HttpRequest.Builder b = http.builder("/v1/completions").header("Content-Type", "application/json")
                .header(Server.SESSION_HEADER, session)
                .POST(HttpRequest.BodyPublishers.ofString(Requests.MAPPER.writeValueAsString(body)));
        return http.send(b);
    }

    @Test
    void aSessionNamedByTheHeaderIsUsedAsTheBodyFieldWouldBe() throws Exception {
        String id = http.post("/v1/sessions", "").json().get("id").asText();
        Http.Resp append = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9}));
        assertEquals(200, append.status(), append.body());
        Map<String, Object> q = new LinkedHashMap<>(Map.of("model", "tiny-infini", "prompt", new int[] {6}, "max_tokens", 3,
                "temperature", 0));
        Http.Resp viaHeader = postWithSession(q, id);
        assertEquals(200, viaHeader.status(), viaHeader.body());
        q.put("session", id);
        Http.Resp viaBody = http.post("/v1/completions", q);
        assertArrayEquals(Http.ints(viaBody.json().get("choices").get(0).get("token_ids")),
                Http.ints(viaHeader.json().get("choices").get(0).get("token_ids")));
        assertEquals(id, viaHeader.json().get("session").asText());
        Http.Resp same = postWithSession(q, id);
        assertEquals(200, same.status(), "the same id in both is fine");
        q.put("session", "sess_other");
        Http.Resp differ = postWithSession(q, id);
        assertEquals(400, differ.status(), differ.body());
        assertEquals("session", differ.json().path("error").path("param").asText());
        q.remove("session");
        Http.Resp unknown = postWithSession(q, "sess_doesnotexist");
        assertEquals(404, unknown.status(), unknown.body());
    }
}
