package dev.engram.server;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where {@code engram serve} keeps sessions ({@code --session-store}): a directory (one server), or a Redis server
 * shared by many ({@code redis://[USER[:PASSWORD]@]HOST[:PORT][/DB][?timeout_ms=N&lease_ms=N&pool=N]}, {@code rediss://}
 * for TLS). {@link #parse} names what is wrong with a bad value and the valid form.
 */
public sealed interface SessionStoreLocation {
    /** The valid Redis form, for error messages and --help. */
    String REDIS_FORM = "redis://[USER[:PASSWORD]@]HOST[:PORT][/DB][?timeout_ms=N&lease_ms=N&pool=N] (rediss:// for TLS)";

    /** Sessions as files under {@code dataDir/sessions}; the dir is locked to one server. */
    record Directory(Path dataDir) implements SessionStoreLocation {
    }

    /**
     * A Redis server.
     *
     * @param timeout  connect and read timeout of every Redis call; a call that takes longer answers 503 (timeout_ms, default 2000)
     * @param lease    how long a session's write lease lasts unless renewed (renewed every third of it while held): how long
     *                 a killed server can hold up its sessions (lease_ms, default 10000)
     * @param poolSize connections at most (pool, default 16)
     */
    record Redis(String host, int port, int database, String user, String password, boolean tls, Duration timeout, Duration lease,
                 int poolSize) implements SessionStoreLocation {
        /** The location without the password, for logs and the start-up line. */
        @Override
        public String toString() {
            return (tls ? "rediss://" : "redis://") + (user == null ? "" : user + (password == null ? "" : ":***") + "@")
                    + (user == null && password != null ? ":***@" : "") + (host.contains(":") ? "[" + host + "]" : host) + ":" + port
                    + "/" + database;
        }
    }

    private static IllegalArgumentException bad(String value, String what) {
        String shown = value.replaceAll("(rediss?://[^:/@]*:)[^@/]*@", "$1***@");
        return new IllegalArgumentException("--session-store '" + shown + "': " + what + "; valid: a directory, or " + REDIS_FORM);
    }

    /**
     * {@code --session-store}'s value: a URL with the redis:// or rediss:// scheme is Redis, anything else without a scheme
     * a directory; an IllegalArgumentException names what is wrong and the valid form.
     */
    static SessionStoreLocation parse(String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("--session-store is empty; valid: a directory, or " + REDIS_FORM);
        }
        String lower = value.toLowerCase(java.util.Locale.ROOT);
        if (!lower.startsWith("redis://") && !lower.startsWith("rediss://")) {
            if (lower.matches("^[a-z][a-z0-9+.-]*://.*")) {
                throw bad(value, "the scheme '" + value.substring(0, value.indexOf(':')) + "' is not supported");
            }
            return new Directory(Path.of(value));
        }
        return parseRedis(value);
    }

    /** redis[s]://[user[:password]@]host[:port][/db][?params], host possibly an [IPv6] literal. */
    Pattern REDIS_URL = Pattern.compile("(?i)(rediss?)://(?:([^:@/]*)(?::([^@/]*))?@)?(\\[[^\\]]+\\]|[^:/?\\[\\]]*)(?::([^/?]*))?(?:/([^?]*))?(?:\\?(.*))?");

    private static Redis parseRedis(String value) {
        Matcher m = REDIS_URL.matcher(value);
        if (!m.matches()) {
            throw bad(value, "cannot read it as a Redis URL");
        }
        boolean tls = m.group(1).equalsIgnoreCase("rediss");
        String user = m.group(2) == null || m.group(2).isEmpty() ? null : decode(m.group(2));
        String password = m.group(3) == null ? null : decode(m.group(3));
        String host = m.group(4);
        if (host.isEmpty()) {
            throw bad(value, "the host is missing");
        }
        if (host.startsWith("[")) {
            host = host.substring(1, host.length() - 1);
        }
        int port = 6379;
        if (m.group(5) != null) {
            port = integer(value, "the port", m.group(5), 1, 65535);
        }
        int db = 0;
        if (m.group(6) != null && !m.group(6).isEmpty()) {
            db = integer(value, "the database (the path after the port)", m.group(6), 0, 1 << 20);
        }
        Map<String, String> params = new LinkedHashMap<>();
        if (m.group(7) != null && !m.group(7).isEmpty()) {
            for (String kv : m.group(7).split("&")) {
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    throw bad(value, "the parameter '" + kv + "' has no value (name=value)");
                }
                params.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        int timeout = 2000;
        int lease = 10_000;
        int pool = 16;
        for (Map.Entry<String, String> p : params.entrySet()) {
            switch (p.getKey()) {
                case "timeout_ms" -> timeout = integer(value, "timeout_ms", p.getValue(), 1, 600_000);
                case "lease_ms" -> lease = integer(value, "lease_ms", p.getValue(), 100, 3_600_000);
                case "pool" -> pool = integer(value, "pool", p.getValue(), 1, 1024);
                default -> throw bad(value, "the parameter '" + p.getKey() + "' is unknown (timeout_ms, lease_ms, pool)");
            }
        }
        return new Redis(host, port, db, user, password, tls, Duration.ofMillis(timeout), Duration.ofMillis(lease), pool);
    }

    private static int integer(String value, String what, String text, int min, int max) {
        try {
            int v = Integer.parseInt(text);
            if (v >= min && v <= max) {
                return v;
            }
        } catch (NumberFormatException ignored) {
            // said below
        }
        throw bad(value, what + " is '" + text + "'; it must be a whole number from " + min + " to " + max);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }
}
