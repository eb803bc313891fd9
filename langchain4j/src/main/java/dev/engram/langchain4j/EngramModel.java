package dev.engram.langchain4j;

import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.Generator;
import dev.engram.runtime.ModelSequence;
import dev.engram.runtime.StepSharing;
import dev.engram.runtime.text.Tokenizer;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A model package running inside the application, for LangChain4j: {@link #chatModel()} and
 * {@link #streamingChatModel()} answer from the same loaded {@link Engine}. A request with a memory id
 * ({@link EngramChatRequestParameters#memoryId()}) continues that conversation's Engram sequence: only the new turn
 * (the messages after the request's last assistant message; a system message only when it changed) is fed, the
 * reply is generated and fed too, and with a {@link Builder#stateDirectory state directory} the sequence is saved
 * before the answer returns, so the conversation survives a restart. The model's long-term memory holds the
 * conversation, not a replayed message list. A request without a memory id is answered from a fresh sequence fed
 * every message, and leaves nothing behind.
 *
 * <p>Thread-safe. Requests from many threads are answered together: their generations share the engine's steps
 * ({@link StepSharing}: one pass over the weights feeds every reply being generated, and the prompts in chunks of
 * {@link Builder#stepTokens} tokens), each reply the same as it would be alone; turns of one conversation run one after
 * another, in the order they came.
 */
public final class EngramModel implements AutoCloseable {
    private final Engine engine;
    private final Tokenizer tokenizer;
    private final String name;
    private final PromptFormat format;
    private final int defaultMaxOutputTokens;
    private final double defaultTemperature;
    private final ConversationStore store;
    private final int maxResident;
    /** Every use of the engine goes through here: generations share steps, anything else runs between them. */
    private final StepSharing steps;
    /**
     * Conversations in memory, least recently used first; with a store, an evicted one is read back when next used.
     * Guarded by itself, as is {@link #turns}.
     */
    private final LinkedHashMap<String, Conversation> resident = new LinkedHashMap<>(16, 0.75f, true);
    /** The turn lock of each memory id in use, with how many callers hold or wait for it. Guarded by {@link #resident}. */
    private final Map<String, TurnLock> turns = new HashMap<>();
    private volatile boolean closed;

    private static final class TurnLock {
        final ReentrantLock lock = new ReentrantLock(true); // fair: turns in the order they came
        int users;
    }

    private static final class Conversation {
        final String memoryId;
        final ModelSequence sequence;
        String lastSystemMessage;

        Conversation(String memoryId, ModelSequence sequence) {
            this.memoryId = memoryId;
            this.sequence = sequence;
        }
    }

    private EngramModel(Builder b) {
        this.engine = b.loader.load(b.model);
        this.tokenizer = engine.tokenizer();
        this.name = engine.manifest().name();
        if (b.format == null && hasChatTemplate(engine)) {
            engine.close();
            throw new IllegalArgumentException("the package at " + b.model + " has a chat template (tokenizer_config.json), "
                    + "which runs in engram serve but not in-process yet; choose promptFormat(ROLE_LINES) or (RAW) explicitly");
        }
        this.format = b.format == null ? PromptFormat.ROLE_LINES : b.format;
        this.defaultMaxOutputTokens = b.maxOutputTokens;
        this.defaultTemperature = b.temperature;
        this.store = b.stateDirectory == null ? null : new ConversationStore(b.stateDirectory);
        this.maxResident = b.maxResidentConversations;
        this.steps = new StepSharing(engine, b.stepTokens);
    }

    public static Builder builder() {
        return new Builder();
    }

    private static boolean hasChatTemplate(Engine engine) {
        return engine.modelPackage().tokenizerConfig().map(f -> {
            try {
                return java.nio.file.Files.readString(f).contains("\"chat_template\"");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).orElse(false);
    }

    /** The package's name (its manifest's {@code name}): what responses carry as the model name. */
    public String name() {
        return name;
    }

    /** The engine, for what LangChain4j does not cover (its tokenizer, its plan). */
    public Engine engine() {
        return engine;
    }

    public ChatModel chatModel() {
        return new EngramChatModel(this);
    }

    public StreamingChatModel streamingChatModel() {
        return new EngramStreamingChatModel(this);
    }

    /**
     * Tokens the conversation {@code memoryId} has consumed so far (0 for one never used): its sequence's position,
     * after the turn running now, if any.
     */
    public long conversationTokens(Object memoryId) {
        return inTurn(memoryId.toString(), () -> {
            Conversation c = conversation(memoryId.toString(), false);
            return c == null ? 0L : c.sequence.position();
        });
    }

    /** Drops the conversation {@code memoryId} from memory and disk (after the turn running now, if any); true when there was one. */
    public boolean forget(Object memoryId) {
        String id = memoryId.toString();
        return inTurn(id, () -> {
            boolean had;
            synchronized (resident) {
                had = resident.remove(id) != null;
            }
            return (store != null && store.delete(id)) || had;
        });
    }

    /** Ends the model once the step running now is over: requests still generating fail, later ones are refused. */
    @Override
    public void close() {
        closed = true;
        steps.close(() -> {
            synchronized (resident) {
                resident.clear();
            }
            engine.close();
        });
    }

    /** Steps shared by more than one generation so far (requests answered together). */
    public long sharedSteps() {
        return steps.sharedSteps();
    }

    /** Runs {@code body} holding the turn lock of {@code memoryId}: one turn of a conversation at a time, in arrival order. */
    private <T> T inTurn(String memoryId, Supplier<T> body) {
        TurnLock t;
        synchronized (resident) {
            t = turns.computeIfAbsent(memoryId, k -> new TurnLock());
            t.users++;
        }
        t.lock.lock();
        try {
            return body.get();
        } finally {
            t.lock.unlock();
            synchronized (resident) {
                if (--t.users == 0) {
                    turns.remove(memoryId);
                }
            }
        }
    }

    /**
     * The resident conversation, else the saved one read back, else (when {@code create}) a new one; null otherwise.
     * Caller holds the conversation's turn lock.
     */
    private Conversation conversation(String memoryId, boolean create) {
        synchronized (resident) {
            Conversation c = resident.get(memoryId);
            if (c != null) {
                return c;
            }
        }
        byte[] saved = store == null ? null : store.read(memoryId); // the disk read outside the engine's turn
        ConversationStore.Meta[] meta = {null};
        ModelSequence s = steps.alone(() -> {
            ModelSequence fresh = engine.newSequence();
            meta[0] = saved == null ? null : store.load(memoryId, saved, fresh);
            return fresh;
        });
        if (meta[0] == null && !create) {
            return null;
        }
        Conversation c = new Conversation(memoryId, s);
        c.lastSystemMessage = meta[0] == null ? null : meta[0].lastSystemMessage();
        synchronized (resident) {
            resident.put(memoryId, c);
            if (store != null && resident.size() > maxResident) {
                // an evicted conversation in a turn now is saved by that turn before its lock is released
                resident.remove(resident.keySet().iterator().next());
            }
        }
        return c;
    }

    /** One request, answered; {@code onText} (may be null) gets the reply's text piece by piece as it is generated. */
    ChatResponse chat(ChatRequest request, Consumer<String> onText) {
        ChatRequestParameters p = request.parameters();
        Settings settings = settings(p);
        Object memoryId = p instanceof EngramChatRequestParameters e ? e.memoryId() : null;
        if (closed) {
            throw new IllegalStateException("the Engram model " + name + " is closed");
        }
        if (memoryId == null) {
            ModelSequence fresh = steps.alone(engine::newSequence);
            int[] prompt = turnTokens(request.messages(), true, null, new String[1]);
            return run(fresh, prompt, settings, onText, null);
        }
        return inTurn(memoryId.toString(), () -> {
            Conversation c = conversation(memoryId.toString(), true);
            List<ChatMessage> newTurn = newTurn(request.messages());
            String[] system = {c.lastSystemMessage};
            int[] prompt = turnTokens(newTurn, c.sequence.position() == 0, c.lastSystemMessage, system);
            // A failed turn leaves the conversation as it was: read back from its file when there is a store, else
            // rolled back to a checkpoint taken here (per-provider state copies, nothing serialised).
            ModelSequence.Checkpoint before = store == null ? steps.alone(c.sequence::checkpoint) : null;
            try {
                ChatResponse r = run(c.sequence, prompt, settings, onText, c);
                if (store != null) {
                    ConversationStore.Meta meta = new ConversationStore.Meta(c.memoryId, system[0]);
                    // serialised between steps, written to the device while the others generate
                    store.write(meta.memoryId(), steps.alone(() -> store.encode(meta, c.sequence)));
                }
                c.lastSystemMessage = system[0];
                return r;
            } catch (RuntimeException ex) {
                if (store != null) {
                    synchronized (resident) {
                        resident.remove(c.memoryId);
                    }
                } else {
                    steps.alone(() -> {
                        c.sequence.rollback(before);
                        return null;
                    });
                }
                throw ex;
            }
        });
    }

    private record Settings(int maxTokens, double temperature, double topP, int topK, long seed, List<String> stops,
                            double frequencyPenalty, double presencePenalty) {
    }

    private Settings settings(ChatRequestParameters p) {
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty()) {
            throw new UnsupportedFeatureException("toolSpecifications: tools are not supported by the Engram model " + name);
        }
        if (p.responseFormat() != null && p.responseFormat().type() == ResponseFormatType.JSON) {
            throw new UnsupportedFeatureException("responseFormat: JSON output is not supported by the Engram model " + name
                    + "; valid: TEXT");
        }
        if (p.modelName() != null && !p.modelName().equals(name)) {
            throw new InvalidRequestException("modelName is '" + p.modelName() + "'; this is the Engram model '" + name + "'");
        }
        double frequency = p.frequencyPenalty() == null ? 0 : p.frequencyPenalty();
        double presence = p.presencePenalty() == null ? 0 : p.presencePenalty();
        for (var penalty : java.util.Map.of("frequencyPenalty", frequency, "presencePenalty", presence).entrySet()) {
            if (!(Math.abs(penalty.getValue()) <= GenerationParams.MAX_PENALTY)) {
                throw new InvalidRequestException(penalty.getKey() + " is " + penalty.getValue() + "; valid: ["
                        + -GenerationParams.MAX_PENALTY + ", " + GenerationParams.MAX_PENALTY + "] (0 = off)");
            }
        }
        int max = p.maxOutputTokens() == null ? defaultMaxOutputTokens : p.maxOutputTokens();
        if (max < 0) {
            throw new InvalidRequestException("maxOutputTokens is " + max + "; valid: 0 or more");
        }
        double t = p.temperature() == null ? defaultTemperature : p.temperature();
        if (!(t >= 0 && t <= 2)) {
            throw new InvalidRequestException("temperature is " + t + "; valid: [0, 2]");
        }
        double topP = p.topP() == null ? 1 : p.topP();
        if (!(topP > 0 && topP <= 1)) {
            throw new InvalidRequestException("topP is " + topP + "; valid: (0, 1]");
        }
        int topK = p.topK() == null ? 0 : p.topK();
        if (topK < 0) {
            throw new InvalidRequestException("topK is " + topK + "; valid: 0 (off) or more");
        }
        Long seed = p instanceof EngramChatRequestParameters e ? e.seed() : null;
        List<String> stops = p.stopSequences() == null ? List.of() : p.stopSequences();
        for (String s : stops) {
            if (s == null || s.isEmpty()) {
                throw new InvalidRequestException("stopSequences: a stop sequence is empty; valid: non-empty strings");
            }
        }
        return new Settings(max, t, topP, topK, seed == null ? ThreadLocalRandom.current().nextLong() : seed, stops,
                frequency, presence);
    }

    /** The messages after the last assistant message: the rest is in the conversation's state already. */
    static List<ChatMessage> newTurn(List<ChatMessage> messages) {
        int last = -1;
        for (int i = 0; i < messages.size(); i++) {
            if (messages.get(i) instanceof AiMessage) {
                last = i;
            }
        }
        return messages.subList(last + 1, messages.size());
    }

    /**
     * The tokens of {@code messages} in this model's format. A system message equal to {@code lastSystem} is skipped
     * (it is in the state already); {@code system[0]} ends as the last system message fed.
     */
    private int[] turnTokens(List<ChatMessage> messages, boolean startsSequence, String lastSystem, String[] system) {
        List<int[]> pieces = new ArrayList<>();
        StringBuilder lines = new StringBuilder();
        boolean first = startsSequence;
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage m = messages.get(i);
            String role;
            String text;
            if (m instanceof SystemMessage s) {
                if (Objects.equals(s.text(), lastSystem)) {
                    continue;
                }
                role = "system";
                text = s.text();
                system[0] = text;
                lastSystem = text;
            } else if (m instanceof UserMessage u) {
                role = "user";
                text = text(u, i);
            } else if (m instanceof AiMessage a) {
                if (a.hasToolExecutionRequests()) {
                    throw new UnsupportedFeatureException("messages[" + i + "]: tool calls are not supported by the Engram model " + name);
                }
                role = "assistant";
                text = a.text() == null ? "" : a.text();
            } else {
                throw new UnsupportedFeatureException("messages[" + i + "] is a " + m.type() + " message; the Engram model "
                        + name + " takes system, user and assistant messages");
            }
            if (format == PromptFormat.RAW) {
                pieces.add(tokenizer.encode(text, first));
                first = false;
            } else {
                lines.append(role).append(": ").append(text).append('\n');
            }
        }
        if (format == PromptFormat.ROLE_LINES) {
            lines.append("assistant: ");
            return tokenizer.encode(lines.toString(), startsSequence);
        }
        return pieces.stream().flatMapToInt(java.util.Arrays::stream).toArray();
    }

    private String text(UserMessage u, int index) {
        if (u.hasSingleText()) {
            return u.singleText();
        }
        StringBuilder sb = new StringBuilder();
        for (int j = 0; j < u.contents().size(); j++) {
            Content c = u.contents().get(j);
            if (!(c instanceof TextContent t)) {
                throw new UnsupportedFeatureException("messages[" + index + "].contents[" + j + "] is " + c.type()
                        + "; the Engram model " + name + " reads text only");
            }
            sb.append(t.text());
        }
        return sb.toString();
    }

    /** Feeds {@code prompt} into {@code sequence} and generates the reply (fed too); stop sequences end it. */
    private ChatResponse run(ModelSequence sequence, int[] prompt, Settings s, Consumer<String> onText, Conversation c) {
        if (prompt.length == 0 && s.maxTokens() > 0) {
            throw new InvalidRequestException("messages: the new turn has no tokens to answer (no message after the last "
                    + "assistant message, or only empty text)");
        }
        engine.requireRoom(sequence.position(), (long) prompt.length + s.maxTokens() + 1, "maxOutputTokens");
        GenerationParams params = (s.temperature() == 0 ? GenerationParams.greedy(s.maxTokens())
                : GenerationParams.sampled(s.maxTokens(), s.temperature(), s.topP(), s.seed()).withTopK(s.topK()))
                .withPenalties(s.frequencyPenalty(), s.presencePenalty());
        // The text is decoded where the step runs (any caller's thread) and handed to onText on this one.
        ConcurrentLinkedQueue<String> pieces = new ConcurrentLinkedQueue<>();
        StopText text = new StopText(tokenizer.streamDecoder(), s.stops(), onText == null ? null : pieces::add);
        Runnable handOut = () -> {
            for (String piece; (piece = pieces.poll()) != null; ) {
                onText.accept(piece);
            }
        };
        int[] generated;
        if (prompt.length == 0) {
            generated = new int[0];
        } else {
            Generator g = engine.generator(sequence, prompt, params, null, (token, logits) -> text.push(token));
            generated = steps.run(g, onText == null ? null : handOut);
        }
        text.finish();
        if (onText != null) {
            handOut.run();
        }
        if (c != null && format == PromptFormat.ROLE_LINES) {
            int[] newline = tokenizer.encode("\n", false); // the reply's line ends before the next turn
            if (newline.length > 0) { // (a whitespace-splitting tokenizer has no token for it)
                steps.alone(() -> engine.ingest(sequence, newline));
            }
        }
        FinishReason finish = text.stopped || generated.length < s.maxTokens() ? FinishReason.STOP : FinishReason.LENGTH;
        return ChatResponse.builder().aiMessage(AiMessage.from(text.text())).modelName(name)
                .tokenUsage(new TokenUsage(prompt.length, generated.length)).finishReason(finish).build();
    }

    /**
     * The reply's text as tokens arrive, cut before the first stop sequence; text that could still turn out to begin a
     * stop sequence is held back from {@code onText} until it cannot.
     */
    private static final class StopText {
        private final Tokenizer.StreamDecoder decoder;
        private final List<String> stops;
        private final Consumer<String> onText;
        private final StringBuilder all = new StringBuilder();
        private int emitted;
        private int end = -1;
        boolean stopped;

        StopText(Tokenizer.StreamDecoder decoder, List<String> stops, Consumer<String> onText) {
            this.decoder = decoder;
            this.stops = stops;
            this.onText = onText;
        }

        /** One generated token; false once a stop sequence is complete (that token is still fed, as the server does). */
        boolean push(int token) {
            all.append(decoder.push(token));
            return !check(false);
        }

        void finish() {
            if (!stopped) {
                all.append(decoder.finish());
                check(true);
            }
        }

        private boolean check(boolean last) {
            int cut = -1;
            for (String stop : stops) {
                int at = all.indexOf(stop);
                if (at >= 0 && (cut < 0 || at < cut)) {
                    cut = at;
                }
            }
            int safe;
            if (cut >= 0) {
                stopped = true;
                end = cut;
                safe = cut;
            } else if (last) {
                safe = all.length();
            } else {
                safe = all.length();
                for (String stop : stops) {
                    for (int k = Math.min(stop.length() - 1, all.length()); k > 0; k--) {
                        if (all.toString().regionMatches(all.length() - k, stop, 0, k)) {
                            safe = Math.min(safe, all.length() - k);
                            break;
                        }
                    }
                }
            }
            if (safe > emitted && onText != null) {
                onText.accept(all.substring(emitted, safe));
            }
            emitted = Math.max(emitted, safe);
            return stopped;
        }

        String text() {
            return end >= 0 ? all.substring(0, end) : all.toString();
        }
    }

    /** Settings of an {@link EngramModel}; only {@link #model} is required. */
    public static final class Builder {
        private Path model;
        private Path stateDirectory;
        private PromptFormat format;
        private int maxOutputTokens = 64;
        private double temperature = 0;
        private int maxResidentConversations = 64;
        private int stepTokens = StepSharing.DEFAULT_STEP_TOKENS;
        private EngineLoader loader = new EngineLoader();

        /** The model package: a folder with engram.json. */
        public Builder model(Path packageDirectory) {
            this.model = packageDirectory;
            return this;
        }

        /** Where conversations are saved, one file per memory id; without one they live in memory only. */
        public Builder stateDirectory(Path directory) {
            this.stateDirectory = directory;
            return this;
        }

        /** How messages become text; default {@link PromptFormat#ROLE_LINES}. */
        public Builder promptFormat(PromptFormat format) {
            this.format = format;
            return this;
        }

        /** maxOutputTokens when a request gives none (default 64). */
        public Builder maxOutputTokens(int tokens) {
            if (tokens < 0) {
                throw new IllegalArgumentException("maxOutputTokens is " + tokens + "; valid: 0 or more");
            }
            this.maxOutputTokens = tokens;
            return this;
        }

        /** temperature when a request gives none (default 0: greedy, the same answer every time). */
        public Builder temperature(double temperature) {
            if (!(temperature >= 0 && temperature <= 2)) {
                throw new IllegalArgumentException("temperature is " + temperature + "; valid: [0, 2]");
            }
            this.temperature = temperature;
            return this;
        }

        /** With a state directory: conversations kept in memory at most (default 64); older ones are read back when used. */
        public Builder maxResidentConversations(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxResidentConversations is " + n + "; valid: 1 or more");
            }
            this.maxResidentConversations = n;
            return this;
        }

        /**
         * Prompt tokens one shared step feeds at most (default {@value StepSharing#DEFAULT_STEP_TOKENS}; 1..65536): a long
         * prompt is fed in chunks of this size between the other replies' tokens, so a smaller value keeps their
         * tokens coming at a steadier pace and a larger one feeds the prompt sooner ({@code engram serve --step-tokens}).
         */
        public Builder stepTokens(int tokens) {
            if (tokens < 1 || tokens > 65536) {
                throw new IllegalArgumentException("stepTokens is " + tokens + "; valid: 1..65536");
            }
            this.stepTokens = tokens;
            return this;
        }

        /**
         * The loader, for a config file or overrides ({@code new EngineLoader().config(file)}), or with other bindings
         * ({@code EngineFactory.create(overridingModule).loader()}: another execution provider, say).
         */
        public Builder engineLoader(EngineLoader loader) {
            this.loader = Objects.requireNonNull(loader, "loader");
            return this;
        }

        public EngramModel build() {
            if (model == null) {
                throw new IllegalArgumentException("model: the package directory is required");
            }
            return new EngramModel(this);
        }
    }
}
