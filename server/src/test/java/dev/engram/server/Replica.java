package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** An {@code engram serve} replica in its own JVM ({@link ServerMain}), on a free port, its stderr in a file. */
record Replica(Process process, Http http, Path log) implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on (http://[^ ]+) ");

    static Replica spawn(Path model, String sessionStore, Path logDir, String name) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path log = logDir.resolve(name + ".err");
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-Dengram.serve.warmUpRounds=0",
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"),
                ServerMain.class.getName(), "--model", model.toString(), "--port", "0", "--session-store", sessionStore);
        pb.redirectError(log.toFile());
        Process p = pb.start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        if (line == null) {
            p.waitFor(5, TimeUnit.SECONDS);
            throw new AssertionError("replica " + name + " did not start: " + Files.readString(log));
        }
        Matcher m = LISTENING.matcher(line);
        assertTrue(m.find(), line);
        return new Replica(p, new Http(URI.create(m.group(1))), log);
    }

    /** kill -9. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    /** SIGTERM: a graceful stop. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                kill();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
