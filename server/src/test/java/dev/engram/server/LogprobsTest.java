package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** logprobs and echo, checked against log-probabilities computed here from the engine's own logits. */
class LogprobsTest {
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

    /** log p(prompt[i] | prompt[..i]) for i >= 1, from the runtime's logits, log-softmax in double. */
    private static double[] expected(int[] prompt) {
        try (Engine e = new EngineLoader().systemOverrides(false).load(model)) {
            float[][] rows = e.ingestAll(List.of(e.newSequence()), List.of(prompt)).get(0);
            double[] out = new double[prompt.length];
            out[0] = Double.NaN;
            for (int i = 1; i < prompt.length; i++) {
                float[] x = rows[i - 1];
                double max = Double.NEGATIVE_INFINITY;
                for (float v : x) {
                    max = Math.max(max, v);
                }
                double sum = 0;
                for (float v : x) {
                    sum += Math.exp(v - max);
                }
                out[i] = x[prompt[i]] - max - Math.log(sum);
            }
            return out;
        }
    }

    @Test
    void echoScoresThePromptAsTheEngineDoes() {
        int[] prompt = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}; // more than one segment of the tiny model
        Http.Resp r = http.post("/v1/completions", Map.of("model", "tiny-infini", "prompt", prompt, "max_tokens", 0,
                "echo", true, "logprobs", 3));
        assertEquals(200, r.status(), r.body());
        JsonNode lp = r.json().get("choices").get(0).get("logprobs");
        double[] want = expected(prompt);
        assertEquals(prompt.length, lp.get("token_logprobs").size());
        assertTrue(lp.get("token_logprobs").get(0).isNull(), "nothing predicts the first token");
        assertTrue(lp.get("top_logprobs").get(0).isNull());
        for (int i = 1; i < prompt.length; i++) {
            assertEquals(want[i], lp.get("token_logprobs").get(i).asDouble(), 1e-9, "prompt token " + i);
            assertEquals(3, lp.get("top_logprobs").get(i).size(), "three alternatives at " + i);
        }
        assertEquals(prompt.length, lp.get("tokens").size());
        assertEquals(0, lp.get("text_offset").get(0).asInt());
        assertEquals(0, r.json().get("usage").get("completion_tokens").asInt());
    }

    @Test
    void greedyTokensAreTheirDistributionsMostLikelyAndTheTopListIsSorted() {
        Http.Resp r = http.post("/v1/completions", Map.of("model", "tiny-infini", "prompt", new int[] {1, 2, 3}, "max_tokens", 5,
                "temperature", 0, "logprobs", 4));
        assertEquals(200, r.status(), r.body());
        JsonNode lp = r.json().get("choices").get(0).get("logprobs");
        assertEquals(5, lp.get("token_logprobs").size());
        for (int i = 0; i < 5; i++) {
            double chosen = lp.get("token_logprobs").get(i).asDouble();
            double previous = Double.POSITIVE_INFINITY;
            double mass = 0;
            for (Iterator<JsonNode> it = lp.get("top_logprobs").get(i).elements(); it.hasNext(); ) {
                double v = it.next().asDouble();
                assertTrue(v <= previous, "most likely first");
                previous = v;
                mass += Math.exp(v);
            }
            double best = lp.get("top_logprobs").get(i).elements().next().asDouble();
            assertEquals(best, chosen, 1e-12, "greedy picks the most likely token at " + i);
            assertTrue(chosen <= 0 && mass <= 1 + 1e-9, "log-probabilities: " + lp.get("top_logprobs").get(i));
        }
        // without echo the text is the completion only; with echo it starts with the prompt's text
        String plain = r.json().get("choices").get(0).get("text").asText();
        Http.Resp echoed = http.post("/v1/completions", Map.of("model", "tiny-infini", "prompt", new int[] {1, 2, 3},
                "max_tokens", 5, "temperature", 0, "echo", true));
        assertTrue(echoed.json().get("choices").get(0).get("text").asText().endsWith(plain), echoed.body());
        assertTrue(echoed.json().get("choices").get(0).get("logprobs").isNull(), "no logprobs unless asked");
    }

    @Test
    void chatLogprobsHaveOpenAisShape() {
        Map<String, Object> body = Map.of("model", "tiny-infini", "messages", List.of(Map.of("role", "user", "content", "the key is")),
                "max_tokens", 3, "temperature", 0, "logprobs", true, "top_logprobs", 2);
        Http.Resp r = http.post("/v1/chat/completions", body);
        assertEquals(200, r.status(), r.body());
        JsonNode content = r.json().get("choices").get(0).get("logprobs").get("content");
        assertEquals(3, content.size(), r.body());
        for (JsonNode t : content) {
            assertTrue(t.get("token").isTextual() && t.get("logprob").asDouble() <= 0 && t.get("bytes").isArray(), t.toString());
            assertEquals(2, t.get("top_logprobs").size());
            assertEquals(t.get("logprob").asDouble(), t.get("top_logprobs").get(0).get("logprob").asDouble(), 1e-12);
        }
    }

    /** The streamed chunks' texts and log-probability lists, joined (legacy completions' four lists, or chat's content). */
    private static JsonNode joinedStream(String path, Map<String, Object> body, boolean chat) throws Exception {
        Map<String, Object> streamed = new java.util.HashMap<>(body);
        streamed.put("stream", true);
        Http.Resp r = http.post(path, streamed);
        assertEquals(200, r.status(), r.body());
        com.fasterxml.jackson.databind.node.ObjectNode joined = Http.JSON.createObjectNode();
        StringBuilder text = new StringBuilder();
        com.fasterxml.jackson.databind.node.ObjectNode lists = joined.putObject("logprobs");
        for (String data : r.events()) {
            if (data.equals("[DONE]")) {
                continue;
            }
            JsonNode choice = Http.JSON.readTree(data).get("choices").get(0);
            text.append(chat ? choice.get("delta").path("content").asText("") : choice.get("text").asText());
            JsonNode lp = choice.get("logprobs");
            if (lp.isNull()) {
                continue;
            }
            for (String f : chat ? List.of("content") : List.of("tokens", "token_logprobs", "top_logprobs", "text_offset")) {
                (lists.has(f) ? (com.fasterxml.jackson.databind.node.ArrayNode) lists.get(f) : lists.putArray(f)).addAll(
                        (com.fasterxml.jackson.databind.node.ArrayNode) lp.get(f));
            }
        }
        joined.put("text", text.toString());
        return joined;
    }

    @Test
    void streamedLogprobsJoinedAreTheWholeAnswers() throws Exception {
        Map<String, Object> plain = Map.of("model", "tiny-infini", "prompt", new int[] {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5},
                "max_tokens", 8, "temperature", 0, "logprobs", 3, "echo", true);
        String whole = http.post("/v1/completions", plain).json().get("choices").get(0).get("text").asText();
        // a stop string from the middle of the greedy answer: the tokens it cuts still get their scores sent
        String generated = whole.substring(whole.length() - 8 / 2);
        Map<String, Object> stopped = new java.util.HashMap<>(plain);
        stopped.put("stop", generated.substring(1, 2));
        Map<String, Object> noEcho = new java.util.HashMap<>(plain);
        noEcho.put("echo", false);
        for (Map<String, Object> body : List.of(plain, stopped, noEcho)) {
            JsonNode once = http.post("/v1/completions", body).json().get("choices").get(0);
            JsonNode joined = joinedStream("/v1/completions", body, false);
            assertEquals(once.get("text").asText(), joined.get("text").asText(), body.toString());
            assertEquals(once.get("logprobs"), joined.get("logprobs"), body.toString());
            assertEquals(body == stopped ? "stop" : "length", once.get("finish_reason").asText(), body.toString());
        }
        Map<String, Object> chat = Map.of("model", "tiny-infini", "messages", List.of(Map.of("role", "user", "content", "the key is")),
                "max_tokens", 6, "temperature", 0, "logprobs", true, "top_logprobs", 2);
        JsonNode once = http.post("/v1/chat/completions", chat).json().get("choices").get(0);
        JsonNode joined = joinedStream("/v1/chat/completions", chat, true);
        assertEquals(once.get("message").get("content").asText(), joined.get("text").asText());
        assertEquals(once.get("logprobs").get("content"), joined.get("logprobs").get("content"));
        assertEquals(6, joined.get("logprobs").get("content").size());
    }

    @Test
    void badRequestsNameTheField() {
        Object[][] cases = {
                {"/v1/completions", Map.of("model", "tiny-infini", "prompt", "x", "logprobs", 6), "logprobs"},
                {"/v1/chat/completions", Map.of("model", "tiny-infini", "messages", List.of(Map.of("role", "user", "content", "x")),
                        "top_logprobs", 2), "top_logprobs"},
                {"/v1/chat/completions", Map.of("model", "tiny-infini", "messages", List.of(Map.of("role", "user", "content", "x")),
                        "logprobs", true, "top_logprobs", 21), "top_logprobs"},
        };
        for (Object[] c : cases) {
            Http.Resp r = http.post((String) c[0], c[1]);
            assertEquals(400, r.status(), r.body());
            assertEquals(c[2], r.json().path("error").path("param").asText(), r.body());
        }
    }
}
