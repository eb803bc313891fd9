package dev.engram.server;

import dev.engram.runtime.Engine;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.text.Tokenizer;
import dev.engram.runtime.ModelSequence;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/** Runs one completion on a sequence (worker thread), applying stop strings and cancellation. */
final class Generation {
    private Generation() {
    }

    /** Cancellation: the client went away, or the request's deadline passed. Checked between tokens and segments. */
    static final class Cancel {
        final AtomicBoolean clientGone = new AtomicBoolean();
        final long deadlineNanos;
        final long timeoutMillis;

        Cancel(long timeoutMillis) {
            this.timeoutMillis = timeoutMillis;
            this.deadlineNanos = System.nanoTime() + timeoutMillis * 1_000_000L;
        }

        void check() {
            if (clientGone.get()) {
                throw new Cancelled();
            }
            if (System.nanoTime() - deadlineNanos > 0) {
                throw ApiError.timeout("the request did not finish within " + timeoutMillis + " ms (requestTimeout)");
            }
        }

        long remainingMillis() {
            return Math.max(0, (deadlineNanos - System.nanoTime()) / 1_000_000L);
        }

        /** 0 queued, 1 started, 2 abandoned: who wins decides whether a late job may still change a session. */
        private final java.util.concurrent.atomic.AtomicInteger phase = new java.util.concurrent.atomic.AtomicInteger();

        /** A job that changes state calls this once it holds its session; false: the request was given up, do nothing. */
        boolean start() {
            return phase.compareAndSet(0, 1);
        }

        /** The request stops waiting: true when the job had not started (and now never will). */
        boolean abandon() {
            return phase.compareAndSet(0, 2);
        }
    }

    /** The client disconnected; nothing is answered. */
    static final class Cancelled extends RuntimeException {
        Cancelled() {
            super("client disconnected", null, false, false);
        }
    }


    /**
     * @param promptScores with echo and logprobs: one per prompt token (the first has no log-probability), else empty
     * @param scores       with logprobs: one per generated token, else empty
     */
    record Outcome(int[] tokens, String text, String finishReason, int promptTokens, List<Scored> promptScores,
                   List<Scored> scores) {
    }

    /**
     * What a stream sends next: text that no stop string can cut any more, and (with logprobs) the scores of the
     * tokens generated since the previous piece, those whose text this piece completes first among them. Over a whole
     * completion the pieces' texts add up to {@link Outcome#text()} and their scores to {@link Outcome#scores()};
     * with echo the first piece is the prompt and its scores ({@link Outcome#promptScores()}).
     */
    record Piece(String text, List<Scored> scores) {
    }

    /**
     * A token's log-probability under the model's raw distribution (log softmax of the logits, in double; before
     * temperature and top-k/top-p, as OpenAI reports them), and the {@code top} most likely tokens with theirs,
     * most likely first (ties: lower id first). {@code logprob} is NaN for a prompt's first token (nothing predicts it).
     */
    record Scored(int token, double logprob, int[] topIds, double[] topLogprobs) {
        static Scored of(float[] logits, int token, int top) {
            double logZ = dev.engram.runtime.LogProbs.logNormalizer(logits);
            int k = Math.min(top, logits.length);
            // One pass keeping the k best so far in order: a token enters only if it beats the k-th, so the scan is
            // O(vocabulary) with an insertion of at most k steps for the few that do. Scanning ids upwards, an equal
            // logit never beats one already held, which gives the lower-id-first tie rule.
            int[] ids = new int[k];
            int held = 0;
            for (int i = 0; i < logits.length && k > 0; i++) {
                if (held == k && !(logits[i] > logits[ids[k - 1]])) {
                    continue;
                }
                int at = held < k ? held++ : k - 1;
                while (at > 0 && logits[i] > logits[ids[at - 1]]) {
                    ids[at] = ids[at - 1];
                    at--;
                }
                ids[at] = i;
            }
            double[] lps = new double[k];
            for (int r = 0; r < k; r++) {
                lps[r] = logits[ids[r]] - logZ;
            }
            return new Scored(token, logits[token] - logZ, ids, lps);
        }

        static Scored unscored(int token) {
            return new Scored(token, Double.NaN, new int[0], new double[0]);
        }
    }

    /**
     * A completion as a {@link dev.engram.runtime.Generator}, to be stepped with the worker's batch
     * ({@link ModelWorker#join}) and then finished; {@code onPiece} receives each {@link Piece} (text and its tokens'
     * scores) as soon as its text cannot be the start of a stop sequence. Output stops at the first stop sequence (not
     * included; finish "stop") or after max tokens (finish "length"). The sequence consumes the prompt and every
     * generated token, the one that completed a stop sequence included, and {@link Outcome#tokens()} are those tokens:
     * what a session that appends the completion holds is exactly prompt + token_ids.
     */
    static Task start(Engine engine, Tokenizer tokenizer, ModelSequence seq, Requests.Completion r, Cancel cancel,
                      Consumer<Piece> onPiece) {
        cancel.check();
        return new Task(engine, tokenizer, seq, r, cancel, onPiece);
    }

