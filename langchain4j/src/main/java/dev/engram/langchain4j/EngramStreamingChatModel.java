package dev.engram.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;

/**
 * {@link EngramModel#streamingChatModel()}: a LangChain4j {@link StreamingChatModel} answered in-process, on the
 * calling thread (its generation sharing steps with other callers'): {@code onPartialResponse} gets each piece of text
 * as soon as it is stable, and {@code onCompleteResponse} (or {@code onError}) is called before {@code chat} returns.
 */
public final class EngramStreamingChatModel implements StreamingChatModel {
    private final EngramModel model;

    EngramStreamingChatModel(EngramModel model) {
        this.model = model;
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        ChatResponse response;
        try {
            response = model.chat(request, handler::onPartialResponse);
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        handler.onCompleteResponse(response);
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
