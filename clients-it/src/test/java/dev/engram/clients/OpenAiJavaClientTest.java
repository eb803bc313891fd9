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

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.InternalServerException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.UnauthorizedException;
import com.openai.errors.UnexpectedStatusCodeException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The official OpenAI Java SDK (com.openai:openai-java), unmodified, against a real engram serve. */
class OpenAiJavaClientTest {
    static final Engram engram = Engram.get();

    static OpenAIClient client(String key) {
        // the base URL is the server's root plus /v1, as for api.openai.com; no retries, so an error is seen as it is
        return OpenAIOkHttpClient.builder().baseUrl(engram.baseUrl()).apiKey(key).maxRetries(0).timeout(Engram.timeout()).build();
    }

    static final OpenAIClient alice = client(KEY_A);

    static CompletionCreateParams.Builder completion(String prompt, long maxTokens) {
        return CompletionCreateParams.builder().model(NAME).prompt(prompt).maxTokens(maxTokens).temperature(0.0);
    }

    static ChatCompletionCreateParams.Builder chat(String content, long maxTokens) {
        return ChatCompletionCreateParams.builder().model(NAME).addUserMessage(content).maxCompletionTokens(maxTokens).temperature(0.0);
    }

    @Test
    void modelsListTheServedPackage() {
        List<Model> models = alice.models().list().items();
        assertEquals(List.of(NAME), models.stream().map(Model::id).toList());
    }

    @Test
    void theBaseUrlNeedsV1() {
        OpenAIClient withoutV1 = OpenAIOkHttpClient.builder().baseUrl(engram.server.uri().toString()).apiKey(KEY_A).maxRetries(0).build();
        assertEquals(404, assertThrows(NotFoundException.class, () -> withoutV1.models().list()).statusCode());
    }

