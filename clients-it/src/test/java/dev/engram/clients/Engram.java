package dev.engram.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.ModelSequence;
import dev.engram.server.ServeOptions;
import dev.engram.server.Server;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * One real {@code engram serve} for every client test in this JVM (the server module's own in-process
 * {@link Server#start}, on an ephemeral loopback port), serving the bundled {@code passkey-infini} model with two API
 * keys and a 64 KiB body limit, plus the reference answers computed straight on the runtime.
 *
 * <p>The passkey model's vocabulary (models/README.md "The task"): the digits, {@code <bos>}, {@code <passkey-is>},
 * {@code <what-is-the-passkey>}, {@code <unk>} (13), {@code .} and 17 filler words, space-separated; it decodes ids to
 * their words joined by single spaces. Its attention sees one 32-token segment; older tokens live in its Infini memory.
 */
final class Engram {
    static final Path MODEL = Path.of("../models/passkey-infini").toAbsolutePath().normalize();
    static final String NAME = "passkey-infini";
    static final String KEY_A = "key-alice";
    static final String KEY_B = "key-bob";
    static final int MAX_BODY = 64 * 1024;
    static final int DEFAULT_MAX_TOKENS = 8;
    static final String FILLER = "the grass is green . the sky is blue . the sun is yellow . here we go . there and back again .";
    static final String PASSKEY = "4 2 7 1 9";
    /**
     * A document with the passkey at depth 0 (in the first segment), then 20 filler cycles: 1 + 7 + 480 = 488 tokens,
     * 16 segments, where models/README.md's table has infini answer 100% (512 tokens, depth 0). Shorter contexts than
     * its training (16-192 segments) it answers less reliably (measured here: 4 of 5 digits at 2 segments), and the
     * question's own segment (depth 1) not at all, so neither is used.
     */
    static String document(String passkey) {
        return "<bos> <passkey-is> " + passkey + " . " + String.join(" ", java.util.Collections.nCopies(20, FILLER));
    }

    static final String DOCUMENT = document(PASSKEY);
    static final String PASSKEY_PROMPT = DOCUMENT + " <what-is-the-passkey>";
    static final int PASSKEY_PROMPT_TOKENS = 489;

    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static Engram shared;

    final Server server;
    final Engine reference;
    final Path dataDir;
    /** A session whose file was damaged before this server started: any completion on it is a 500. */
    final String damagedSession;

    private Engram(Server server, Engine reference, Path dataDir, String damagedSession) {
        this.server = server;
        this.reference = reference;
        this.dataDir = dataDir;
        this.damagedSession = damagedSession;
    }

    static ServeOptions options() {
        return ServeOptions.defaults().withAccessLog(false).withApiKeys(List.of(KEY_A, KEY_B)).withMaxBodyBytes(MAX_BODY)
                .withMaxTokens(1024, DEFAULT_MAX_TOKENS);
    }

    /** The shared server, started on first use; it stops with the JVM. */
    static synchronized Engram get() {
        if (shared == null) {
            try {
                Path data = Files.createTempDirectory("engram-clients-it");
                String damaged;
                try (Server first = Server.start(MODEL, 0, data, options())) {
                    damaged = createSession(first.uri(), KEY_A);
                    append(first.uri(), KEY_A, damaged, FILLER);
                }
                Path file = data.resolve("sessions").resolve(damaged + ".session");
                byte[] bytes = Files.readAllBytes(file);
                bytes[bytes.length - 10] ^= 0x40; // inside the state: its checksum fails (server/README.md "Sessions")
                Files.write(file, bytes);
                Server server = Server.start(MODEL, 0, data, options());
                Engine engine = new EngineLoader().systemOverrides(false).load(MODEL);
                shared = new Engram(server, engine, data, damaged);
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    server.close();
                    engine.close();
                    deleteTree(data);
                }));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return shared;
    }

    private static void deleteTree(Path dir) {
        try (var all = Files.walk(dir)) {
            all.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("could not delete " + dir + ": " + e);
        }
    }

    /** The base URL every OpenAI client here needs: the server's root plus {@code /v1}. */
    String baseUrl() {
        return server.uri() + "/v1";
    }

    // ------------------------------------------------------------------ sessions (Engram's own endpoints)

    static String createSession(URI server, String key) {
        JsonNode r = post(server, key, "/v1/sessions", "{}");
        return r.get("id").asText();
    }

    static void append(URI server, String key, String session, String text) {
        JsonNode r = post(server, key, "/v1/sessions/" + session + "/append", json(Map.of("text", text)));
        assertEquals(0, r.get("unknown_tokens").asInt(), "every word of the appended text is in the passkey vocabulary");
    }

    /** A session holding {@link #DOCUMENT}, owned by {@code key}. */
    String sessionWithThePasskey(String key) {
        String id = createSession(server.uri(), key);
        append(server.uri(), key, id, DOCUMENT);
        return id;
    }

    long sessionTokens(String key, String id) {
        return get(server.uri(), key, "/v1/sessions/" + id).get("tokens").asLong();
    }

    static JsonNode post(URI server, String key, String path, String body) {
        return send(HttpRequest.newBuilder(server.resolve(path)).header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    static JsonNode get(URI server, String key, String path) {
        return send(HttpRequest.newBuilder(server.resolve(path)).header("Authorization", "Bearer " + key).GET().build());
    }

    private static JsonNode send(HttpRequest request) {
        try {
            HttpResponse<String> r = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new AssertionError(request.uri() + ": " + r.statusCode() + " " + r.body());
            }
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ reference answers, straight on the runtime

    /** The ids of space-separated passkey words, by the tokenizer.json table (models/README.md "The task"). */
    int[] ids(String words) {
        return reference.tokenizer().encode(words, false);
    }

    /**
     * The token ids of a chat prompt as the server documents it for a package without a chat template: one line
     * {@code "{role}: {content}\n"} per message, then {@code "assistant: "}; {@code user:} and {@code assistant:} are not
     * passkey words, so each is {@code <unk>} (13).
     */
    int[] chatPrompt(String userContent) {
        return IntStream.concat(IntStream.concat(IntStream.of(13), IntStream.of(ids(userContent))), IntStream.of(13)).toArray();
    }

    /** Greedy continuation of {@code prompt} after {@code context} (a session's document), decoded to words. */
    synchronized String greedy(int maxTokens, int[] prompt, int[]... context) {
        ModelSequence s = reference.newSequence();
        for (int[] c : context) {
            reference.ingest(s, c);
        }
        return words(reference.generate(s, prompt, GenerationParams.greedy(maxTokens), null));
    }

    /** Sampled continuation (temperature, top-p 1, seed), decoded to words. */
    synchronized String sampled(int maxTokens, int[] prompt, double temperature, long seed) {
        return words(reference.generate(reference.newSequence(), prompt, GenerationParams.sampled(maxTokens, temperature, 1, seed), null));
    }

    String words(int[] ids) {
        return IntStream.of(ids).mapToObj(i -> reference.tokenizer().decode(new int[] {i})).collect(Collectors.joining(" "));
    }

    static Duration timeout() {
        return Duration.ofSeconds(60);
    }
}
