package dev.engram.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;
import java.util.Objects;

/**
 * LangChain4j's request parameters plus Engram's own: the {@code memoryId} that names the conversation (an Engram
 * sequence kept across calls and restarts; without one a request is answered from a fresh sequence and nothing is
 * kept) and a sampling {@code seed}.
 *
 * <p>In an AI service, {@code .chatRequestTransformer(EngramChatRequestParameters::withMemoryId)} passes each call's
 * {@code @MemoryId} (or {@code "default"}) into the request.
 */
public class EngramChatRequestParameters extends DefaultChatRequestParameters {
    private final Object memoryId;
    private final Long seed;

    private EngramChatRequestParameters(Builder builder) {
        super(builder);
        this.memoryId = builder.memoryId;
        this.seed = builder.seed;
    }

    /** The conversation this request continues, or null for a stateless request. */
    public Object memoryId() {
        return memoryId;
    }

    /** The sampling seed (temperature above 0), or null for a random one. */
    public Long seed() {
        return seed;
    }

    /** {@code request} with {@code memoryId} set and everything else kept: an AI service's chatRequestTransformer. */
    public static ChatRequest withMemoryId(ChatRequest request, Object memoryId) {
        return request.toBuilder().parameters(builder().overrideWith(request.parameters()).memoryId(memoryId).build()).build();
    }

    @Override
    public EngramChatRequestParameters overrideWith(ChatRequestParameters that) {
        return builder().overrideWith(this).overrideWith(that).build();
    }

    @Override
    public EngramChatRequestParameters defaultedBy(ChatRequestParameters that) {
        return builder().overrideWith(that).overrideWith(this).build();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EngramChatRequestParameters that && super.equals(o) && Objects.equals(memoryId, that.memoryId)
                && Objects.equals(seed, that.seed);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), memoryId, seed);
    }

    @Override
    public String toString() {
        return "EngramChatRequestParameters{memoryId=" + memoryId + ", seed=" + seed + ", " + super.toString() + "}";
    }

    public static Builder builder() {
        return new Builder();
    }

    public static final class Builder extends DefaultChatRequestParameters.Builder<Builder> {
        private Object memoryId;
        private Long seed;

        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof EngramChatRequestParameters e) {
                memoryId(e.memoryId != null ? e.memoryId : memoryId);
                seed(e.seed != null ? e.seed : seed);
            }
            return this;
        }

        public Builder memoryId(Object memoryId) {
            this.memoryId = memoryId;
            return this;
        }

        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        @Override
        public EngramChatRequestParameters build() {
            return new EngramChatRequestParameters(this);
        }
    }
}
