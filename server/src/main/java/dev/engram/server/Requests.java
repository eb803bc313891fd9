package dev.engram.server;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.runtime.GenerationParams;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import dev.engram.runtime.text.Tokenizer;

/** Strict parsing of request bodies: every problem is a 400 naming the field (OpenAI's error shape). */
final class Requests {
    static final ObjectMapper MAPPER = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private static final Set<String> COMMON = Set.of("model", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop",
            "stream", "stream_options", "n", "logprobs", "presence_penalty", "frequency_penalty", "logit_bias", "user",
            "session", "session_append",
            // OpenAI fields accepted and ignored: none of them can change the answer (server/README.md, "Request fields")
            "store", "metadata", "service_tier", "prompt_cache_key", "safety_identifier",
            // OpenAI fields checked below: honoured where they ask for what Engram does, refused naming the field where not
            "response_format", "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call", "modalities",
            "audio", "prediction", "reasoning_effort", "web_search_options", "verbosity");
    /** Fields that, set to anything but their neutral value, would ask for what Engram does not do: refused, not ignored. */
    private static final Set<String> UNSUPPORTED = Set.of("tools", "functions", "function_call", "audio", "prediction",
            "reasoning_effort", "web_search_options", "verbosity");
    private static final Set<String> COMPLETION_ONLY = Set.of("prompt", "best_of", "echo", "suffix");
    private static final Set<String> CHAT_ONLY = Set.of("messages", "max_completion_tokens", "top_logprobs");
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    private Requests() {
    }

    /** A completion or chat completion request, checked and tokenized. */
    /**
     * @param logprobs -1: no log-probabilities; else each token's log-probability with this many most likely
     *                 alternatives (legacy completions: {@code logprobs} 0-5; chat: {@code logprobs: true} with
     *                 {@code top_logprobs} 0-20)
     * @param echo     legacy completions: the prompt's tokens come back first, scored (the first one has no
     *                 log-probability: nothing precedes it)
     * @param frequencyPenalty OpenAI's {@code frequency_penalty} in [-2, 2]; {@code presencePenalty} likewise
     * @param logitBias token id -> bias in [-100, 100] ({@code logit_bias})
     */
    record Completion(boolean chat, int[] prompt, int maxTokens, double temperature, double topP, int topK, long seed,
                      List<String> stop, boolean stream, boolean includeUsage, String session, boolean sessionAppend,
                      int logprobs, boolean echo, double frequencyPenalty, double presencePenalty,
                      Map<Integer, Double> logitBias) {
    }

    /** The most alternatives a request may ask for: OpenAI's limits (5 for legacy completions, 20 for chat). */
    static final int MAX_LOGPROBS = 5;
    static final int MAX_TOP_LOGPROBS = 20;

