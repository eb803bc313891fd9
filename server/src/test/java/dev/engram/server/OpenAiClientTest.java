package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official {@code openai} npm package, unmodified (src/test/node/client.mjs), against the real server:
 * models, completions and chat, each plain and streamed, and an error. What the client returns is checked
 * against the same requests sent as raw HTTP. Needs node and the package (installed by
 * src/test/node/install.sh during the build); without them it skips with the reason, except under CI=true,
 * where .ci/run has installed them and a missing client is a failure.
 */
class OpenAiClientTest {
    static final Path NODE_DIR = Path.of("src/test/node");
    static final String MODEL = "tiny-infini";

    @TempDir
    static Path tmp;
    static Server server;
    static Http http;

    @BeforeAll
    static void start() {
        server = Server.start(TestModel.create(tmp), 0, tmp.resolve("data"), ServeOptions.defaults().withAccessLog(false));
        http = new Http(server.uri());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static void requireClient() {
        String missing = null;
        if (!onPath("node")) {
            missing = "node is not on the PATH (apt-get install nodejs npm)";
        } else if (!Files.isRegularFile(NODE_DIR.resolve("node_modules/openai/package.json"))) {
            missing = "the openai package is not installed (run server/src/test/node/install.sh)";
        }
        if (missing != null) {
            if (System.getenv("CI") != null) {
                fail("OpenAiClientTest cannot run under CI: " + missing);
            }
            System.out.println("OpenAiClientTest skipped: " + missing);
            Assumptions.assumeTrue(false, missing);
        }
    }

    static boolean onPath(String exe) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, exe))) {
                return true;
            }
        }
        return false;
    }

    static JsonNode runClient() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("node", "client.mjs", server.uri().toString(), MODEL).directory(NODE_DIR.toFile())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the node client did not finish");
        assertEquals(0, p.exitValue(), "the node client failed:\n" + out);
        String[] lines = out.strip().split("\n");
        return Http.JSON.readTree(lines[lines.length - 1]);
    }

    @Test
    void theOfficialClientWorksUnmodified() throws Exception {
        requireClient();
        JsonNode got = runClient();

        assertEquals(List.of(MODEL), List.of(got.get("models").get(0).asText()));

        JsonNode raw = http.post("/v1/completions", Map.of("model", MODEL, "prompt", "Engram remembers", "max_tokens", 6,
                "temperature", 0)).json();
        JsonNode completion = got.get("completion");
        assertEquals("text_completion", completion.get("object").asText());
        assertEquals(raw.get("choices").get(0).get("text").asText(), completion.get("text").asText());
        assertEquals("length", completion.get("finish_reason").asText());
        assertEquals(6, completion.get("usage").get("completion_tokens").asInt());
        assertEquals(completion.get("text").asText(), got.get("streamed").get("text").asText(), "streamed == not streamed");
        assertEquals("length", got.get("streamed").get("finish_reason").asText());

        Map<String, Object> chat = Map.of("model", MODEL, "max_tokens", 5, "temperature", 0, "messages", List.of(
                Map.of("role", "system", "content", "Be brief."), Map.of("role", "user", "content", "What do you remember?")));
        JsonNode rawChat = http.post("/v1/chat/completions", chat).json();
        assertEquals("chat.completion", got.get("chat").get("object").asText());
        assertEquals("assistant", got.get("chat").get("role").asText());
        String content = rawChat.get("choices").get(0).get("message").get("content").asText();
        assertEquals(content, got.get("chat").get("content").asText());
        assertEquals(content, got.get("chatStreamed").asText(), "chat streamed == not streamed");

        // echo + logprobs through the client: the same numbers as raw HTTP, the first token unscored
        JsonNode rawScored = http.post("/v1/completions", Map.of("model", MODEL, "prompt", "Engram remembers", "max_tokens", 0,
                "echo", true, "logprobs", 2)).json().get("choices").get(0);
        JsonNode scored = got.get("scored");
        assertEquals(rawScored.get("text").asText(), scored.get("text").asText());
        assertEquals(rawScored.get("logprobs").get("token_logprobs"), scored.get("token_logprobs"));
        assertTrue(scored.get("token_logprobs").get(0).isNull(), scored.toString());
        assertTrue(scored.get("token_logprobs").size() > 1, scored.toString());
        JsonNode chatLogprobs = got.get("chatLogprobs");
        assertEquals(3, chatLogprobs.size(), chatLogprobs.toString());
        for (JsonNode t : chatLogprobs) {
            assertTrue(t.get("logprob").asDouble() <= 0 && t.get("top").asInt() == 2, t.toString());
        }
        assertEquals(chatLogprobs, got.get("chatLogprobsStreamed"), "streamed log-probabilities == not streamed");

        JsonNode error = got.get("error");
        assertEquals(400, error.get("status").asInt(), error.toString());
        assertEquals("max_tokens", error.get("param").asText());
        assertTrue(error.get("isApiError").asBoolean());
    }
}
