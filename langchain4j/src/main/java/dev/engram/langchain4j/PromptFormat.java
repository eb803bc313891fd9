package dev.engram.langchain4j;

/** How a turn's messages become the text fed to the model. */
public enum PromptFormat {
    /**
     * One line per message, {@code "{role}: {content}\n"} (roles system, user, assistant), then {@code "assistant: "};
     * after the reply a {@code "\n"} is fed. The format {@code engram serve} uses for a package without a chat template
     * (server/README.md, "Chat templates").
     */
    ROLE_LINES,
    /**
     * Each message's text exactly as given, tokenized on its own, nothing around it; the reply is fed as generated. For
     * models that are not chat models, such as the bundled passkey models, whose vocabulary has no role names.
     */
    RAW
}