    static ObjectNode object(byte[] body, boolean emptyAllowed) {
        if (body.length == 0) {
            if (emptyAllowed) {
                return MAPPER.createObjectNode();
            }
            throw ApiError.invalid(null, "the request body is empty; send a JSON object");
        }
        utf8(body);
        JsonNode node;
        try {
            node = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiError.invalid(null, "the request body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ApiError.invalid(null, "the request body cannot be read: " + e.getMessage());
        }
        if (node == null || !node.isObject()) {
            throw ApiError.invalid(null, "the request body must be a JSON object");
        }
        return (ObjectNode) node;
    }

    /**
     * Refuses a JSON body that is not valid UTF-8 (RFC 8259 requires it; Jackson alone accepts overlong forms such as
     * C0 AF) with a 400 naming the field whose string holds the bad bytes.
     */
    static void utf8(byte[] body) {
        int bad = firstInvalidUtf8(body);
        if (bad >= 0) {
            String field = fieldAt(body, bad);
            throw ApiError.invalid(field, (field == null ? "the request body" : "'" + field + "'") + " is not valid UTF-8: "
                    + invalidBytes(body, bad) + " at byte " + bad + " of the body; send text encoded as UTF-8");
        }
    }

    /** A text/plain body as a string; invalid UTF-8 is a 400 naming {@code field}. */
    static String utf8Text(byte[] body, String field) {
        int bad = firstInvalidUtf8(body);
        if (bad >= 0) {
            throw ApiError.invalid(field, "the text/plain body is not valid UTF-8: " + invalidBytes(body, bad) + " at byte " + bad
                    + "; send text encoded as UTF-8");
        }
        return new String(body, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms and surrogates included), or -1. */
    static int firstInvalidUtf8(byte[] b) {
        java.nio.charset.CharsetDecoder d = java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
        java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(b);
        java.nio.CharBuffer out = java.nio.CharBuffer.allocate(Math.min(b.length, 8192) + 2);
        while (true) {
            java.nio.charset.CoderResult r = d.decode(in, out, true);
            if (r.isError()) {
                return in.position();
            }
            if (r.isUnderflow()) {
                r = d.flush(out);
                return r.isError() ? in.position() : -1;
            }
            out.clear(); // overflow: keep going; only the position matters
        }
    }

    private static String invalidBytes(byte[] b, int at) {
        StringBuilder sb = new StringBuilder("the bytes");
        for (int i = at; i < Math.min(b.length, at + 4); i++) {
            sb.append(String.format(" %02X", b[i] & 0xff));
        }
        return sb.toString();
    }

    /** The field (as "messages[0].content") whose JSON string holds byte {@code offset}, or null if none can be named. */
    private static String fieldAt(byte[] body, int offset) {
        String last = null;
        try (JsonParser p = MAPPER.getFactory().createParser(body)) {
            while (true) {
                String before = path(p.getParsingContext());
                com.fasterxml.jackson.core.JsonToken t;
                try {
                    t = p.nextToken();
                } catch (IOException e) {
                    return before != null ? before : last; // the parser stopped on the bad bytes inside this value
                }
                if (t == null || p.currentTokenLocation().getByteOffset() > offset) {
                    return last;
                }
                if (t == com.fasterxml.jackson.core.JsonToken.VALUE_STRING || t == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                    last = path(p.getParsingContext());
                }
            }
        } catch (IOException e) {
            return last;
        }
    }

    private static String path(com.fasterxml.jackson.core.JsonStreamContext c) {
        java.util.ArrayDeque<String> parts = new java.util.ArrayDeque<>();
        for (; c != null && !c.inRoot(); c = c.getParent()) {
            if (c.inArray()) {
                parts.push("[" + Math.max(0, c.getCurrentIndex()) + "]");
            } else if (c.getCurrentName() != null) {
                parts.push("." + c.getCurrentName());
            }
        }
        String s = String.join("", parts);
        s = s.startsWith(".") ? s.substring(1) : s;
        return s.isEmpty() ? null : s;
    }

    static void onlyKnown(ObjectNode body, Set<String> a, Set<String> b) {
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!a.contains(f) && !b.contains(f)) {
                throw ApiError.invalid(f, "Unrecognized request argument supplied: " + f);
            }
        }
    }

    static JsonNode field(ObjectNode body, String name) {
        JsonNode n = body.get(name);
        return n == null || n.isNull() ? null : n;
    }

    static Completion completion(ObjectNode body, boolean chat, String modelName, Tokenizer tokenizer, int vocab,
                                 ServeOptions o) {
        return completion(body, chat, modelName, tokenizer, vocab, o, java.util.Optional.empty());
    }

