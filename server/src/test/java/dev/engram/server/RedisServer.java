package dev.engram.server;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real {@code redis-server} for a test class ({@code @RegisterExtension static RedisServer redis = new RedisServer();}):
 * started before the class on a free loopback port with its own temporary dir, append-only file on and
 * {@code appendfsync always} (every acknowledged write is on disk before Redis answers), stopped and removed after.
 * {@link #kill()} and {@link #start()} restart it on the same port and dir. Without redis-server the tests fail, saying
 * how to install it (./test installs it): a skipped test would pass for nothing.
 */
final class RedisServer implements BeforeAllCallback, AfterAllCallback {
    private Path dir;
    private int port;
    private Process process;

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        dir = Files.createTempDirectory("engram-redis-");
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        kill();
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** redis-server's path: -Dengram.test.redisServer=PATH, else the usual places and PATH. */
    static String executable() {
        String given = System.getProperty("engram.test.redisServer");
        if (given != null) {
            return Files.isExecutable(Path.of(given)) ? given : null;
        }
        for (String candidate : List.of("/usr/bin/redis-server", "/usr/local/bin/redis-server")) {
            if (Files.isExecutable(Path.of(candidate))) {
                return candidate;
            }
        }
        for (String d : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, "redis-server"))) {
                return Path.of(d, "redis-server").toString();
            }
        }
        return null;
    }

    /** Starts redis-server (again, on the same port and dir: it reads its append-only file back) and waits until it answers. */
    void start() throws Exception {
        String exe = executable();
        if (exe == null) {
            fail("redis-server is not installed, and the Redis session tests need a real one: install it with"
                    + " 'apt-get install redis-server' (Debian/Ubuntu; ./test installs it when missing), or name it with"
                    + " -Dengram.test.redisServer=PATH");
        }
        ProcessBuilder pb = new ProcessBuilder(exe, "--port", Integer.toString(port), "--bind", "127.0.0.1", "--dir", dir.toString(),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--enable-debug-command", "local", "--logfile",
                dir.resolve("redis.log").toString());
        pb.redirectErrorStream(true);
        pb.redirectOutput(dir.resolve("redis.out").toFile());
        process = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!"+PONG".equals(ping())) {
            if (!process.isAlive() || System.nanoTime() > deadline) {
                fail("redis-server did not start on port " + port + ": " + log());
            }
            Thread.sleep(20);
        }
    }

    /** SIGKILL: what Redis had acknowledged is only what its append-only file holds. */
    void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    int port() {
        return port;
    }

    /** The --session-store value for this server, with short timeouts for the tests. */
    String url(String params) {
        return "redis://127.0.0.1:" + port + "/0" + (params.isEmpty() ? "" : "?" + params);
    }

    String log() {
        try {
            Path f = dir.resolve("redis.log");
            return Files.exists(f) ? Files.readString(f) : "(no log)";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One command over a plain socket (RESP inline form), its first reply line, or null when Redis does not answer. */
    String command(String inline) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 500);
            s.setSoTimeout(2000);
            OutputStream out = s.getOutputStream();
            out.write((inline + "\r\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine();
        } catch (IOException e) {
            return null;
        }
    }

    /** Sends one command and returns without waiting for its answer (the socket stays open until closed). */
    Socket send(String inline) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", port), 500);
        s.getOutputStream().write((inline + "\r\n").getBytes(StandardCharsets.UTF_8));
        s.getOutputStream().flush();
        return s;
    }

    private String ping() {
        return command("PING");
    }
}
