package dev.engram.server;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Standalone entry (the CLI's {@code engram serve} calls {@link Server#serve} directly):
 * {@code java -cp ... dev.engram.server.ServerMain --model DIR --port N (--data-dir DIR | --session-store DIR|redis://...)
 * [--api-key K] [--host H] [--config FILE] [--max-tokens N] [--queue N] [--timeout-s N] [--idle-session-s N] [--session-ttl-s N]}. The API key may also come
 * from {@value ServeOptions#API_KEY_ENV}.
 */
public final class ServerMain {
    private ServerMain() {
    }

    public static void main(String[] args) throws Exception {
        Path model = null;
        SessionStoreLocation data = null;
        int port = 8080;
        ServeOptions o = ServeOptions.defaults();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) {
                usage("option " + a + " needs a value");
            }
            String v = args[++i];
            switch (a) {
                case "--model" -> model = Path.of(v);
                case "--data-dir" -> data = new SessionStoreLocation.Directory(Path.of(v));
                case "--session-store" -> {
                    try {
                        data = SessionStoreLocation.parse(v);
                    } catch (IllegalArgumentException e) {
                        usage(e.getMessage());
                    }
                }
                case "--idle-session-s" -> o = o.withIdleSessionTimeout(Duration.ofSeconds(Long.parseLong(v)));
                case "--port" -> port = Integer.parseInt(v);
                case "--api-key" -> o = o.withApiKey(v);
                case "--host" -> o = o.withHost(v);
                case "--config" -> o = o.withConfig(Path.of(v));
                case "--max-tokens" -> o = o.withMaxTokens(Integer.parseInt(v), Math.min(o.defaultMaxTokens(), Integer.parseInt(v)));
                case "--queue" -> o = o.withQueueCapacity(Integer.parseInt(v));
                case "--timeout-s" -> o = o.withRequestTimeout(Duration.ofSeconds(Long.parseLong(v)));
                case "--session-ttl-s" -> o = o.withSessionPolicy(o.sessionPolicy().withDefaultTtl(Duration.ofSeconds(Long.parseLong(v))));
                default -> usage("unknown option " + a);
            }
        }
        if (model == null || data == null) {
            usage("--model and --data-dir (or --session-store) are required");
        }
        o = o.withApiKeysFromEnvironment(System.getenv());
        System.exit(Server.serve(model, port, data, o));
    }

    private static void usage(String problem) {
        System.err.println("engram serve: " + problem);
        System.err.println("usage: --model DIR --port N (--data-dir DIR | --session-store DIR|redis://...) [--api-key K] [--host H]"
                + " [--config FILE] [--max-tokens N] [--queue N] [--timeout-s N] [--idle-session-s N] [--session-ttl-s N]");
        System.exit(2);
    }
}
