package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A package with a tokenizer.json: text in and out goes through it (ids derived here by hand from the word list). */
class TokenizerServerTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Server server;
    static Http http;

    @BeforeAll
    static void start() {
        model = TestModel.withTokenizer(tmp);
        server = Server.start(model, 0, tmp.resolve("data"), ServeOptions.defaults().withAccessLog(false));
        http = new Http(server.uri());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String words(int[] ids) {
        return Arrays.stream(ids).mapToObj(i -> TestModel.WORDS[i]).collect(Collectors.joining(" "));
    }

    static Map<String, Object> req(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>(Map.of("model", "tiny-infini", "temperature", 0, "max_tokens", 6));
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void textIsTokenizedAndDecodedWithThePackagesTokenizer() {
        assertFalse(http.get("/v1/models").json().get("data").get(0).get("tokenizer").asText().startsWith("byte"));
        // "the"=10 "key"=11 "is"=12 "3" "1" "4" "."=14 "banana"=<unk>=15
        int[] ids = {10, 11, 12, 3, 1, 4, 14, 15};
        Http.Resp r = http.post("/v1/completions", req("prompt", "the key is 3 1 4 . banana"));
        assertEquals(200, r.status(), r.body());
        JsonNode choice = r.json().get("choices").get(0);
        int[] expected = TestModel.greedy(model, 6, ids);
        assertArrayEquals(expected, Http.ints(choice.get("token_ids")));
        assertEquals(words(expected), choice.get("text").asText());
        assertEquals(ids.length, r.json().get("usage").get("prompt_tokens").asInt());
    }

    @Test
    void sessionTextAppendsAndPromptsUseTheTokenizerToo() {
        String id = http.post("/v1/sessions", "").json().get("id").asText();
        assertEquals(200, http.post("/v1/sessions/" + id + "/append", Map.of("text", "the key is 7 7 2 . the the the")).status());
        int[] context = {10, 11, 12, 7, 7, 2, 14, 10, 10, 10};
        assertEquals(context.length, http.get("/v1/sessions/" + id).json().get("tokens").asInt());
        Http.Resp r = http.post("/v1/completions", req("prompt", "what is the key", "session", id));
        assertEquals(200, r.status(), r.body());
        assertArrayEquals(TestModel.greedy(model, 6, new int[] {13, 12, 10, 11}, context),
                Http.ints(r.json().get("choices").get(0).get("token_ids")));
    }
}