    static Completion completion(ObjectNode body, boolean chat, String modelName, Tokenizer tokenizer, int vocab,
                                 ServeOptions o, java.util.Optional<ChatTemplate> template) {
        onlyKnown(body, COMMON, chat ? CHAT_ONLY : COMPLETION_ONLY);
        JsonNode model = field(body, "model");
        if (model == null || !model.isTextual()) {
            throw ApiError.invalid("model", "'model' is required: a string; this server serves '" + modelName + "'");
        }
        if (!model.asText().equals(modelName)) {
            throw new ApiError(404, "invalid_request_error", "model", "model_not_found",
                    "The model '" + model.asText() + "' does not exist; this server serves '" + modelName + "'", null);
        }
        // A prompt that continues a session is not the start of a sequence: no leading special tokens.
        boolean startsSequence = field(body, "session") == null;
        int[] prompt = chat ? messages(body, tokenizer, startsSequence, template) : prompt(body, tokenizer, vocab, startsSequence);
        int maxTokens = o.defaultMaxTokens();
        String maxField = chat && field(body, "max_completion_tokens") != null ? "max_completion_tokens" : "max_tokens";
        if (chat && field(body, "max_completion_tokens") != null && field(body, "max_tokens") != null) {
            throw ApiError.invalid("max_completion_tokens", "give max_tokens or max_completion_tokens, not both");
        }
        if (field(body, maxField) != null) {
            maxTokens = integer(body, maxField, 0, o.maxTokens());
        }
        double temperature = number(body, "temperature", 1, 0, 2);
        double topP = number(body, "top_p", 1, 0, 1);
        if (!(topP > 0)) {
            throw ApiError.invalid("top_p", "top_p is 0; valid: (0, 1]");
        }
        int topK = field(body, "top_k") == null ? 0 : integer(body, "top_k", 0, Integer.MAX_VALUE);
        long seed;
        JsonNode s = field(body, "seed");
        if (s == null) {
            seed = ThreadLocalRandom.current().nextLong();
        } else if (!s.isIntegralNumber() || !s.canConvertToLong()) {
            throw ApiError.invalid("seed", "seed is " + s + "; valid: an integer (64-bit)");
        } else {
            seed = s.asLong();
        }
        List<String> stop = stop(body);
        boolean stream = bool(body, "stream", false);
        boolean includeUsage = false;
        JsonNode so = field(body, "stream_options");
        if (so != null) {
            if (!so.isObject()) {
                throw ApiError.invalid("stream_options", "stream_options must be an object like {\"include_usage\": true}");
            }
            for (Iterator<String> it = so.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (f.equals("include_obfuscation")) {
                    bool((ObjectNode) so, f, false); // padding against side channels: our chunks have none to hide
                    continue;
                }
                if (!f.equals("include_usage")) {
                    throw ApiError.invalid("stream_options." + f, "Unrecognized request argument supplied: stream_options." + f);
                }
            }
            includeUsage = bool((ObjectNode) so, "include_usage", false);
            if (!stream) {
                throw ApiError.invalid("stream_options", "stream_options is only allowed when stream is true");
            }
        }
        exactly(body, "n", 1);
        openAiFields(body);
        boolean echo = false;
        if (!chat) {
            exactly(body, "best_of", 1);
            echo = bool(body, "echo", false);
            if (field(body, "suffix") != null) {
                throw ApiError.invalid("suffix", "suffix is not supported; valid: null");
            }
        }
        int logprobs = -1;
        JsonNode lp = field(body, "logprobs");
        if (chat) {
            boolean on = bool(body, "logprobs", false);
            JsonNode top = field(body, "top_logprobs");
            if (top != null && !on) {
                throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs: true");
            }
            logprobs = !on ? -1 : top == null ? 0 : integer(body, "top_logprobs", 0, MAX_TOP_LOGPROBS);
        } else if (lp != null) {
            logprobs = integer(body, "logprobs", 0, MAX_LOGPROBS);
        }
        double presencePenalty = number(body, "presence_penalty", 0, -GenerationParams.MAX_PENALTY, GenerationParams.MAX_PENALTY);
        double frequencyPenalty = number(body, "frequency_penalty", 0, -GenerationParams.MAX_PENALTY, GenerationParams.MAX_PENALTY);
        Map<Integer, Double> logitBias = logitBias(body, vocab);
        JsonNode user = field(body, "user");
        if (user != null && !user.isTextual()) {
            throw ApiError.invalid("user", "user must be a string");
        }
        String session = null;
        JsonNode sn = field(body, "session");
        if (sn != null) {
            if (!sn.isTextual() || !SessionStore.ID.matcher(sn.asText()).matches()) {
                throw ApiError.invalid("session", "session must be a session id string as returned by POST /v1/sessions");
            }
            session = sn.asText();
        }
        boolean sessionAppend = bool(body, "session_append", false);
        if (sessionAppend && session == null) {
            throw ApiError.invalid("session_append", "session_append needs a session");
        }
        if (prompt.length == 0) {
            throw ApiError.invalid(chat ? "messages" : "prompt", (chat ? "messages" : "prompt")
                    + " has no tokens; valid: at least one token");
        }
        return new Completion(chat, prompt, maxTokens, temperature, topP, topK, seed, stop, stream, includeUsage, session,
                sessionAppend, logprobs, echo, frequencyPenalty, presencePenalty, logitBias);
    }

