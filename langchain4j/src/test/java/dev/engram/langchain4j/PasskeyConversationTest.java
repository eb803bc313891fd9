package dev.engram.langchain4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.runtime.Engine;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.ModelSequence;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fact given in turn 1 of a conversation with the bundled {@code passkey-infini} model is still answered after many
 * more turns than its attention reaches, across a restart, because each memory id is an Engram sequence kept on disk.
 *
 * <p>The model (models/README.md): 2 layers, a local window of its 32-token segment and the 8 tokens before it, an
 * Infini-attention memory for everything older. Its vocabulary is the passkey task's: digits, {@code <bos>},
 * {@code <passkey-is>}, {@code <what-is-the-passkey>}, {@code .} and the filler words, space-separated. The passkey block
 * is placed at depth ~0 (after 5 filler tokens, in the first segment), where models/README.md's table has infini at
 * 100% at 512 tokens and 2K; it is asked after 613 tokens (19 segments).
 */
class PasskeyConversationTest {
    static final Path MODEL = Path.of("../models/passkey-infini");
    /** One cycle of the training filler (cli/.../demo/PasskeyTask.FILLER), 24 tokens. */
    static final String FILLER = "the grass is green . the sky is blue . the sun is yellow . here we go . there and back again .";
    static final int FILLER_TURNS = 12;

    @TempDir
    Path tmp;

    static String turnOne(String passkey) {
        return "<bos> the grass is green . <passkey-is> " + passkey + " . " + FILLER; // 1 + 5 + 7 + 24 = 37 tokens
    }

    static ChatRequest say(Object memoryId, String text, int maxOutputTokens) {
        return ChatRequest.builder().messages(List.of(UserMessage.from(text)))
                .parameters(EngramChatRequestParameters.builder().memoryId(memoryId).maxOutputTokens(maxOutputTokens).build())
                .build();
    }

    static EngramModel open(Path state) {
        return EngramModel.builder().model(MODEL).stateDirectory(state).promptFormat(PromptFormat.RAW).build();
    }

    @Test
    void aPasskeyFromTurnOneIsAnsweredAfterTheWindowHasPassedAndARestart() {
        Path state = tmp.resolve("conversations");
        long fed = 0;
        try (EngramModel model = open(state)) {
            ChatModel chat = model.chatModel();
            // statements are fed with no reply (maxOutputTokens 0): the passkey model has nothing to say to filler
            ChatResponse r = chat.chat(say("alice", turnOne("4 2 7 1 9"), 0));
            assertEquals("", r.aiMessage().text());
            assertEquals(37, r.tokenUsage().inputTokenCount());
            chat.chat(say("bob", turnOne("3 8 0 5 6"), 0));
            fed += 37;
            for (int i = 0; i < FILLER_TURNS / 2; i++) {
                for (String who : new String[] {"alice", "bob"}) {
                    assertEquals(48, chat.chat(say(who, FILLER + " " + FILLER, 0)).tokenUsage().inputTokenCount());
                }
                fed += 48;
            }
            assertEquals(fed, model.conversationTokens("alice"));
        }
        // a new JVM would do exactly this: a new model on the same state directory
        try (EngramModel model = open(state)) {
            assertEquals(fed, model.conversationTokens("alice"), "the conversation is read back from disk");
            ChatModel chat = model.chatModel();
            for (int i = FILLER_TURNS / 2; i < FILLER_TURNS; i++) {
                for (String who : new String[] {"alice", "bob"}) {
                    chat.chat(say(who, FILLER + " " + FILLER, 0));
                }
                fed += 48;
            }
            assertTrue(fed > 18 * 32, fed + " tokens: far beyond one 32-token segment");
            ChatResponse alice = chat.chat(say("alice", "<what-is-the-passkey>", 5));
            ChatResponse bob = chat.chat(say("bob", "<what-is-the-passkey>", 5));
            assertEquals("4 2 7 1 9", alice.aiMessage().text());
            assertEquals("3 8 0 5 6", bob.aiMessage().text());
            assertEquals(FinishReason.LENGTH, alice.finishReason());
            assertEquals(1, alice.tokenUsage().inputTokenCount(), "only the new turn is fed, never the history");
            assertEquals(fed + 1 + 5, model.conversationTokens("alice"), "the question and the answer are in the state too");
        }
    }

    /** The control: the bundled window baseline (attention to the segment and 32 tokens before it, no memory) cannot. */
    @Test
    void withoutALongTermMemoryTheSameConversationIsNotAnswered() {
        try (EngramModel model = EngramModel.builder().model(Path.of("../models/passkey-window")).promptFormat(PromptFormat.RAW).build()) {
            ChatModel chat = model.chatModel();
            chat.chat(say("alice", turnOne("4 2 7 1 9"), 0));
            for (int i = 0; i < FILLER_TURNS; i++) {
                chat.chat(say("alice", FILLER + " " + FILLER, 0));
            }
            assertNotEquals("4 2 7 1 9", chat.chat(say("alice", "<what-is-the-passkey>", 5)).aiMessage().text());
        }
    }

    @Test
    void aConversationIsExactlyTheSequenceFedInOneGoAndOnlyNewTurnsAreFed() {
        String[] turns = {turnOne("0 9 1 8 2"), FILLER, FILLER + " " + FILLER, "<what-is-the-passkey>"};
        List<String> replies = new ArrayList<>();
        try (EngramModel model = EngramModel.builder().model(MODEL).promptFormat(PromptFormat.RAW).maxOutputTokens(3).build()) {
            ChatModel chat = model.chatModel();
            List<dev.langchain4j.data.message.ChatMessage> history = new ArrayList<>();
            for (String t : turns) {
                // the whole history is sent, as a chat memory would: only what follows the last AI message is new
                history.add(UserMessage.from(t));
                ChatResponse r = chat.chat(ChatRequest.builder().messages(history)
                        .parameters(EngramChatRequestParameters.builder().memoryId(7).build()).build());
                history.add(r.aiMessage());
                replies.add(r.aiMessage().text());
            }
            // the reference: the same tokens straight on the engine, each turn's 3 reply tokens fed after it
            Engine engine = model.engine();
            ModelSequence s = engine.newSequence();
            long tokens = 0;
            for (int i = 0; i < turns.length; i++) {
                int[] ids = engine.tokenizer().encode(turns[i], i == 0);
                int[] out = engine.generate(s, ids, GenerationParams.greedy(3), null);
                assertEquals(words(engine, out), replies.get(i), "turn " + i);
                tokens += ids.length + out.length;
            }
            assertEquals(tokens, model.conversationTokens(7));
            assertEquals(s.position(), model.conversationTokens(7));
        }
    }

    static String words(Engine engine, int[] ids) {
        return String.join(" ", IntStream.of(ids).mapToObj(i -> engine.tokenizer().decode(new int[] {i})).toList());
    }
}
