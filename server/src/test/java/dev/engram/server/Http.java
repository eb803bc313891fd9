package dev.engram.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** A small JSON/SSE client over java.net.http.HttpClient (HTTP/1.1), as a real client would talk to the server. */
final class Http {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    final URI base;
    final String key;

    Http(URI base, String key) {
        this.base = base;
        this.key = key;
    }

    Http(URI base) {
        this(base, null);
    }

    Http withKey(String k) {
        return new Http(base, k);
    }

    record Resp(int status, HttpHeaders headers, String body) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON (" + status + "): " + body, e);
            }
        }

        /** The payloads of the SSE "data:" lines, in order ("[DONE]" included). */
        List<String> events() {
            List<String> out = new ArrayList<>();
            for (String block : body.split("\n\n")) {
                for (String line : block.split("\n")) {
                    if (line.startsWith("data: ")) {
                        out.add(line.substring(6));
                    }
                }
            }
            return out;
        }

        String errorParam() {
            JsonNode p = json().path("error").path("param");
            return p.isNull() ? null : p.asText();
        }
    }

    Resp get(String path) {
        return send(builder(path).GET());
    }

    Resp delete(String path) {
        return send(builder(path).DELETE());
    }

    Resp post(String path, Object body) {
        try {
            String s = body instanceof String str ? str : JSON.writeValueAsString(body);
            return send(builder(path).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(s)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Resp postRaw(String path, byte[] body, String contentType) {
        return send(builder(path).header("Content-Type", contentType).POST(HttpRequest.BodyPublishers.ofByteArray(body)));
    }

    Resp send(String method, String path, String body) {
        return send(builder(path).method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body)));
    }

    HttpRequest.Builder builder(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(30));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return b;
    }

    Resp send(HttpRequest.Builder b) {
        try {
            HttpResponse<String> r = CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new Resp(r.statusCode(), r.headers(), r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A GET whose body is bytes (an export): the status and the body. */
    record Bytes(int status, HttpHeaders headers, byte[] body) {
    }

    Bytes getBytes(String path) {
        try {
            HttpResponse<byte[]> r = CLIENT.send(builder(path).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
            return new Bytes(r.statusCode(), r.headers(), r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static int[] ints(JsonNode arr) {
        int[] out = new int[arr.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = arr.get(i).asInt();
        }
        return out;
    }
}
