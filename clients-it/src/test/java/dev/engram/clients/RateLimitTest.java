package dev.engram.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.RateLimitException;
import com.openai.models.completions.CompletionCreateParams;
import dev.engram.server.ServeOptions;
import dev.engram.server.Server;
import dev.langchain4j.data.message.UserMessage;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.chat.prompt.Prompt;

/**
 * 429 (the server's queue is full) through each client's typed exception. A server with a queue of one request is
 * kept full by two jobs on one session: an endless streamed completion that appends to it, running until its client
 * leaves, and an append to the same session, waiting for it (the jobs on one session run in order); then each client
 * asks once.
 */
class RateLimitTest {
    @TempDir
    Path tmp;

    @Test
    void aFullQueueIsEachClientsRateLimitException() throws Exception {
        ServeOptions options = ServeOptions.defaults().withAccessLog(false).withQueueCapacity(1).withMaxTokens(1_000_000, 8)
                .withRequestTimeout(Duration.ofSeconds(60)).withShutdownGrace(Duration.ofSeconds(1));
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        CompletableFuture<HttpResponse<InputStream>> running = null;
        CompletableFuture<HttpResponse<String>> waiting = null;
        try (Server server = Server.start(Engram.MODEL, 0, tmp.resolve("data"), options)) {
            URI uri = server.uri();
            try {
                // created first: a creation is itself a job on the model's worker
                HttpResponse<String> created = http.send(HttpRequest.newBuilder(uri.resolve("/v1/sessions"))
                        .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, created.statusCode(), created.body());
                String id = Engram.JSON.readTree(created.body()).get("id").asText();
                // Full for as long as the test needs, on any machine: a completion that appends to a session holds the
                // session until it ends, and one of a million tokens (no stop token ends it) runs until its client
                // leaves; the append to the same session behind it waits in the queue all that time. (Up to 2026-12-06
                // session jobs ran alone, and two long appends held the worker only as long as their work lasted.)
                String endless = Engram.json(Map.of("model", Engram.NAME, "prompt", "the grass is", "max_tokens", 1_000_000,
                        "stream", true, "session", id, "session_append", true));
                running = http.sendAsync(HttpRequest.newBuilder(uri.resolve("/v1/completions")).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(endless)).build(), HttpResponse.BodyHandlers.ofInputStream());
                awaitQueueDepth(http, uri, 1);
                waiting = http.sendAsync(HttpRequest.newBuilder(uri.resolve("/v1/sessions/" + id + "/append"))
                        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                                Engram.json(Map.of("tokens", new int[] {15, 16, 17})))).build(), HttpResponse.BodyHandlers.ofString());
                awaitQueueDepth(http, uri, 2);
                String base = uri + "/v1";

                RateLimitException openai = assertThrows(RateLimitException.class, () -> OpenAIOkHttpClient.builder().baseUrl(base)
                        .apiKey("unused").maxRetries(0).build().completions().create(CompletionCreateParams.builder().model(Engram.NAME)
                                .prompt("<bos>").maxTokens(1).build()));
                assertEquals(429, openai.statusCode());
                assertEquals("1", openai.headers().values("Retry-After").get(0));

                dev.langchain4j.exception.RateLimitException langchain4j = assertThrows(dev.langchain4j.exception.RateLimitException.class,
                        () -> dev.langchain4j.model.openai.OpenAiChatModel.builder().baseUrl(base).apiKey("unused").modelName(Engram.NAME)
                                .maxRetries(0).maxTokens(1).build().chat(UserMessage.from("<bos>")));
                assertEquals(429, LangChain4jOpenAiClientTest.status(langchain4j));

                RateLimitException spring = SpringAiClientTest.cause(RateLimitException.class, assertThrows(RuntimeException.class,
                        () -> org.springframework.ai.openai.OpenAiChatModel.builder().options(org.springframework.ai.openai.OpenAiChatOptions
                                .builder().baseUrl(base).apiKey("unused").model(Engram.NAME).maxRetries(0).maxTokens(1).build()).build()
                                .call(new Prompt("<bos>"))));
                assertEquals(429, spring.statusCode());
            } finally {
                // the server stops a stream whose client left (the session as it was); then the append that waited runs
                if (running != null) {
                    running.get(30, TimeUnit.SECONDS).body().close();
                }
                if (waiting != null) {
                    HttpResponse<String> appended = waiting.get(60, TimeUnit.SECONDS);
                    assertEquals(200, appended.statusCode(), appended.body());
                }
            }
        }
    }

    private static void awaitQueueDepth(HttpClient http, URI uri, int depth) throws Exception {
        String want = "} " + depth;
        long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < until) {
            String metrics = http.send(HttpRequest.newBuilder(uri.resolve("/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            for (String line : metrics.split("\n")) {
                if (line.startsWith("engram_queue_depth{") && line.endsWith(want)) {
                    return;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("the queue never held " + depth + " requests");
    }
}
