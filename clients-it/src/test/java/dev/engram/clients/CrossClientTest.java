package dev.engram.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.langchain4j.data.message.UserMessage;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.prompt.Prompt;

/** The three clients, one request: the same seed gives the same sample, whichever client sends it. */
class CrossClientTest {
    static final Engram engram = Engram.get();

    @Test
    void theSameSeedGivesTheSameTextThroughEveryClient() {
        String prompt = "the sky is";
        String openai = OpenAiJavaClientTest.alice.chat().completions().create(ChatCompletionCreateParams.builder().model(Engram.NAME)
                .addUserMessage(prompt).maxCompletionTokens(16).temperature(0.8).seed(20261204).build())
                .choices().get(0).message().content().orElseThrow();
        String langchain4j = LangChain4jOpenAiClientTest.chat(Engram.KEY_A).temperature(0.8).seed(20261204).maxTokens(16).build()
                .chat(UserMessage.from(prompt)).aiMessage().text();
        String spring = SpringAiClientTest.text(SpringAiClientTest.alice.call(new Prompt(prompt,
                SpringAiClientTest.options(Engram.KEY_A).temperature(0.8).seed(20261204).maxTokens(16).build())));
        assertEquals(engram.sampled(16, engram.chatPrompt(prompt), 0.8, 20261204), openai);
        assertEquals(openai, langchain4j);
        assertEquals(openai, spring);
    }
}
