package dev.engram.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.engram.api.ConfigException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's chat template: the Jinja {@code chat_template} of its Hugging Face {@code tokenizer_config.json},
 * rendered with Jinjava (HubSpot's Jinja for the JVM) in the environment transformers uses for apply_chat_template:
 * {@code trim_blocks} and {@code lstrip_blocks} on, variables {@code messages} ([{role, content}]),
 * {@code add_generation_prompt} (true: the reply comes next), {@code bos_token}, {@code eos_token}, and the function
 * {@code raise_exception(message)}, which refuses the request with that message.
 */
final class ChatTemplate {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_OUTPUT_CHARS = 4 << 20;

    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    ChatTemplate(String template, String bosToken, String eosToken) {
        this.template = template;
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
                .withMaxOutputSize(MAX_OUTPUT_CHARS).build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
    }

    /** The template of {@code tokenizer_config.json}, or empty when the file has no {@code chat_template}. */
    static Optional<ChatTemplate> read(Path file) {
        JsonNode cfg;
        try {
            cfg = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ConfigException(file.toString(), List.of(file.getFileName() + ": cannot be read as JSON: " + e.getMessage()));
        }
        JsonNode t = cfg.get("chat_template");
        if (t == null || t.isNull()) {
            return Optional.empty();
        }
        String text = null;
        if (t.isTextual()) {
            text = t.asText();
        } else if (t.isArray()) { // named templates: [{name, template}], "default" is the chat one
            for (JsonNode named : t) {
                if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
                    text = named.get("template").asText();
                }
            }
        }
        if (text == null) {
            throw new ConfigException(file.toString(), List.of(file.getFileName() + ": 'chat_template' is " + abbreviate(t)
                    + "; valid: a Jinja string, or a list of {name, template} with a 'default' one"));
        }
        return Optional.of(new ChatTemplate(text, token(cfg.get("bos_token")), token(cfg.get("eos_token"))));
    }

    /** bos_token / eos_token: a string, or an AddedToken object {content: ...}. */
    private static String token(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        return n.isTextual() ? n.asText() : n.path("content").asText(null);
    }

    String bosToken() {
        return bosToken;
    }

    /** The prompt text for {@code messages} (each {role, content}), ready for the reply. */
    String render(List<Map<String, String>> messages) {
        Map<String, Object> context = new LinkedHashMap<>();
        context.put("messages", new ArrayList<>(messages));
        context.put("add_generation_prompt", true);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        REFUSAL.remove();
        RenderResult r;
        try {
            r = jinjava.renderForResult(template, context);
        } finally {
            String refusal = REFUSAL.get();
            REFUSAL.remove();
            if (refusal != null) {
                throw ApiError.invalid("messages", "the model's chat template refuses these messages: " + refusal);
            }
        }
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                // the package's fault, not the request's (a refusal by raise_exception is the 400 above)
                throw ApiError.internal("the model's chat template (tokenizer_config.json) failed: " + e.getMessage()
                        + (e.getLineno() > 0 ? " (line " + e.getLineno() + ")" : ""));
            }
        }
        return r.getOutput();
    }

    /** What raise_exception said during this thread's render (Jinjava reports the call's failure, not its message). */
    private static final ThreadLocal<String> REFUSAL = new ThreadLocal<>();

    /** {@code raise_exception(message)} in a template: the request is refused with the template's message. */
    public static String raiseException(String message) {
        REFUSAL.set(message);
        throw new IllegalArgumentException(message);
    }

    private static String abbreviate(JsonNode n) {
        String s = n.toString();
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }
}
