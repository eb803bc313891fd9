package dev.engram.clients;

import static dev.engram.clients.Engram.KEY_A;
import static dev.engram.clients.Engram.KEY_B;
import static dev.engram.clients.Engram.NAME;
import static dev.engram.clients.Engram.PASSKEY;
import static dev.engram.clients.Engram.PASSKEY_PROMPT;
import static dev.engram.clients.Engram.PASSKEY_PROMPT_TOKENS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.exception.InternalServerException;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.ModelNotFoundException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiChatRequestParameters;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.Response;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** LangChain4j's OpenAI module (dev.langchain4j:langchain4j-open-ai), unmodified, against a real engram serve. */
class LangChain4jOpenAiClientTest {
    static final Engram engram = Engram.get();

    /** The base URL is the server's root plus /v1 (LangChain4j's default is https://api.openai.com/v1). */
    static OpenAiChatModel.OpenAiChatModelBuilder chat(String key) {
        return OpenAiChatModel.builder().baseUrl(engram.baseUrl()).apiKey(key).modelName(NAME).temperature(0.0)
                .maxRetries(0).timeout(Engram.timeout());
    }

    static String say(OpenAiChatModel model, String content) {
        return model.chat(UserMessage.from(content)).aiMessage().text();
    }

    @Test
    void chatIsTheDocumentedPromptFormat() {
        ChatResponse r = chat(KEY_A).maxTokens(6).build().chat(UserMessage.from(PASSKEY_PROMPT));
        assertEquals(engram.greedy(6, engram.chatPrompt(PASSKEY_PROMPT)), r.aiMessage().text());
        assertEquals(PASSKEY_PROMPT_TOKENS + 2, r.tokenUsage().inputTokenCount());
        assertEquals(6, r.tokenUsage().outputTokenCount());
    }

