package dev.engram.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.runtime.Engine;
import dev.engram.runtime.GenerationParams;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The in-process model's formats, streaming, stop sequences, refusals and saved state, on the bundled passkey-infini. */
class EngramModelTest {
    @TempDir
    Path tmp;

    static ChatRequest request(Object memoryId, int maxTokens, dev.langchain4j.data.message.ChatMessage... messages) {
        return ChatRequest.builder().messages(messages)
                .parameters(EngramChatRequestParameters.builder().memoryId(memoryId).maxOutputTokens(maxTokens).build()).build();
    }

    record Streamed(List<String> pieces, ChatResponse response, Throwable error) {
    }

    static Streamed stream(EngramModel model, ChatRequest request) {
        return stream(model, request, () -> { });
    }

    /** As {@link #stream(EngramModel, ChatRequest)}; {@code firstPiece} runs when the first piece of text arrives. */
    static Streamed stream(EngramModel model, ChatRequest request, Runnable firstPiece) {
        List<String> pieces = new ArrayList<>();
        AtomicReference<ChatResponse> done = new AtomicReference<>();
        AtomicReference<Throwable> error = new AtomicReference<>();
        model.streamingChatModel().chat(request, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                if (pieces.isEmpty()) {
                    firstPiece.run();
                }
                pieces.add(partial);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.set(response);
            }

            @Override
            public void onError(Throwable e) {
                error.set(e);
            }
        });
        return new Streamed(pieces, done.get(), error.get());
    }

    static String greedyWords(Engine engine, int[] ids, int max) {
        return PasskeyConversationTest.words(engine, engine.generate(engine.newSequence(), ids, GenerationParams.greedy(max), null));
    }

    @Test
    void streamingEqualsTheWholeAnswerAndHoldsBackAStopSequence() {
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW).build()) {
            String prompt = PasskeyConversationTest.turnOne("1 2 3 4 5") + " <what-is-the-passkey>";
            String expected = greedyWords(model.engine(), model.engine().tokenizer().encode(prompt), 7);
            ChatResponse whole = model.chatModel().chat(request(null, 7, UserMessage.from(prompt)));
            assertEquals(expected, whole.aiMessage().text());
            assertEquals(FinishReason.LENGTH, whole.finishReason());
            Streamed s = stream(model, request(null, 7, UserMessage.from(prompt)));
            assertEquals(expected, String.join("", s.pieces()));
            assertTrue(s.pieces().size() >= 7, "a piece per token: " + s.pieces());
            assertEquals(expected, s.response().aiMessage().text());

            String[] words = expected.split(" ");
            String stop = " " + words[2];
            ChatRequest stopped = ChatRequest.builder().messages(UserMessage.from(prompt)).parameters(EngramChatRequestParameters
                    .builder().maxOutputTokens(7).stopSequences(stop).build()).build();
            Streamed cut = stream(model, stopped);
            assertEquals(words[0] + " " + words[1], cut.response().aiMessage().text());
            assertEquals(words[0] + " " + words[1], String.join("", cut.pieces()), "no part of the stop sequence is streamed");
            assertEquals(FinishReason.STOP, cut.response().finishReason());
        }
    }

    @Test
    void roleLinesAreTheServersFormatAndAnUnchangedSystemMessageIsFedOnce() {
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).build()) {
            // "system: the sky\nuser: the grass\nassistant: " by the passkey tokenizer: role names are not passkey
            // words, so each is <unk> (13); the=15 sky=19 grass=16 (models/README.md "The task")
            int[] ids = {13, 15, 19, 13, 15, 16, 13};
            ChatResponse r = model.chatModel().chat(request("c", 4, SystemMessage.from("the sky"), UserMessage.from("the grass")));
            assertEquals(ids.length, r.tokenUsage().inputTokenCount());
            assertEquals(greedyWords(model.engine(), ids, 4), r.aiMessage().text());
            // the second turn, as a chat memory sends it: only "user: the sky\nassistant: " is new (3 tokens)
            ChatResponse second = model.chatModel().chat(request("c", 4, SystemMessage.from("the sky"), UserMessage.from("the grass"),
                    r.aiMessage(), UserMessage.from("the sky")));
            assertEquals(4, second.tokenUsage().inputTokenCount());
            assertEquals(7 + 4 + 4 + 4, model.conversationTokens("c"));
            // a changed system message is fed again
            assertEquals(3 + 4, model.chatModel().chat(request("c", 0, SystemMessage.from("the sun"), UserMessage.from("the sky")))
                    .tokenUsage().inputTokenCount());
        }
    }

    @Test
    void badRequestsAreRefusedNamingTheFieldAndChangeNothing() {
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW).build()) {
            model.chatModel().chat(request("x", 0, UserMessage.from("<bos> the sky is blue .")));
            long before = model.conversationTokens("x");
            ChatRequest hot = ChatRequest.builder().messages(UserMessage.from("the"))
                    .parameters(EngramChatRequestParameters.builder().memoryId("x").temperature(3.0).build()).build();
            InvalidRequestException t = assertThrows(InvalidRequestException.class, () -> model.chatModel().chat(hot));
            assertTrue(t.getMessage().startsWith("temperature is 3.0; valid: [0, 2]"), t.getMessage());
            ChatRequest penalised = ChatRequest.builder().messages(UserMessage.from("the"))
                    .parameters(EngramChatRequestParameters.builder().memoryId("x").frequencyPenalty(2.5).build()).build();
            assertTrue(assertThrows(InvalidRequestException.class, () -> model.chatModel().chat(penalised)).getMessage()
                    .startsWith("frequencyPenalty is 2.5; valid: [-2.0, 2.0]"));
            assertTrue(assertThrows(InvalidRequestException.class, () -> model.chatModel().chat(request("x", -1, UserMessage.from("the"))))
                    .getMessage().startsWith("maxOutputTokens is -1"));
            ChatRequest tools = ChatRequest.builder().messages(UserMessage.from("the")).parameters(EngramChatRequestParameters.builder()
                    .memoryId("x").toolSpecifications(ToolSpecification.builder().name("f").build()).build()).build();
            assertTrue(assertThrows(UnsupportedFeatureException.class, () -> model.chatModel().chat(tools)).getMessage()
                    .startsWith("toolSpecifications"));
            UserMessage image = UserMessage.from(TextContent.from("the"), ImageContent.from("https://example.invalid/x.png"));
            assertTrue(assertThrows(UnsupportedFeatureException.class, () -> model.chatModel().chat(request("x", 1, image)))
                    .getMessage().startsWith("messages[0].contents[1] is IMAGE"));
            Streamed s = stream(model, hot);
            assertTrue(s.error() instanceof InvalidRequestException, String.valueOf(s.error()));
            assertEquals(before, model.conversationTokens("x"), "a refused request feeds nothing");
        }
    }

    @Test
    void aDamagedConversationFileIsReportedAndCanBeForgotten() throws Exception {
        Path state = tmp.resolve("state");
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW)
                .stateDirectory(state).build()) {
            model.chatModel().chat(request("dora", 2, UserMessage.from("<bos> the sky is blue .")));
        }
        try (var files = Files.list(state)) {
            Path f = files.findFirst().orElseThrow();
            byte[] b = Files.readAllBytes(f);
            b[b.length / 2] ^= 1;
            Files.write(f, b);
        }
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW)
                .stateDirectory(state).build()) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> model.chatModel().chat(request("dora", 2, UserMessage.from("the"))));
            assertTrue(e.getMessage().contains("conversation 'dora'") && e.getMessage().contains("checksum"), e.getMessage());
            assertTrue(model.forget("dora"));
            assertEquals(1, model.chatModel().chat(request("dora", 0, UserMessage.from("the"))).tokenUsage().inputTokenCount());
            assertEquals(1, model.conversationTokens("dora"));
        }
    }

    /**
     * A conversation file is one state stream of kind "conversation" that ends with the sequence's own fields; a file of
     * version 1 (magic ENGRAMLC, before the state format) is still read, and the next turn rewrites it in the format.
     */
    @Test
    void conversationFilesAreStateStreamsAndVersionOneFilesStillLoad() throws Exception {
        Path state = tmp.resolve("state");
        long tokens;
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW)
                .stateDirectory(state).build()) {
            model.chatModel().chat(request("erin", 2, SystemMessage.from("<bos>"), UserMessage.from("the sky is blue .")));
            tokens = model.conversationTokens("erin");
        }
        Path f;
        try (var files = Files.list(state)) {
            f = files.findFirst().orElseThrow();
        }
        String system;
        byte[] sequence;
        try (var in = Files.newInputStream(f);
             var engine = new dev.engram.runtime.EngineLoader().systemOverrides(false).load(PasskeyConversationTest.MODEL)) {
            dev.engram.api.StateStream.Reader r = new dev.engram.api.StateStream.Reader(in, "conversation", "test");
            assertEquals("erin", r.readString("memory id"));
            system = r.readBoolean("flag") ? r.readString("system") : null;
            var seq = engine.newSequence();
            seq.loadFields(r); // the sequence's own fields follow, to the stream's one checksum
            assertEquals(tokens, seq.position(), "the embedded sequence holds the conversation's tokens");
            sequence = seq.snapshot();
        }
        assertEquals("<bos>", system);
        // the same conversation written by hand in version 1's layout
        var bytes = new java.io.ByteArrayOutputStream();
        try (var out = new java.io.DataOutputStream(bytes)) {
            out.writeBytes("ENGRAMLC");
            out.writeInt(1);
            out.writeUTF("erin");
            out.writeBoolean(true);
            out.writeUTF(system);
            out.writeInt(sequence.length);
            out.write(sequence);
        }
        var crc = new java.util.zip.CRC32C();
        crc.update(bytes.toByteArray());
        bytes.write(java.nio.ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
        Files.write(f, bytes.toByteArray());
        try (EngramModel model = EngramModel.builder().model(PasskeyConversationTest.MODEL).promptFormat(PromptFormat.RAW)
                .stateDirectory(state).build()) {
            assertEquals(tokens, model.conversationTokens("erin"), "the version 1 file is read back");
            model.chatModel().chat(request("erin", 1, SystemMessage.from("<bos>"), UserMessage.from("the")));
            assertTrue(model.conversationTokens("erin") > tokens);
        }
        assertEquals("ENGRAMST", new String(Files.readAllBytes(f), 0, 8, java.nio.charset.StandardCharsets.US_ASCII),
                "the next save writes the state format");
    }
}
