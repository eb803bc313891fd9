package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model with learned absolute positions (the bundled duplication model: 1,024 of them) has a last position; a
 * request that would pass it is refused before any work, naming the field that asked for too much, and a session
 * is left exactly as it was.
 */
class LearnedPositionsTest {
    static final Path DUP_FULL = Path.of("../models/dup-full");
    static final int LAST_POSITION = 1023;

    @TempDir
    static Path tmp;
    static Server server;
    static Http http;
    static String model;

    @BeforeAll
    static void start() {
        server = Server.start(DUP_FULL, 0, tmp.resolve("data"), ServeOptions.defaults().withAccessLog(false)
                .withMaxTokens(64, 8));
        http = new Http(server.uri());
        model = http.get("/v1/models").json().get("data").get(0).get("id").asText();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static int[] filler(int n) {
        int[] ids = new int[n];
        Arrays.fill(ids, 3);
        return ids;
    }

    Http.Resp complete(int promptTokens, int maxTokens) {
        return http.post("/v1/completions", Map.of("model", model, "prompt", filler(promptTokens), "max_tokens", maxTokens,
                "temperature", 0));
    }

    @Test
    void aPromptThatFitsButAsksForTooManyTokensBlamesMaxTokens() {
        assertEquals(200, complete(1000, 24).status(), "positions 0..1023: exactly enough");
        Http.Resp past = complete(1000, 25);
        assertEquals(400, past.status(), past.body());
        assertEquals("max_tokens", past.errorParam(), past.body());
        assertTrue(past.body().contains("last learned position " + LAST_POSITION), past.body());
    }

    @Test
    void aPromptTooLongOnItsOwnBlamesThePrompt() {
        Http.Resp past = complete(1025, 1);
        assertEquals(400, past.status(), past.body());
        assertEquals("prompt", past.errorParam(), past.body());
    }

    @Test
    void anAppendPastTheLastPositionIsRefusedAndTheSessionKeepsItsTokens() {
        String id = http.post("/v1/sessions", "").json().get("id").asText();
        Http.Resp first = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", filler(1000)));
        assertEquals(200, first.status(), first.body());
        Http.Resp past = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", filler(25)));
        assertEquals(400, past.status(), past.body());
        assertEquals("tokens", past.errorParam(), past.body());
        assertTrue(past.body().contains("last learned position " + LAST_POSITION), past.body());
        assertEquals(1000, http.get("/v1/sessions/" + id).json().get("tokens").asInt(), "nothing was fed");
        Http.Resp fits = http.post("/v1/sessions/" + id + "/append", Map.of("tokens", filler(24)));
        assertEquals(200, fits.status(), "the session still takes what fits: " + fits.body());
    }
}
