package dev.engram.examples.langchain4j;

import dev.engram.langchain4j.EngramChatRequestParameters;
import dev.engram.langchain4j.EngramModel;
import dev.engram.langchain4j.PromptFormat;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.MemoryId;
import dev.langchain4j.service.UserMessage;
import java.nio.file.Path;

/**
 * A LangChain4j AI service whose conversations live in a model's long-term memory, inside this JVM. Each
 * {@code @MemoryId} is an Engram sequence saved under the state directory after every turn: the model is told a
 * passkey, then far more filler than its 32-token attention window holds; run it again and the conversation goes on
 * from disk: the question is answered by a process that was never told the passkey.
 *
 * <p>Arguments: the model package (default {@code models/passkey-infini}) and the state directory (default
 * {@code target/conversations}). The bundled passkey model speaks only its task's words (models/README.md "The task"),
 * so the prompt format is RAW and it answers only the question (a reply to filler would be noise in its memory).
 */
public final class PasskeyAssistantExample {
    interface Assistant {
        String chat(@MemoryId String user, @UserMessage String message);
    }

    static final String FILLER = "the grass is green . the sky is blue . the sun is yellow . here we go . there and back again .";

    private PasskeyAssistantExample() {
    }

    public static void main(String[] args) {
        Path model = Path.of(args.length > 0 ? args[0] : "models/passkey-infini");
        Path state = Path.of(args.length > 1 ? args[1] : "target/conversations");
        try (EngramModel engram = EngramModel.builder().model(model).stateDirectory(state).promptFormat(PromptFormat.RAW).build()) {
            Assistant assistant = AiServices.builder(Assistant.class)
                    .chatModel(engram.chatModel())
                    .chatMemoryProvider(id -> MessageWindowChatMemory.withMaxMessages(4)) // the model holds the rest
                    .chatRequestTransformer(PasskeyAssistantExample::request)
                    .build();
            if (engram.conversationTokens("alice") == 0) {
                assistant.chat("alice", "<bos> the grass is green . <passkey-is> 4 2 7 1 9 . " + FILLER);
                for (int turn = 0; turn < 12; turn++) {
                    assistant.chat("alice", FILLER + " " + FILLER);
                }
                System.out.println("told alice a passkey, then 12 turns of filler: " + engram.conversationTokens("alice")
                        + " tokens, saved in " + state + "; run again to ask");
            } else {
                System.out.println("alice's conversation read back from " + state + ": " + engram.conversationTokens("alice") + " tokens");
                System.out.println("alice's passkey: " + assistant.chat("alice", "<what-is-the-passkey>"));
                engram.forget("alice"); // the model was trained to be asked once; the next run starts over
            }
        }
    }

    /** The memory id into the request, and 5 reply tokens for the question, none for anything else. */
    static ChatRequest request(ChatRequest request, Object memoryId) {
        ChatRequest r = EngramChatRequestParameters.withMemoryId(request, memoryId);
        ChatMessage last = r.messages().get(r.messages().size() - 1);
        boolean question = last instanceof dev.langchain4j.data.message.UserMessage u && u.singleText().endsWith("<what-is-the-passkey>");
        return r.toBuilder().parameters(r.parameters().overrideWith(
                EngramChatRequestParameters.builder().maxOutputTokens(question ? 5 : 0).build())).build();
    }
}