    /** OpenAI's {@code logit_bias}: {"token id": bias in [-100, 100], ...}; null or {} for none. */
    private static Map<Integer, Double> logitBias(ObjectNode body, int vocab) {
        JsonNode node = field(body, "logit_bias");
        if (node == null) {
            return Map.of();
        }
        if (!node.isObject()) {
            throw ApiError.invalid("logit_bias", "logit_bias must be an object of token id -> bias; valid: "
                    + "{\"50256\": -100, ...} with ids in [0, " + (vocab - 1) + "] and biases in [" + -GenerationParams.MAX_LOGIT_BIAS + ", "
                    + GenerationParams.MAX_LOGIT_BIAS + "]");
        }
        Map<Integer, Double> bias = new java.util.LinkedHashMap<>();
        for (var e : node.properties()) {
            int id;
            try {
                id = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                id = -1;
            }
            if (id < 0 || id >= vocab) {
                throw ApiError.invalid("logit_bias", "logit_bias key '" + e.getKey() + "' is not a token id; valid: "
                        + "ids in [0, " + (vocab - 1) + "] as strings");
            }
            if (!e.getValue().isNumber() || !(Math.abs(e.getValue().asDouble()) <= GenerationParams.MAX_LOGIT_BIAS)) {
                throw ApiError.invalid("logit_bias", "logit_bias[" + id + "] is " + e.getValue() + "; valid: a number in "
                        + "[" + -GenerationParams.MAX_LOGIT_BIAS + ", " + GenerationParams.MAX_LOGIT_BIAS + "]");
            }
            bias.put(id, e.getValue().asDouble());
        }
        return bias;
    }

    private static int[] prompt(ObjectNode body, Tokenizer tokenizer, int vocab, boolean startsSequence) {
        JsonNode p = field(body, "prompt");
        if (p == null) {
            throw ApiError.invalid("prompt", "'prompt' is required: a string, an array of token ids, or an array with one of those");
        }
        if (p.isTextual()) {
            return tokenizer.encode(p.asText(), startsSequence);
        }
        if (!p.isArray()) {
            throw ApiError.invalid("prompt", "prompt must be a string or an array; it is " + p.getNodeType().toString().toLowerCase());
        }
        if (p.isEmpty()) {
            throw ApiError.invalid("prompt", "prompt is an empty array; valid: at least one token");
        }
        JsonNode first = p.get(0);
        if (first.isTextual() || first.isArray()) {
            if (p.size() != 1) {
                throw ApiError.invalid("prompt", "prompt has " + p.size() + " prompts; this server takes one prompt per request");
            }
            return first.isTextual() ? tokenizer.encode(first.asText(), startsSequence) : tokenIds(first, "prompt[0]", vocab);
        }
        return tokenIds(p, "prompt", vocab);
    }

    static int[] tokenIds(JsonNode arr, String field, int vocab) {
        int[] ids = new int[arr.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = arr.get(i);
            if (!t.isIntegralNumber() || !t.canConvertToInt() || t.asInt() < 0 || t.asInt() >= vocab) {
                throw ApiError.invalid(field + "[" + i + "]", field + "[" + i + "] is " + t + "; valid: a token id in [0, "
                        + (vocab - 1) + "] (vocabulary size " + vocab + ")");
            }
            ids[i] = t.asInt();
        }
        return ids;
    }

