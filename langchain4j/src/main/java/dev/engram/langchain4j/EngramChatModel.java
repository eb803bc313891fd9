package dev.engram.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;

/** {@link EngramModel#chatModel()}: a LangChain4j {@link ChatModel} answered in-process. */
public final class EngramChatModel implements ChatModel {
    private final EngramModel model;

    EngramChatModel(EngramModel model) {
        this.model = model;
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        return model.chat(request, null);
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return EngramChatRequestParameters.builder().build();
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }
}
