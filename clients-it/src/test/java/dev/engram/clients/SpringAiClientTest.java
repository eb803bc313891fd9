package dev.engram.clients;

import static dev.engram.clients.Engram.KEY_A;
import static dev.engram.clients.Engram.KEY_B;
import static dev.engram.clients.Engram.NAME;
import static dev.engram.clients.Engram.PASSKEY_PROMPT;
import static dev.engram.clients.Engram.PASSKEY_PROMPT_TOKENS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.errors.BadRequestException;
import com.openai.errors.InternalServerException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.UnauthorizedException;
import com.openai.errors.UnexpectedStatusCodeException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.openai.OpenAiChatModel;
import org.springframework.ai.openai.OpenAiChatOptions;

/**
 * Spring AI's OpenAI chat model (org.springframework.ai:spring-ai-openai 2.x, which is built on the official OpenAI Java
 * SDK), constructed without a Spring context, against a real engram serve.
 */
class SpringAiClientTest {
    static final Engram engram = Engram.get();

    /** baseUrl must end in /v1: Spring AI 2.x hands it to the OpenAI SDK, whose paths start after it. */
    static OpenAiChatOptions.Builder options(String key) {
        return OpenAiChatOptions.builder().baseUrl(engram.baseUrl()).apiKey(key).model(NAME).temperature(0.0).maxRetries(0)
                .timeout(Engram.timeout());
    }

    static OpenAiChatModel model(OpenAiChatOptions options) {
        return OpenAiChatModel.builder().options(options).build();
    }

    static String text(ChatResponse r) {
        return r.getResult().getOutput().getText();
    }

    static final OpenAiChatModel alice = model(options(KEY_A).maxTokens(6).build());

    @Test
    void chatIsTheDocumentedPromptFormat() {
        ChatResponse r = alice.call(new Prompt(PASSKEY_PROMPT));
        assertEquals(engram.greedy(6, engram.chatPrompt(PASSKEY_PROMPT)), text(r));
        assertEquals(PASSKEY_PROMPT_TOKENS + 2, r.getMetadata().getUsage().getPromptTokens());
        assertEquals(6, r.getMetadata().getUsage().getCompletionTokens());
    }

    @Test
    void streamingWithUsageEqualsTheWholeAnswer() {
        // streamUsage(true) sends stream_options {include_usage: true} (and the SDK may add include_obfuscation)
        OpenAiChatModel streaming = model(options(KEY_A).maxTokens(6).streamUsage(true).build());
        List<ChatResponse> chunks = streaming.stream(new Prompt(PASSKEY_PROMPT)).collectList().block(Engram.timeout());
        StringBuilder text = new StringBuilder();
        Integer promptTokens = null;
        Integer completionTokens = null;
        for (ChatResponse c : chunks) {
            if (c.getResult() != null && c.getResult().getOutput().getText() != null) {
                text.append(c.getResult().getOutput().getText());
            }
            if (c.getMetadata().getUsage() != null && c.getMetadata().getUsage().getPromptTokens() != null
                    && c.getMetadata().getUsage().getPromptTokens() > 0) {
                promptTokens = c.getMetadata().getUsage().getPromptTokens();
                completionTokens = c.getMetadata().getUsage().getCompletionTokens();
            }
        }
        assertEquals(engram.greedy(6, engram.chatPrompt(PASSKEY_PROMPT)), text.toString());
        assertEquals(PASSKEY_PROMPT_TOKENS + 2, promptTokens);
        assertEquals(6, completionTokens);
    }

    @Test
    void stopEndsTheTextBeforeTheStopSequence() {
        String[] words = engram.greedy(6, engram.chatPrompt(PASSKEY_PROMPT)).split(" ");
        ChatResponse r = alice.call(new Prompt(PASSKEY_PROMPT, options(KEY_A).maxTokens(6).stop(List.of(" " + words[1])).build()));
        assertEquals(words[0], text(r));
    }