    /**
     * Chat messages rendered by the package's chat template (tokenizer_config.json) when it has one, and tokenized
     * without the tokenizer's own special tokens (the template writes them, as transformers' apply_chat_template
     * does; a session's continuation drops a leading bos_token). Without a template: one line per message
     * "{role}: {content}\n", then "assistant: " (documented in the README).
     */
    private static int[] messages(ObjectNode body, Tokenizer tokenizer, boolean startsSequence,
                                  java.util.Optional<ChatTemplate> template) {
        JsonNode m = field(body, "messages");
        if (m == null || !m.isArray() || m.isEmpty()) {
            throw ApiError.invalid("messages", "'messages' is required: a non-empty array of {role, content}");
        }
        StringBuilder sb = new StringBuilder();
        List<Map<String, String>> rendered = new ArrayList<>();
        for (int i = 0; i < m.size(); i++) {
            String at = "messages[" + i + "]";
            JsonNode msg = m.get(i);
            if (!msg.isObject()) {
                throw ApiError.invalid(at, at + " must be an object {role, content}");
            }
            JsonNode role = msg.get("role");
            if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
                throw ApiError.invalid(at + ".role", at + ".role is " + role + "; valid: one of " + new java.util.TreeSet<>(ROLES));
            }
            for (Iterator<String> it = msg.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!Set.of("role", "content", "name", "tool_call_id").contains(f)) {
                    throw ApiError.invalid(at + "." + f, "Unrecognized request argument supplied: " + at + "." + f);
                }
            }
            JsonNode content = msg.get("content");
            String text;
            if (content != null && content.isTextual()) {
                text = content.asText();
            } else if (content != null && content.isArray()) {
                StringBuilder parts = new StringBuilder();
                for (int j = 0; j < content.size(); j++) {
                    JsonNode part = content.get(j);
                    if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                        throw ApiError.invalid(at + ".content[" + j + "]", at + ".content[" + j
                                + "] must be {\"type\": \"text\", \"text\": \"...\"} (only text parts are supported)");
                    }
                    parts.append(part.get("text").asText());
                }
                text = parts.toString();
            } else {
                throw ApiError.invalid(at + ".content", at + ".content must be a string or an array of text parts");
            }
            sb.append(role.asText()).append(": ").append(text).append('\n');
            rendered.add(Map.of("role", role.asText(), "content", text));
        }
        if (template.isPresent()) {
            String prompt = template.get().render(rendered);
            String bos = template.get().bosToken();
            if (!startsSequence && !bos.isEmpty() && prompt.startsWith(bos)) {
                prompt = prompt.substring(bos.length());
            }
            return tokenizer.encode(prompt, false);
        }
        sb.append("assistant: ");
        return tokenizer.encode(sb.toString(), startsSequence);
    }

    private static List<String> stop(ObjectNode body) {
        JsonNode s = field(body, "stop");
        List<String> stop = new ArrayList<>();
        if (s == null) {
            return stop;
        }
        if (s.isTextual()) {
            stop.add(s.asText());
        } else if (s.isArray() && s.size() <= 4) {
            for (int i = 0; i < s.size(); i++) {
                if (!s.get(i).isTextual()) {
                    throw ApiError.invalid("stop[" + i + "]", "stop[" + i + "] must be a string");
                }
                stop.add(s.get(i).asText());
            }
        } else {
            throw ApiError.invalid("stop", "stop must be a string or an array of at most 4 strings");
        }
        for (String x : stop) {
            if (x.isEmpty()) {
                throw ApiError.invalid("stop", "stop sequences must not be empty");
            }
        }
        return stop;
    }

    /**
     * The OpenAI request fields beyond sampling: the ignorable ones must at least have their type; the rest are
     * honoured when they ask for plain text without tools, and refused naming the field otherwise.
     */
    private static void openAiFields(ObjectNode body) {
        for (String f : UNSUPPORTED) {
            if (field(body, f) != null) {
                throw ApiError.invalid(f, f + " is not supported by engram serve (a text model without tools); valid: absent or null");
            }
        }
        JsonNode choice = field(body, "tool_choice");
        if (choice != null && !(choice.isTextual() && choice.asText().equals("none"))) {
            throw ApiError.invalid("tool_choice", "tool_choice is " + choice + "; valid: \"none\" (no tools are supported)");
        }
        bool(body, "parallel_tool_calls", false); // without tools it changes nothing; the type is still checked
        bool(body, "store", false);
        for (String text : List.of("service_tier", "prompt_cache_key", "safety_identifier")) {
            JsonNode n = field(body, text);
            if (n != null && !n.isTextual()) {
                throw ApiError.invalid(text, text + " is " + n + "; valid: a string");
            }
        }
        JsonNode metadata = field(body, "metadata");
        if (metadata != null && !metadata.isObject()) {
            throw ApiError.invalid("metadata", "metadata is " + metadata + "; valid: an object of string values");
        }
        JsonNode format = field(body, "response_format");
        if (format != null) {
            String type = format.isObject() ? format.path("type").asText("") : "";
            if (!type.equals("text")) {
                throw ApiError.invalid("response_format", "response_format is " + format + "; valid: {\"type\": \"text\"}"
                        + " (JSON modes and schemas are not supported)");
            }
        }
        JsonNode modalities = field(body, "modalities");
        if (modalities != null && !(modalities.isArray() && modalities.size() == 1 && "text".equals(modalities.get(0).asText()))) {
            throw ApiError.invalid("modalities", "modalities is " + modalities + "; valid: [\"text\"]");
        }
    }

    static int integer(ObjectNode body, String name, int min, int max) {
        JsonNode n = field(body, name);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < min || n.asInt() > max) {
            throw ApiError.invalid(name, name + " is " + n + "; valid: an integer in [" + min + ", " + max + "]");
        }
        return n.asInt();
    }

    static double number(ObjectNode body, String name, double dflt, double min, double max) {
        JsonNode n = field(body, name);
        if (n == null) {
            return dflt;
        }
        if (!n.isNumber() || !Double.isFinite(n.asDouble()) || n.asDouble() < min || n.asDouble() > max) {
            throw ApiError.invalid(name, name + " is " + n + "; valid: a number in [" + min + ", " + max + "]");
        }
        return n.asDouble();
    }

    static boolean bool(ObjectNode body, String name, boolean dflt) {
        JsonNode n = field(body, name);
        if (n == null) {
            return dflt;
        }
        if (!n.isBoolean()) {
            throw ApiError.invalid(name, name + " is " + n + "; valid: true or false");
        }
        return n.asBoolean();
    }

    private static void exactly(ObjectNode body, String name, int value) {
        JsonNode n = field(body, name);
        if (n != null && !(n.isIntegralNumber() && n.asInt() == value)) {
            throw ApiError.invalid(name, name + " is " + n + "; this server supports only " + value);
        }
    }

    /**
     * A session strategy: {@code {"layers.default.memory": "infini", "layers.1.memory.update": "delta"}}
     * (dotted config paths under {@code layers}, scalar values) or a string, shorthand for
     * {@code {"layers.default.memory": <string>}}.
     */
    static Map<String, String> strategy(ObjectNode body) {
        onlyKnown(body, Set.of("strategy"), Set.of());
        JsonNode s = field(body, "strategy");
        Map<String, String> out = new LinkedHashMap<>();
        if (s == null) {
            return out;
        }
        if (s.isTextual()) {
            if (s.asText().isBlank()) {
                throw ApiError.invalid("strategy", "strategy is blank; valid: a memory provider name or an object of config paths");
            }
            out.put("layers.default.memory", s.asText());
            return out;
        }
        if (!s.isObject() || s.size() > 32) {
            throw ApiError.invalid("strategy", "strategy must be a provider name or an object of at most 32 \"layers.<layer>.<key>...\": value entries");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = s.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String path = e.getKey();
            String at = "strategy." + path;
            String[] parts = path.split("\\.", -1);
            boolean ok = parts.length >= 3 && parts[0].equals("layers") && path.length() <= 200;
            for (String p : parts) {
                ok &= p.matches("[A-Za-z0-9_-]+");
            }
            if (!ok) {
                throw ApiError.invalid(at, "'" + path + "' is not a config path; valid: layers.<layer|default|a-b>.<attention|memory>[.<key>]");
            }
            JsonNode v = e.getValue();
            if (!v.isValueNode() || v.isNull() || v.asText().length() > 200) {
                throw ApiError.invalid(at, at + " must be a string, number or boolean");
            }
            out.put(path, v.asText());
        }
        return out;
    }
}
