package dev.engram.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.MemoryId;
import dev.langchain4j.service.TokenStream;
import dev.langchain4j.service.UserMessage;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An AI service with {@code @MemoryId} on the in-process model: each user's conversation is that user's Engram sequence. */
class AiServiceTest {
    interface Assistant {
        String chat(@MemoryId String user, @UserMessage String message);
    }

    interface StreamingAssistant {
        TokenStream chat(@MemoryId String user, @UserMessage String message);
    }

    /**
     * The memory id into the request ({@link EngramChatRequestParameters#withMemoryId}), and a reply only to the
     * question: the passkey model was trained to answer the question and nothing else, so a "reply" to filler would be
     * noise written into its memory (measured: with 5 reply tokens after every turn it answered "1 1 1 1 1").
     */
    static ChatRequest passkeyRequest(ChatRequest request, Object memoryId) {
        ChatRequest r = EngramChatRequestParameters.withMemoryId(request, memoryId);
        ChatMessage last = r.messages().get(r.messages().size() - 1);
        boolean question = last instanceof dev.langchain4j.data.message.UserMessage u && u.singleText().endsWith("<what-is-the-passkey>");
        return r.toBuilder().parameters(r.parameters().overrideWith(
                EngramChatRequestParameters.builder().maxOutputTokens(question ? 5 : 0).build())).build();
    }

    @TempDir
    Path tmp;

    @Test
    void eachMemoryIdIsItsOwnConversationAndOnlyTheNewTurnIsFed() {
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).stateDirectory(tmp)
                .promptFormat(PromptFormat.RAW).build()) {
            Assistant assistant = AiServices.builder(Assistant.class).chatModel(model.chatModel())
                    // LangChain4j's memory only needs the last reply (what comes after it is the new turn); the
                    // conversation itself is in the model's state
                    .chatMemoryProvider(id -> MessageWindowChatMemory.withMaxMessages(4))
                    .chatRequestTransformer(AiServiceTest::passkeyRequest)
                    .build();
            assertEquals("", assistant.chat("alice", PasskeyConversationTest.turnOne("6 1 6 1 2")));
            assistant.chat("bob", PasskeyConversationTest.turnOne("2 0 2 6 9"));
            long alice = 37;
            for (int i = 0; i < 8; i++) {
                assistant.chat("alice", PasskeyConversationTest.FILLER + " " + PasskeyConversationTest.FILLER);
                assistant.chat("bob", PasskeyConversationTest.FILLER + " " + PasskeyConversationTest.FILLER);
                alice += 48;
            }
            assertEquals(alice, model.conversationTokens("alice"), "each turn fed once: the chat memory's replay is not fed again");
            assertEquals("6 1 6 1 2", assistant.chat("alice", "<what-is-the-passkey>"));
            assertEquals("2 0 2 6 9", assistant.chat("bob", "<what-is-the-passkey>"));
        }
    }

    @Test
    void aStreamingAiServiceKeepsTheConversationToo() {
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW).build()) {
            StreamingAssistant assistant = AiServices.builder(StreamingAssistant.class).streamingChatModel(model.streamingChatModel())
                    .chatMemoryProvider(id -> MessageWindowChatMemory.withMaxMessages(4))
                    .chatRequestTransformer(AiServiceTest::passkeyRequest)
                    .build();
            streamed(assistant.chat("carol", PasskeyConversationTest.turnOne("9 0 5 5 1")));
            for (int i = 0; i < 12; i++) {
                streamed(assistant.chat("carol", PasskeyConversationTest.FILLER + " " + PasskeyConversationTest.FILLER));
            }
            assertEquals("9 0 5 5 1", streamed(assistant.chat("carol", "<what-is-the-passkey>")));
            assertEquals(37 + 12 * 48 + 1 + 5, model.conversationTokens("carol"));
        }
    }

    /** The streamed text, checked against the complete response; the in-process model answers before start() returns. */
    static String streamed(TokenStream stream) {
        StringBuilder pieces = new StringBuilder();
        java.util.concurrent.atomic.AtomicReference<String> complete = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicReference<Throwable> error = new java.util.concurrent.atomic.AtomicReference<>();
        stream.onPartialResponse(pieces::append).onCompleteResponse(r -> complete.set(r.aiMessage().text())).onError(error::set).start();
        if (error.get() != null) {
            throw new AssertionError(error.get());
        }
        assertEquals(complete.get(), pieces.toString());
        return complete.get();
    }
}