    @Test
    void legacyCompletionAnswersThePasskey() {
        Completion c = alice.completions().create(completion(PASSKEY_PROMPT, 5).build());
        assertEquals(PASSKEY, c.choices().get(0).text());
        assertEquals(PASSKEY_PROMPT_TOKENS, c.usage().orElseThrow().promptTokens());
        assertEquals(5, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void chatIsTheDocumentedPromptFormat() {
        ChatCompletion c = alice.chat().completions().create(chat(PASSKEY_PROMPT, 6).build());
        String expected = engram.greedy(6, engram.chatPrompt(PASSKEY_PROMPT));
        assertEquals(expected, c.choices().get(0).message().content().orElseThrow());
        assertEquals(PASSKEY_PROMPT_TOKENS + 2, c.usage().orElseThrow().promptTokens()); // + "user:" and "assistant:"
    }

    @Test
    void streamingWithUsageEqualsTheWholeAnswer() {
        ChatCompletionCreateParams params = chat(PASSKEY_PROMPT, 6)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        StringBuilder text = new StringBuilder();
        long[] usage = {-1, -1};
        try (StreamResponse<ChatCompletionChunk> stream = alice.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> {
                chunk.choices().forEach(ch -> ch.delta().content().ifPresent(text::append));
                chunk.usage().ifPresent(u -> {
                    usage[0] = u.promptTokens();
                    usage[1] = u.completionTokens();
                });
            });
        }
        assertEquals(engram.greedy(6, engram.chatPrompt(PASSKEY_PROMPT)), text.toString());
        assertEquals(PASSKEY_PROMPT_TOKENS + 2, usage[0]);
        assertEquals(6, usage[1]);

        StringBuilder completionText = new StringBuilder();
        try (StreamResponse<Completion> stream = alice.completions().createStreaming(completion(PASSKEY_PROMPT, 5)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(c -> c.choices().forEach(ch -> completionText.append(ch.text())));
        }
        assertEquals(PASSKEY, completionText.toString());
    }

    @Test
    void stopEndsTheTextBeforeTheStopSequence() {
        Completion c = alice.completions().create(completion(PASSKEY_PROMPT, 5).stop(" 1").build());
        assertEquals("4 2 7", c.choices().get(0).text());
        assertEquals(com.openai.models.completions.CompletionChoice.FinishReason.STOP, c.choices().get(0).finishReason());
    }

    @Test
    void aSeedGivesTheSameSampleEveryTime() {
        CompletionCreateParams p = completion("<bos> the grass is", 12).temperature(1.0).seed(42).build();
        String first = alice.completions().create(p).choices().get(0).text();
        assertEquals(first, alice.completions().create(p).choices().get(0).text());
        assertEquals(engram.sampled(12, engram.ids("<bos> the grass is"), 1.0, 42), first);
        String other = alice.completions().create(completion("<bos> the grass is", 12).temperature(1.0).seed(43).build())
                .choices().get(0).text();
        assertEquals(engram.sampled(12, engram.ids("<bos> the grass is"), 1.0, 43), other);
        assertNotEquals(first, other, "two seeds, two samples (12 tokens from a 32-word vocabulary)");
    }

    @Test
    void sessionsByBodyFieldAndByHeader() {
        String id = engram.sessionWithThePasskey(KEY_A);
        long tokens = engram.sessionTokens(KEY_A, id);
        CompletionCreateParams byBody = completion("<what-is-the-passkey>", 5)
                .putAdditionalBodyProperty("session", JsonValue.from(id)).build();
        assertEquals(PASSKEY, alice.completions().create(byBody).choices().get(0).text());
        CompletionCreateParams byHeader = completion("<what-is-the-passkey>", 5).putAdditionalHeader("Engram-Session", id).build();
        assertEquals(PASSKEY, alice.completions().create(byHeader).choices().get(0).text());
        // without the session the question alone has no passkey to answer
        assertNotEquals(PASSKEY, alice.completions().create(completion("<what-is-the-passkey>", 5).build()).choices().get(0).text());

        // chat in the session, by header: the reference is the document then the chat prompt, on the runtime
        ChatCompletion c = alice.chat().completions().create(chat("<what-is-the-passkey>", 5).putAdditionalHeader("Engram-Session", id).build());
        assertEquals(engram.greedy(5, engram.chatPrompt("<what-is-the-passkey>"), engram.ids(Engram.DOCUMENT)),
                c.choices().get(0).message().content().orElseThrow());
        assertEquals(tokens, engram.sessionTokens(KEY_A, id), "a question does not change the session");

        // a conversation that remembers: session_append, then the second turn depends on the first
        String conversation = Engram.createSession(engram.server.uri(), KEY_A);
        alice.completions().create(completion(Engram.document("8 0 3 3 6"), 0)
                .putAdditionalHeader("Engram-Session", conversation).putAdditionalBodyProperty("session_append", JsonValue.from(true)).build());
        assertEquals("8 0 3 3 6", alice.completions().create(completion("<what-is-the-passkey>", 5)
                .putAdditionalBodyProperty("session", JsonValue.from(conversation)).build()).choices().get(0).text());

        // header and body naming different sessions: refused, naming the field
        BadRequestException both = assertThrows(BadRequestException.class, () -> alice.completions().create(
                completion("<what-is-the-passkey>", 5).putAdditionalBodyProperty("session", JsonValue.from(id))
                        .putAdditionalHeader("Engram-Session", conversation).build()));
        assertEquals("session", both.param().orElseThrow());
    }

    @Test
    void aKeySeesOnlyItsOwnSessions() {
        String id = engram.sessionWithThePasskey(KEY_A);
        OpenAIClient bob = client(KEY_B);
        NotFoundException e = assertThrows(NotFoundException.class, () -> bob.completions().create(
                completion("<what-is-the-passkey>", 5).putAdditionalHeader("Engram-Session", id).build()));
        assertEquals(404, e.statusCode());
        assertTrue(e.getMessage().contains(id), e.getMessage());
        assertEquals(PASSKEY, alice.completions().create(completion("<what-is-the-passkey>", 5)
                .putAdditionalHeader("Engram-Session", id).build()).choices().get(0).text());
    }

    @Test
    void everyErrorClassIsTheSdksTypedException() {
        BadRequestException bad = assertThrows(BadRequestException.class,
                () -> alice.completions().create(completion(PASSKEY_PROMPT, 5).temperature(3.0).build()));
        assertEquals("temperature", bad.param().orElseThrow());
        BadRequestException unknownField = assertThrows(BadRequestException.class, () -> alice.completions().create(
                completion(PASSKEY_PROMPT, 5).putAdditionalBodyProperty("temprature", JsonValue.from(1)).build()));
        assertEquals("temprature", unknownField.param().orElseThrow());
        BadRequestException tools = assertThrows(BadRequestException.class, () -> alice.chat().completions().create(
                chat(PASSKEY_PROMPT, 5).n(2).build()));
        assertEquals("n", tools.param().orElseThrow());

        assertThrows(UnauthorizedException.class, () -> client("not-a-key").models().list());
        NotFoundException model = assertThrows(NotFoundException.class, () -> alice.completions().create(
                completion(PASSKEY_PROMPT, 5).model("gpt-4o").build()));
        assertEquals("model", model.param().orElseThrow());
        NotFoundException session = assertThrows(NotFoundException.class, () -> alice.completions().create(
                completion(PASSKEY_PROMPT, 5).putAdditionalHeader("Engram-Session", "sess_none").build()));
        assertEquals(404, session.statusCode());

        // 413: the SDK has no class of its own for it
        String huge = String.join(" ", java.util.Collections.nCopies(Engram.MAX_BODY / 3, "the"));
        UnexpectedStatusCodeException tooLarge = assertThrows(UnexpectedStatusCodeException.class,
                () -> alice.completions().create(completion(huge, 5).build()));
        assertEquals(413, tooLarge.statusCode());

        InternalServerException damaged = assertThrows(InternalServerException.class, () -> alice.completions().create(
                completion("<what-is-the-passkey>", 5).putAdditionalHeader("Engram-Session", engram.damagedSession).build()));
        assertEquals(500, damaged.statusCode());
        assertEquals("session_damaged", damaged.code().orElseThrow());
        assertTrue(OpenAIServiceException.class.isInstance(damaged));
    }
}