    /** One completion's generator with its text, stop strings and scores: a {@link ModelWorker.Work} of the batch. */
    static final class Task implements ModelWorker.Work<Outcome> {
        final dev.engram.runtime.Generator generator;
        final Cancel cancel;
        private final Requests.Completion r;
        private final Tokenizer tokenizer;
        private final Tokenizer.StreamDecoder decoder;
        private final Consumer<Piece> onPiece;
        private final Consumer<String> onText;
        private final StringBuilder text = new StringBuilder();
        private final int[] emitted = {0};
        private boolean stopped;
        private boolean echoSent;
        private final List<Scored> promptScores = new java.util.ArrayList<>();
        private final List<Scored> scores = new java.util.ArrayList<>();
        private int scoresSent;

        private Task(Engine engine, Tokenizer tokenizer, ModelSequence seq, Requests.Completion r, Cancel cancel,
                     Consumer<Piece> onPiece) {
            this.r = r;
            this.cancel = cancel;
            this.tokenizer = tokenizer;
            this.onPiece = onPiece;
            this.onText = t -> onPiece.accept(new Piece(t, unsentScores()));
            this.decoder = tokenizer.streamDecoder();
            GenerationParams params = new GenerationParams(r.maxTokens(), r.temperature(), r.topK(), r.topP(), r.seed(),
                    Set.of(), r.frequencyPenalty(), r.presencePenalty(), r.logitBias());
            boolean scoring = r.logprobs() >= 0;
            Engine.PromptRows onPrompt = !(scoring && r.echo()) ? null : (from, rows) -> {
                int[] p = r.prompt();
                if (from == 0) {
                    promptScores.add(Scored.unscored(p[0]));
                }
                for (int j = 0; j < rows.length && from + j + 1 < p.length; j++) {
                    promptScores.add(Scored.of(rows[j], p[from + j + 1], r.logprobs()));
                }
            };
            this.generator = engine.generator(seq, r.prompt(), params, onPrompt, (token, logits) -> {
                cancel.check();
                sendEcho();
                if (scoring) {
                    scores.add(Scored.of(logits, token, r.logprobs()));
                }
                text.append(decoder.push(token));
                stopped = emitStopAware(text, r.stop(), emitted, onText, false);
                return !stopped; // that token is still fed, then generation ends
            });
        }

        @Override
        public dev.engram.runtime.Generator generator() {
            return generator;
        }

        /** A client gone or the deadline passed: the completion ends before the next step. */
        @Override
        public void beforeStep() {
            cancel.check();
        }

        /** The scores not yet sent with a piece, now marked sent. */
        private List<Scored> unsentScores() {
            List<Scored> out = List.copyOf(scores.subList(scoresSent, scores.size()));
            scoresSent = scores.size();
            return out;
        }

        /** With echo, once: the prompt (already fed, so every prompt score is in) as the first piece. */
        private void sendEcho() {
            if (r.echo() && !echoSent) {
                echoSent = true;
                onPiece.accept(new Piece(tokenizer.decode(r.prompt()), List.copyOf(promptScores)));
            }
        }

        /** Once the generator is done: the outcome, or what ended it (a cancellation, a timeout, a failure). */
        @Override
        public Outcome finish() {
            if (generator.failure() != null) {
                throw generator.failure();
            }
            sendEcho(); // max_tokens 0: nothing was generated to send it before
            String finish = "length";
            if (stopped) {
                finish = "stop";
            } else {
                text.append(decoder.finish());
                if (emitStopAware(text, r.stop(), emitted, onText, true)) {
                    finish = "stop";
                }
            }
            if (scoresSent < scores.size()) {
                // tokens whose text a stop string cut, or that decoded to nothing yet: their scores still go out
                onPiece.accept(new Piece("", unsentScores()));
            }
            return new Outcome(generator.tokens(), text.toString(), finish, r.prompt().length, promptScores, scores);
        }
    }

    /** Emits what is safe; returns true (text truncated) when a stop sequence occurs. */
    private static boolean emitStopAware(StringBuilder text, List<String> stops, int[] emitted, Consumer<String> onText, boolean end) {
        int cut = -1;
        for (String s : stops) {
            int i = text.indexOf(s, Math.max(0, emitted[0] - s.length() + 1));
            if (i >= 0 && (cut < 0 || i < cut)) {
                cut = i;
            }
        }
        if (cut >= 0) {
            text.setLength(cut);
        }
        int safe = text.length();
        if (cut < 0 && !end) {
            for (String s : stops) {
                for (int k = Math.min(s.length() - 1, text.length()); k > 0; k--) {
                    if (text.substring(text.length() - k).equals(s.substring(0, k))) {
                        safe = Math.min(safe, text.length() - k);
                        break;
                    }
                }
            }
        }
        if (safe > emitted[0]) {
            onText.accept(text.substring(emitted[0], safe));
            emitted[0] = safe;
        }
        return cut >= 0;
    }
}