    @Test
    void aSeedGivesTheSameSampleEveryTime() {
        OpenAiChatOptions seeded = options(KEY_A).temperature(1.0).seed(42).maxTokens(12).build();
        String first = text(alice.call(new Prompt("the grass is", seeded)));
        assertEquals(first, text(alice.call(new Prompt("the grass is", seeded))));
        assertEquals(engram.sampled(12, engram.chatPrompt("the grass is"), 1.0, 42), first);
    }

    @Test
    void sessionsByExtraBodyAndByCustomHeader() {
        String id = engram.sessionWithThePasskey(KEY_A);
        String expected = engram.greedy(5, engram.chatPrompt("<what-is-the-passkey>"), engram.ids(Engram.DOCUMENT));
        assertNotEquals(expected, engram.greedy(5, engram.chatPrompt("<what-is-the-passkey>")));
        OpenAiChatOptions byBody = options(KEY_A).maxTokens(5).extraBody(Map.of("session", id)).build();
        assertEquals(expected, text(alice.call(new Prompt("<what-is-the-passkey>", byBody))));
        OpenAiChatOptions byHeader = options(KEY_A).maxTokens(5).customHeaders(Map.of("Engram-Session", id)).build();
        assertEquals(expected, text(alice.call(new Prompt("<what-is-the-passkey>", byHeader))));
        // streamed in the session too
        StringBuilder streamed = new StringBuilder();
        model(byHeader).stream(new Prompt("<what-is-the-passkey>")).toStream().forEach(c -> {
            if (c.getResult() != null && c.getResult().getOutput().getText() != null) {
                streamed.append(c.getResult().getOutput().getText());
            }
        });
        assertEquals(expected, streamed.toString());
    }

    @Test
    void aKeySeesOnlyItsOwnSessions() {
        String id = engram.sessionWithThePasskey(KEY_A);
        OpenAiChatModel bob = model(options(KEY_B).maxTokens(5).customHeaders(Map.of("Engram-Session", id)).build());
        NotFoundException e = cause(NotFoundException.class, assertThrows(RuntimeException.class,
                () -> bob.call(new Prompt("<what-is-the-passkey>"))));
        assertTrue(e.getMessage().contains(id), e.getMessage());
    }

    @Test
    void everyErrorClassIsTheSdksTypedException() {
        BadRequestException bad = cause(BadRequestException.class, assertThrows(RuntimeException.class,
                () -> alice.call(new Prompt(PASSKEY_PROMPT, options(KEY_A).temperature(3.0).build()))));
        assertEquals("temperature", bad.param().orElseThrow());
        cause(UnauthorizedException.class, assertThrows(RuntimeException.class,
                () -> model(options("not-a-key").build()).call(new Prompt("the"))));
        NotFoundException model = cause(NotFoundException.class, assertThrows(RuntimeException.class,
                () -> alice.call(new Prompt("the", options(KEY_A).model("gpt-4o").build()))));
        assertEquals("model", model.param().orElseThrow());
        String huge = String.join(" ", java.util.Collections.nCopies(Engram.MAX_BODY / 3, "the"));
        assertEquals(413, cause(UnexpectedStatusCodeException.class, assertThrows(RuntimeException.class,
                () -> alice.call(new Prompt(huge)))).statusCode());
        InternalServerException damaged = cause(InternalServerException.class, assertThrows(RuntimeException.class,
                () -> alice.call(new Prompt("<what-is-the-passkey>", options(KEY_A)
                        .customHeaders(Map.of("Engram-Session", engram.damagedSession)).build()))));
        assertEquals("session_damaged", damaged.code().orElseThrow());
    }

    /** The SDK's exception of {@code type}: thrown as is, or under Spring AI's own. */
    static <T extends OpenAIServiceException> T cause(Class<T> type, Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return type.cast(c);
            }
        }
        throw new AssertionError("no " + type.getSimpleName() + " under " + t, t);
    }
}
