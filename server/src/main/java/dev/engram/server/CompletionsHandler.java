package dev.engram.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.runtime.Engine;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * {@code POST /v1/completions} and {@code POST /v1/chat/completions} (one code path, {@code chat} picks the shape):
 * plain or from a session's memory ({@code session}, or the {@value #SESSION_HEADER} header), optionally appending
 * to it ({@code session_append}), answered whole or streamed as server-sent events.
 */
final class CompletionsHandler {
    private final ServeOptions options;
    private final Metrics metrics;
    private final Engines engines;
    private final SessionStore store;
    private final SessionsHandler sessions;
    private final Jobs jobs;
    private final String modelName;
    private final AtomicBoolean modelWorkStarted;

    CompletionsHandler(ServeOptions options, Metrics metrics, Engines engines, SessionStore store, SessionsHandler sessions, Jobs jobs,
                       String modelName, AtomicBoolean modelWorkStarted) {
        this.options = options;
        this.metrics = metrics;
        this.engines = engines;
        this.store = store;
        this.sessions = sessions;
        this.jobs = jobs;
        this.modelName = modelName;
        this.modelWorkStarted = modelWorkStarted;
    }

    /** The header that names a session for clients that cannot add a body field; the body's "session" must agree. */
    static final String SESSION_HEADER = "Engram-Session";