    @Test
    void streamingWithUsageEqualsTheWholeAnswer() throws Exception {
        // OpenAiStreamingChatModel always asks for stream_options.include_usage
        OpenAiStreamingChatModel model = OpenAiStreamingChatModel.builder().baseUrl(engram.baseUrl()).apiKey(KEY_A).modelName(NAME)
                .temperature(0.0).maxTokens(6).timeout(Engram.timeout()).build();
        StringBuilder pieces = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        model.chat(PASSKEY_PROMPT, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                pieces.append(partial);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        String expected = engram.greedy(6, engram.chatPrompt(PASSKEY_PROMPT));
        assertEquals(expected, pieces.toString());
        assertEquals(expected, r.aiMessage().text());
        assertEquals(PASSKEY_PROMPT_TOKENS + 2, r.tokenUsage().inputTokenCount());
        assertEquals(6, r.tokenUsage().outputTokenCount());
    }

    @Test
    void legacyCompletionsThroughOpenAiLanguageModel() {
        // OpenAiLanguageModel sends no max_tokens: the server's default (8 here) applies
        Response<String> r = OpenAiLanguageModel.builder().baseUrl(engram.baseUrl()).apiKey(KEY_A).modelName(NAME)
                .temperature(0.0).maxRetries(0).build().generate(PASSKEY_PROMPT);
        assertEquals(engram.greedy(Engram.DEFAULT_MAX_TOKENS, engram.ids(PASSKEY_PROMPT)), r.content());
        assertTrue(r.content().startsWith(PASSKEY + " "), r.content());
        assertEquals(PASSKEY_PROMPT_TOKENS, r.tokenUsage().inputTokenCount());
    }

    @Test
    void stopEndsTheTextBeforeTheStopSequence() {
        String[] words = engram.greedy(6, engram.chatPrompt(PASSKEY_PROMPT)).split(" ");
        ChatResponse r = chat(KEY_A).maxTokens(6).stop(List.of(" " + words[1])).build().chat(UserMessage.from(PASSKEY_PROMPT));
        assertEquals(words[0], r.aiMessage().text(), "the text ends before the stop sequence \" " + words[1] + "\"");
        assertEquals(dev.langchain4j.model.output.FinishReason.STOP, r.finishReason());
    }

    @Test
    void aSeedGivesTheSameSampleEveryTime() {
        OpenAiChatModel seeded = chat(KEY_A).temperature(1.0).seed(42).maxTokens(12).build();
        String first = say(seeded, "the grass is");
        assertEquals(first, say(seeded, "the grass is"));
        assertEquals(engram.sampled(12, engram.chatPrompt("the grass is"), 1.0, 42), first);
        assertNotEquals(first, say(chat(KEY_A).temperature(1.0).seed(43).maxTokens(12).build(), "the grass is"));
    }

    @Test
    void sessionsByBodyFieldAndByHeader() {
        String id = engram.sessionWithThePasskey(KEY_A);
        String expected = engram.greedy(5, engram.chatPrompt("<what-is-the-passkey>"), engram.ids(Engram.DOCUMENT));
        String noSession = engram.greedy(5, engram.chatPrompt("<what-is-the-passkey>"));
        assertNotEquals(expected, noSession, "the session's document changes the answer");
        // the body: customParameters, on the model or per request
        OpenAiChatModel byModel = chat(KEY_A).maxTokens(5).customParameters(Map.of("session", id)).build();
        assertEquals(expected, say(byModel, "<what-is-the-passkey>"));
        ChatResponse perRequest = chat(KEY_A).build().chat(ChatRequest.builder().messages(UserMessage.from("<what-is-the-passkey>"))
                .parameters(OpenAiChatRequestParameters.builder().maxOutputTokens(5).customParameters(Map.of("session", id)).build())
                .build());
        assertEquals(expected, perRequest.aiMessage().text());
        // the header: customHeaders, which OpenAiLanguageModel (no way to add a body field) has too
        assertEquals(expected, say(chat(KEY_A).maxTokens(5).customHeaders(Map.of("Engram-Session", id)).build(), "<what-is-the-passkey>"));
        Response<String> completion = OpenAiLanguageModel.builder().baseUrl(engram.baseUrl()).apiKey(KEY_A).modelName(NAME)
                .temperature(0.0).customHeaders(Map.of("Engram-Session", id)).build().generate("<what-is-the-passkey>");
        assertEquals(engram.greedy(Engram.DEFAULT_MAX_TOKENS, engram.ids("<what-is-the-passkey>"), engram.ids(Engram.DOCUMENT)),
                completion.content());
        assertTrue(completion.content().startsWith(PASSKEY + " "), completion.content());

        // a conversation that remembers (session_append): the second turn depends on the first
        String conversation = Engram.createSession(engram.server.uri(), KEY_A);
        OpenAiChatModel remembering = chat(KEY_A).maxTokens(3).customHeaders(Map.of("Engram-Session", conversation))
                .customParameters(Map.of("session_append", true)).build();
        String firstReply = say(remembering, Engram.document("5 5 1 2 0"));
        int[] turn1 = engram.chatPrompt(Engram.document("5 5 1 2 0"));
        String second = say(remembering, "<what-is-the-passkey>");
        int[] reply1 = engram.ids(firstReply);
        assertEquals(engram.greedy(3, engram.chatPrompt("<what-is-the-passkey>"), turn1, reply1), second);
        assertEquals(turn1.length + 3 + engram.chatPrompt("<what-is-the-passkey>").length + 3, engram.sessionTokens(KEY_A, conversation));
    }

    @Test
    void aKeySeesOnlyItsOwnSessions() {
        String id = engram.sessionWithThePasskey(KEY_A);
        ModelNotFoundException e = assertThrows(ModelNotFoundException.class,
                () -> say(chat(KEY_B).maxTokens(5).customHeaders(Map.of("Engram-Session", id)).build(), "<what-is-the-passkey>"));
        assertEquals(404, status(e));
        assertTrue(e.getMessage().contains(id), e.getMessage());
    }

    @Test
    void everyErrorClassIsLangChain4jsTypedException() {
        InvalidRequestException bad = assertThrows(InvalidRequestException.class,
                () -> say(chat(KEY_A).temperature(3.0).maxTokens(5).build(), PASSKEY_PROMPT));
        assertEquals(400, status(bad));
        assertTrue(bad.getMessage().contains("\"param\":\"temperature\""), bad.getMessage());
        assertThrows(InvalidRequestException.class, () -> say(chat(KEY_A).maxTokens(5).customParameters(Map.of("temprature", 1)).build(),
                PASSKEY_PROMPT));
        assertEquals(401, status(assertThrows(AuthenticationException.class, () -> say(chat("not-a-key").maxTokens(5).build(), "the"))));
        assertEquals(404, status(assertThrows(ModelNotFoundException.class,
                () -> say(chat(KEY_A).modelName("gpt-4o").maxTokens(5).build(), "the"))));
        String huge = String.join(" ", java.util.Collections.nCopies(Engram.MAX_BODY / 3, "the"));
        assertEquals(413, status(assertThrows(InvalidRequestException.class, () -> say(chat(KEY_A).maxTokens(5).build(), huge))));
        InternalServerException damaged = assertThrows(InternalServerException.class, () -> say(chat(KEY_A).maxTokens(5)
                .customHeaders(Map.of("Engram-Session", engram.damagedSession)).build(), "<what-is-the-passkey>"));
        assertEquals(500, status(damaged));
        assertTrue(damaged.getMessage().contains("session_damaged"), damaged.getMessage());
    }

    /** The HTTP status under LangChain4j's exception (its cause chain ends in an HttpException). */
    static int status(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof HttpException h) {
                return h.statusCode();
            }
        }
        throw new AssertionError("no HttpException under " + t, t);
    }

}
