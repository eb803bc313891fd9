package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code engram serve} of an imported checkpoint (a random Qwen2-layout one written and imported by
 * tools/engram_import/make_checkpoints.py: byte-level tokenizer.json, ChatML chat template in tokenizer_config.json),
 * answered to the unmodified openai npm client (src/test/node/client.mjs): models, completions and chat, plain and
 * streamed, and an error. The chat prompt is the template's rendering (its token count is the hand-written ChatML
 * text's). Needs /usr/bin/python3 with torch and onnx, node and the openai package: skipped with the reason without
 * them, except under CI=true, where that is a failure.
 */
class ImportedModelClientTest {
    static final String PYTHON = System.getProperty("engram.python", "/usr/bin/python3");
    static final Path TOOLS = Path.of("..", "tools").toAbsolutePath().normalize();

    @TempDir
    Path tmp;

    private static String python(Path out) throws InterruptedException {
        try {
            Process p = new ProcessBuilder(PYTHON, "-m", "engram_import.make_checkpoints", out.toString(), "qwen2")
                    .directory(TOOLS.toFile()).redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return "make_checkpoints failed: " + text.substring(Math.max(0, text.length() - 600));
            }
            return null;
        } catch (IOException e) {
            return "cannot run " + PYTHON + ": " + e.getMessage();
        }
    }

    @Test
    void theOfficialClientTalksToAnImportedModel() throws Exception {
        OpenAiClientTest.requireClient();
        String missing = null;
        try {
            Process probe = new ProcessBuilder(PYTHON, "-c", "import torch, onnx").redirectErrorStream(true).start();
            probe.getInputStream().readAllBytes();
            if (!probe.waitFor(120, TimeUnit.SECONDS) || probe.exitValue() != 0) {
                missing = PYTHON + " cannot import torch and onnx";
            }
        } catch (IOException e) {
            missing = "cannot run " + PYTHON + ": " + e.getMessage();
        }
        if (missing != null) {
            if (System.getenv("CI") != null) {
                fail("ImportedModelClientTest cannot run under CI: " + missing);
            }
            Assumptions.assumeTrue(false, missing);
        }
        String failed = python(tmp);
        if (failed != null) {
            throw new AssertionError(failed);
        }
        Path model = tmp.resolve("qwen2");
        String chatMl = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat do you remember?<|im_end|>\n"
                + "<|im_start|>assistant\n";
        int chatTokens;
        try (Engine engine = new EngineLoader().systemOverrides(false).load(model)) {
            chatTokens = engine.tokenizer().encode(chatMl, false).length;
        }
        try (Server server = Server.start(model, 0, tmp.resolve("data"), ServeOptions.defaults().withAccessLog(false))) {
            Http http = new Http(server.uri());
            Process p = new ProcessBuilder("node", "client.mjs", server.uri().toString(), "qwen2")
                    .directory(OpenAiClientTest.NODE_DIR.toFile()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the node client did not finish");
            assertEquals(0, p.exitValue(), "the node client failed:\n" + out);
            String[] lines = out.strip().split("\n");
            JsonNode got = Http.JSON.readTree(lines[lines.length - 1]);

            assertEquals("qwen2", got.get("models").get(0).asText());
            JsonNode raw = http.post("/v1/completions", Map.of("model", "qwen2", "prompt", "Engram remembers", "max_tokens", 6,
                    "temperature", 0)).json();
            assertEquals(raw.get("choices").get(0).get("text").asText(), got.get("completion").get("text").asText());
            assertEquals(6, got.get("completion").get("usage").get("completion_tokens").asInt());
            assertEquals(got.get("completion").get("text").asText(), got.get("streamed").get("text").asText());

            Map<String, Object> chat = Map.of("model", "qwen2", "max_tokens", 5, "temperature", 0, "messages", List.of(
                    Map.of("role", "system", "content", "Be brief."), Map.of("role", "user", "content", "What do you remember?")));
            JsonNode rawChat = http.post("/v1/chat/completions", chat).json();
            assertEquals(chatTokens, rawChat.get("usage").get("prompt_tokens").asInt(), rawChat.toString());
            String content = rawChat.get("choices").get(0).get("message").get("content").asText();
            assertEquals(content, got.get("chat").get("content").asText());
            assertEquals(content, got.get("chatStreamed").asText());
            assertEquals(400, got.get("error").get("status").asInt());
        }
    }
}
