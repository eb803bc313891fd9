package dev.engram.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Function;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/** One request/response; tracks the status for metrics and logs. Errors go out in OpenAI's shape ({@link Server#errorBody}). */
final class Exchange {
    final Request request;
    final Response response;
    final Callback callback;
    final String path;
    String route = "other";
    int status = 200;
    boolean sse;
    boolean finished;
    /** Whether the handler read the request body (or began to); an error answer drains it otherwise. */
    boolean bodyRead;

    private final Metrics metrics;
    private final Function<ApiError, Map<String, Object>> errorBody;

    Exchange(Request request, Response response, Callback callback, Metrics metrics, Function<ApiError, Map<String, Object>> errorBody) {
        this.request = request;
        this.response = response;
        this.callback = callback;
        this.metrics = metrics;
        this.errorBody = errorBody;
        String p = request.getHttpURI().getPath();
        this.path = p == null ? "/" : p;
    }

    void method(String actual, String... allowed) {
        for (String a : allowed) {
            if (a.equals(actual)) {
                return;
            }
        }
        response.getHeaders().put(HttpHeader.ALLOW, String.join(", ", allowed));
        throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", "method " + actual + " is not allowed on "
                + route + "; allowed: " + String.join(", ", allowed), null);
    }

    /** Bodies up to this size are read and dropped before a 413, so the client can read the answer. */
    private static final long DRAIN_LIMIT_BYTES = 16L << 20;

    byte[] body(long limit) throws IOException {
        bodyRead = true;
        long declared = request.getLength();
        if (declared > limit) {
            metrics.rejected("too_large");
            if (declared <= DRAIN_LIMIT_BYTES) {
                // Read what the client is sending before answering: a 413 sent over a half-read body makes the
                // connection close under the client's feet, and many clients then report a reset, not the 413.
                try (InputStream in = Content.Source.asInputStream(request)) {
                    in.transferTo(java.io.OutputStream.nullOutputStream());
                }
            }
            throw ApiError.tooLarge("the request body is " + declared + " bytes; the limit here is " + limit + " bytes");
        }
        try (InputStream in = Content.Source.asInputStream(request)) {
            byte[] b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
            if (b.length > limit) {
                metrics.rejected("too_large");
                throw ApiError.tooLarge("the request body is over the limit of " + limit + " bytes");
            }
            return b;
        }
    }

    void json(int code, Object body) throws IOException {
        text(code, "application/json", Requests.MAPPER.writeValueAsString(body));
    }

    void text(int code, String type, String body) {
        status = code;
        response.setStatus(code);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, type);
        finished = true;
        response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
    }

    void error(ApiError e) {
        if (finished) {
            return;
        }
        if (sse) {
            try {
                sseError(e, null);
                endSse(null);
            } catch (RuntimeException ignored) {
                abort(ignored);
            }
            return;
        }
        if (e.retryAfterSeconds != null) {
            response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(e.retryAfterSeconds));
        }
        if (e.status == 429) {
            metrics.rejected("queue_full");
        }
        drainUnreadBody();
        try {
            json(e.status, errorBody.apply(e));
        } catch (IOException io) {
            abort(io);
        }
    }

    /**
     * An error answered before the handler read the body (a 404 for an append, say) would leave the body unread,
     * and Jetty then closes the connection under a client that reuses it for its next request, which sees a
     * connection reset instead of an answer. So a body of up to DRAIN_LIMIT_BYTES is read and dropped first.
     */
    private void drainUnreadBody() {
        if (bodyRead) {
            return;
        }
        bodyRead = true;
        long declared = request.getLength();
        if (declared == 0 || declared > DRAIN_LIMIT_BYTES) {
            return;
        }
        try (InputStream in = Content.Source.asInputStream(request)) {
            long left = DRAIN_LIMIT_BYTES;
            byte[] scratch = new byte[8192];
            int n;
            while (left > 0 && (n = in.read(scratch, 0, (int) Math.min(scratch.length, left))) > 0) {
                left -= n;
            }
        } catch (IOException | RuntimeException ignored) {
            // the answer goes out anyway; at worst the connection closes, as it would have
        }
    }

    void abort(Throwable t) {
        if (!finished) {
            finished = true;
            callback.failed(t);
        }
    }

    void startSse() {
        sse = true;
        status = 200;
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        response.getHeaders().put("X-Accel-Buffering", "no");
    }

    void sse(Object event, Generation.Cancel cancel) {
        try {
            write("data: " + Requests.MAPPER.writeValueAsString(event) + "\n\n", false, cancel);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    void failSse(RuntimeException e, Generation.Cancel cancel) {
        if (!(e instanceof ApiError a)) {
            throw e;
        }
        sseError(a, cancel);
        endSse(cancel);
    }

    void sseError(ApiError e, Generation.Cancel cancel) {
        sse(errorBody.apply(e), cancel);
    }

    void endSse(Generation.Cancel cancel) {
        write("data: [DONE]\n\n", true, cancel);
        finished = true;
        callback.succeeded();
    }

    private void write(String s, boolean last, Generation.Cancel cancel) {
        try {
            Content.Sink.write(response, last, ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)));
        } catch (IOException | RuntimeException e) {
            if (cancel != null) {
                cancel.clientGone.set(true); // the client went away: stop generating
            }
            throw new Generation.Cancelled();
        }
    }
}
