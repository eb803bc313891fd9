package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.engram.runtime.config.SessionSettings;
import dev.engram.runtime.config.SessionSettings.Device;
import dev.engram.runtime.onnx.ExecutionProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server is built by one injector: an overriding module replaces a binding for everything it builds. */
class ServerWiringTest {
    @TempDir
    Path tmp;

    private static long files(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            return all.filter(Files::isRegularFile).count();
        }
    }

    @Test
    void anOverriddenSessionStoreKeepsTheSessions() throws IOException {
        Path model = TestModel.create(tmp);
        Path given = tmp.resolve("given");
        Path bound = tmp.resolve("bound");
        List<SessionStoreLocation> asked = new CopyOnWriteArrayList<>();
        // the override ignores the location it is given and keeps sessions under another directory
        ServerModule.SessionStoreOpener elsewhere = (location, modelName) -> {
            asked.add(location);
            return new DirectorySessionStore(bound, modelName);
        };
        try (Server server = Server.start(model, 0, new SessionStoreLocation.Directory(given),
                ServeOptions.defaults().withAccessLog(false),
                b -> b.bind(ServerModule.SessionStoreOpener.class).toInstance(elsewhere))) {
            Http http = new Http(server.uri());
            Http.Resp created = http.post("/v1/sessions", "");
            assertEquals(200, created.status(), created.body());
            String id = created.json().get("id").asText();
            assertEquals(200, http.post("/v1/sessions/" + id + "/append", Map.of("tokens", new int[] {1, 2, 3})).status());
        }
        assertEquals(List.of(new SessionStoreLocation.Directory(given)), asked);
        assertTrue(files(bound) > 0, "the bound store holds the session");
        assertEquals(0, files(given), "nothing is written where the default store would have kept it");
    }

    @Test
    void anOverriddenExecutionProviderOpensEveryEngineOfTheServer() {
        Path model = TestModel.create(tmp);
        List<String> calls = new CopyOnWriteArrayList<>();
        ExecutionProvider recording = new ExecutionProvider() {
            @Override
            public Device select(SessionSettings settings, String probeGraph, Consumer<String> warnings) {
                calls.add("select");
                return CPU_OR_CUDA.select(settings, probeGraph, warnings);
            }

            @Override
            public void addTo(OrtSession.SessionOptions options, SessionSettings settings, Device device) throws OrtException {
                CPU_OR_CUDA.addTo(options, settings, device);
            }
        };
        try (Server server = Server.start(model, 0, new SessionStoreLocation.Directory(tmp.resolve("data")),
                ServeOptions.defaults().withAccessLog(false),
                b -> b.bind(ExecutionProvider.class).toInstance(recording))) {
            assertEquals(List.of("select"), calls, "the default engine");
            Http http = new Http(server.uri());
            Http.Resp r = http.post("/v1/sessions", Map.of("strategy", Map.of("layers.default.attention.window", 2)));
            assertEquals(200, r.status(), r.body());
            assertEquals(List.of("select", "select"), calls, "a session strategy's engine is built by the same injector");
        }
    }
}
