package dev.engram.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.model.chat.ChatModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests from many threads at once on the bundled passkey-infini: conversations and one-off requests share steps,
 * each answer equal to the same conversation run alone on another instance (and its saved state read back after a
 * restart); turns sent to one conversation from many threads at once each run whole, one after another.
 */
class ConcurrentRequestsTest {
    @TempDir
    Path tmp;

    static final String[] PASSKEYS = {"4 2 7 1 9", "3 8 0 5 6", "1 1 2 3 5", "9 0 9 0 1", "6 4 2 0 8", "7 7 3 1 2"};

    /** One conversation: the passkey, filler turns, the question; returns the answer. */
    static String converse(ChatModel chat, String memoryId, String passkey) {
        chat.chat(PasskeyConversationTest.say(memoryId, PasskeyConversationTest.turnOne(passkey), 0));
        for (int t = 0; t < 3; t++) {
            chat.chat(PasskeyConversationTest.say(memoryId, PasskeyConversationTest.FILLER, 0));
        }
        return chat.chat(PasskeyConversationTest.say(memoryId, "<what-is-the-passkey>", 5)).aiMessage().text();
    }

    @Test
    void conversationsOnManyThreadsShareStepsAndAnswerAsEachAlone() throws Exception {
        List<String> alone = new ArrayList<>();
        try (EngramModel one = PasskeyConversationTest.open(tmp.resolve("alone"))) {
            for (int i = 0; i < PASSKEYS.length; i++) {
                alone.add(converse(one.chatModel(), "user" + i, PASSKEYS[i]));
            }
            assertEquals(0, one.sharedSteps(), "one at a time: nothing shared");
        }
        ExecutorService users = Executors.newFixedThreadPool(PASSKEYS.length + 1);
        Path state = tmp.resolve("together");
        // two conversations resident at most: the others are evicted, some while in a turn, and read back when used
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).stateDirectory(state)
                .promptFormat(PromptFormat.RAW).stepTokens(8).maxResidentConversations(2).build()) {
            CyclicBarrier start = new CyclicBarrier(PASSKEYS.length + 1);
            List<CompletableFuture<String>> answers = new ArrayList<>();
            for (int i = 0; i < PASSKEYS.length; i++) {
                int user = i;
                answers.add(CompletableFuture.supplyAsync(() -> {
                    await(start);
                    return converse(model.chatModel(), "user" + user, PASSKEYS[user]);
                }, users));
            }
            // a one-off request (no memory id) among them
            String question = PasskeyConversationTest.turnOne("5 5 1 2 9") + " " + PasskeyConversationTest.FILLER
                    + " <what-is-the-passkey>";
            CompletableFuture<String> oneOff = CompletableFuture.supplyAsync(() -> {
                await(start);
                return model.chatModel().chat(EngramModelTest.request(null, 5, dev.langchain4j.data.message.UserMessage.from(question)))
                        .aiMessage().text();
            }, users);
            for (int i = 0; i < PASSKEYS.length; i++) {
                assertEquals(alone.get(i), answers.get(i).get(120, TimeUnit.SECONDS), "user" + i);
            }
            assertEquals(EngramModelTest.greedyWords(model.engine(), model.engine().tokenizer().encode(question), 5),
                    oneOff.get(120, TimeUnit.SECONDS));
            assertTrue(model.sharedSteps() > 0, "requests that ran at once shared steps");
        } finally {
            users.shutdownNow();
        }
        // what each saved is its own conversation: asked again after a restart, as the one run alone is
        try (EngramModel restarted = PasskeyConversationTest.open(state);
             EngramModel restartedAlone = PasskeyConversationTest.open(tmp.resolve("alone"))) {
            for (int i = 0; i < PASSKEYS.length; i++) {
                var ask = PasskeyConversationTest.say("user" + i, "<what-is-the-passkey>", 5);
                assertEquals(restartedAlone.chatModel().chat(ask).aiMessage().text(), restarted.chatModel().chat(ask).aiMessage().text(),
                        "user" + i + " after a restart");
                assertEquals(restartedAlone.conversationTokens("user" + i), restarted.conversationTokens("user" + i));
            }
        }
    }

    @Test
    void turnsSentToOneConversationAtOnceEachRunWhole() throws Exception {
        ExecutorService users = Executors.newFixedThreadPool(4);
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW)
                .stepTokens(4).build()) {
            int perTurn = model.engine().tokenizer().encode(PasskeyConversationTest.FILLER).length;
            CyclicBarrier start = new CyclicBarrier(4);
            List<CompletableFuture<?>> turns = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                turns.add(CompletableFuture.runAsync(() -> {
                    await(start);
                    model.chatModel().chat(PasskeyConversationTest.say("carol", PasskeyConversationTest.FILLER, 0));
                }, users));
            }
            CompletableFuture.allOf(turns.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
            assertEquals(4L * perTurn, model.conversationTokens("carol"), "four whole turns, none lost or interleaved");
        } finally {
            users.shutdownNow();
        }
    }

    @Test
    void closeEndsTheRequestsGeneratingAndRefusesLaterOnes() throws Exception {
        ExecutorService users = Executors.newFixedThreadPool(2);
        EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW)
                .stepTokens(4).build();
        try {
            java.util.concurrent.CountDownLatch generating = new java.util.concurrent.CountDownLatch(2);
            List<CompletableFuture<EngramModelTest.Streamed>> streams = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                var request = EngramModelTest.request(null, 100_000, dev.langchain4j.data.message.UserMessage.from(
                        PasskeyConversationTest.turnOne(PASSKEYS[i])));
                streams.add(CompletableFuture.supplyAsync(() -> EngramModelTest.stream(model, request, generating::countDown), users));
            }
            assertTrue(generating.await(60, TimeUnit.SECONDS), "both generating");
            model.close();
            for (var f : streams) {
                EngramModelTest.Streamed s = f.get(60, TimeUnit.SECONDS);
                assertTrue(s.error() != null && s.error().getMessage().startsWith("closed"), String.valueOf(s.error()));
            }
            var later = assertThrows(IllegalStateException.class,
                    () -> model.chatModel().chat(EngramModelTest.request(null, 3, dev.langchain4j.data.message.UserMessage.from("."))));
            assertTrue(later.getMessage().contains("closed"), later.getMessage());
        } finally {
            users.shutdownNow();
            model.close();
        }
    }

    @Test
    void stepTokensOutOfRangeIsRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> EngramModel.builder().stepTokens(0));
        assertTrue(e.getMessage().contains("stepTokens") && e.getMessage().contains("1..65536"), e.getMessage());
    }

    private static void await(CyclicBarrier b) {
        try {
            b.await(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