    void handle(Exchange ex, String owner, boolean chat) throws Exception {
        ObjectNode body = Requests.object(ex.body(options.maxBodyBytes()), false);
        String fromHeader = ex.request.getHeaders().get(SESSION_HEADER);
        if (fromHeader != null) {
            com.fasterxml.jackson.databind.JsonNode inBody = Requests.field(body, "session");
            if (inBody != null && !(inBody.isTextual() && inBody.asText().equals(fromHeader.strip()))) {
                throw ApiError.invalid("session", "the body's session " + inBody + " and the " + SESSION_HEADER
                        + " header '" + fromHeader.strip() + "' differ; give one, or the same in both");
            }
            body.put("session", fromHeader.strip());
        }
        Requests.Completion r = Requests.completion(body, chat, modelName, engines.defaultWorker.tokenizer, engines.defaultWorker.engine.vocabSize(),
                options, engines.defaultWorker.chatTemplate);
        Session s = r.session() == null ? null : sessions.session(r.session(), owner, "session");
        Engine engine = (s == null ? engines.defaultWorker : engines.worker(s.strategy)).engine;
        long position = s == null ? 0 : s.tokens;
        // learned positions, before any work: the prompt alone first, so that a prompt too long is not blamed on max_tokens
        engine.requireRoom(position, r.prompt().length, chat ? "messages" : "prompt");
        engine.requireRoom(position, (long) r.prompt().length + r.maxTokens(),
                chat && body.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens");
        jobs.ensureAccepting();
        Generation.Cancel cancel = new Generation.Cancel(options.requestTimeout().toMillis());
        ex.request.addFailureListener(t -> cancel.clientGone.set(true));
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        Consumer<Generation.Piece> onPiece = r.stream() ? events::add : t -> { };
        CompletableFuture<Generation.Outcome> job;
        if (s == null) {
            modelWorkStarted.set(true);
            // no session: it joins the worker's batch (continuous batching), stepped together with the others
            job = engines.defaultWorker.generate(() -> Generation.start(engines.defaultWorker.engine,
                    engines.defaultWorker.tokenizer, engines.defaultWorker.engine.newSequence(), r, cancel, onPiece));
        } else {
            // it joins the batch of the session's strategy: a question only runs on a fork (per-provider state copies),
            // so the session is never touched, even by a failure half-way; with session_append the completion runs
            // on the session's state and is stored once it finished
            ModelWorker w = engines.worker(s.strategy);
            job = sessions.joinSession(s, cancel, r.sessionAppend(),
                    seq -> Generation.start(w.engine, w.tokenizer, seq, r, cancel, onPiece),
                    (seq, lease, out) -> store.persist(s, seq, lease));
        }
        job = job.whenComplete((out, t) -> {
            if (out != null) {
                metrics.tokens("prompt", out.promptTokens());
                metrics.tokens("completion", out.tokens().length);
            }
        });
        String id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes());
        long created = Instant.now().getEpochSecond();
        if (!r.stream()) {
            Generation.Outcome out = jobs.await(job, cancel);
            dev.engram.runtime.text.Tokenizer tok = s == null ? engines.defaultWorker.tokenizer : engines.worker(s.strategy).tokenizer;
            Map<String, Object> choice = new LinkedHashMap<>();
            choice.put("index", 0);
            if (chat) {
                choice.put("message", Map.of("role", "assistant", "content", out.text()));
            } else {
                choice.put("text", r.echo() ? tok.decode(r.prompt()) + out.text() : out.text());
            }
            choice.put("logprobs", r.logprobs() < 0 ? null : chat ? Logprobs.chat(tok, out.scores())
                    : Logprobs.completion(tok, out.promptScores(), out.scores(), 0));
            choice.put("finish_reason", out.finishReason());
            choice.put("token_ids", out.tokens());
            Map<String, Object> resp = head(id, chat ? "chat.completion" : "text_completion", created);
            resp.put("choices", List.of(choice));
            resp.put("usage", usage(out));
            if (s != null) {
                resp.put("session", s.id);
            }
            ex.json(200, resp);
            return;
        }
        Object first = Jobs.nextEvent(events, job, cancel);
        if (first instanceof Throwable t) {
            throw jobs.unwrap(t);
        }
        ex.startSse();
        String object = chat ? "chat.completion.chunk" : "text_completion";
        if (chat) {
            ex.sse(chunk(id, object, created, Map.of("role", "assistant", "content", ""), null, null, true), cancel);
        }
        dev.engram.runtime.text.Tokenizer tok = s == null ? engines.defaultWorker.tokenizer : engines.worker(s.strategy).tokenizer;
        int textOffset = 0; // legacy completions' text_offset runs on across the chunks, as in the whole answer
        Object e = first;
        while (true) {
            if (e instanceof Generation.Piece piece) {
                Object logprobs = null;
                if (r.logprobs() >= 0) {
                    logprobs = chat ? Logprobs.chat(tok, piece.scores())
                            : Logprobs.completion(tok, piece.scores(), List.of(), textOffset);
                    textOffset = Logprobs.endOffset(tok, piece.scores(), textOffset);
                }
                ex.sse(chunk(id, object, created, chat ? Map.of("content", piece.text()) : piece.text(), logprobs, null, chat),
                        cancel);
            } else if (e == Jobs.DONE) {
                Generation.Outcome out = job.join();
                ex.sse(chunk(id, object, created, chat ? Map.of() : "", null, out.finishReason(), chat), cancel);
                if (r.includeUsage()) {
                    Map<String, Object> u = head(id, object, created);
                    u.put("choices", List.of());
                    u.put("usage", usage(out));
                    ex.sse(u, cancel);
                }
                ex.endSse(cancel);
                return;
            } else if (e instanceof Throwable t) {
                ex.failSse(jobs.unwrap(t), cancel);
                return;
            }
            e = Jobs.nextEvent(events, job, cancel);
        }
    }


    private Map<String, Object> head(String id, String object, long created) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("object", object);
        m.put("created", created);
        m.put("model", modelName);
        m.put("system_fingerprint", null);
        return m;
    }

    private Map<String, Object> chunk(String id, String object, long created, Object content, Object logprobs, String finish,
                                      boolean chat) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        choice.put(chat ? "delta" : "text", content);
        choice.put("logprobs", logprobs);
        choice.put("finish_reason", finish);
        Map<String, Object> m = head(id, object, created);
        m.put("choices", List.of(choice));
        return m;
    }

    private static Map<String, Object> usage(Generation.Outcome out) {
        return Map.of("prompt_tokens", out.promptTokens(), "completion_tokens", out.tokens().length,
                "total_tokens", out.promptTokens() + out.tokens().length);
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        java.util.concurrent.ThreadLocalRandom.current().nextBytes(b);
        return b;
    }
}
