package dev.engram.server;

import java.time.Clock;
import java.time.Duration;
import java.util.Objects;

/**
 * How long sessions live and how much each API key may store (server README, "Session lifecycle").
 *
 * @param defaultTtl        a session unused this long is deleted, with its checkpoints, unless pinned or created with its
 *                          own {@code ttl_s}; {@link Duration#ZERO}: sessions live until deleted (the default)
 * @param maxTtl            the longest {@code ttl_s} a request may ask for; {@link Duration#ZERO}: no bound
 * @param maxSessionsPerKey sessions one API key (or, without keys, everyone) may hold; 0: no quota (the default;
 *                          {@code --max-sessions} still bounds the store)
 * @param maxBytesPerKey    stored bytes (session records and their checkpoints) one key may hold; 0: no quota
 * @param clock             what "now" is for expiry and last use; tests inject one they move by hand
 */
public record SessionPolicy(Duration defaultTtl, Duration maxTtl, int maxSessionsPerKey, long maxBytesPerKey, Clock clock) {
    public SessionPolicy {
        Objects.requireNonNull(clock, "clock");
        if (defaultTtl.isNegative()) {
            throw new IllegalArgumentException("defaultTtl is " + defaultTtl + "; valid: >= 0 (0: sessions never expire)");
        }
        if (maxTtl.isNegative()) {
            throw new IllegalArgumentException("maxTtl is " + maxTtl + "; valid: >= 0 (0: no bound)");
        }
        if (maxSessionsPerKey < 0) {
            throw new IllegalArgumentException("maxSessionsPerKey is " + maxSessionsPerKey + "; valid: >= 0 (0: no quota)");
        }
        if (maxBytesPerKey < 0) {
            throw new IllegalArgumentException("maxBytesPerKey is " + maxBytesPerKey + "; valid: >= 0 (0: no quota)");
        }
    }

    /** No expiry, no quotas, the system clock. */
    public static SessionPolicy defaults() {
        return new SessionPolicy(Duration.ZERO, Duration.ZERO, 0, 0, Clock.systemUTC());
    }

    public SessionPolicy withDefaultTtl(Duration v) {
        return new SessionPolicy(v, maxTtl, maxSessionsPerKey, maxBytesPerKey, clock);
    }

    public SessionPolicy withMaxTtl(Duration v) {
        return new SessionPolicy(defaultTtl, v, maxSessionsPerKey, maxBytesPerKey, clock);
    }

    public SessionPolicy withQuotas(int sessionsPerKey, long bytesPerKey) {
        return new SessionPolicy(defaultTtl, maxTtl, sessionsPerKey, bytesPerKey, clock);
    }

    public SessionPolicy withClock(Clock v) {
        return new SessionPolicy(defaultTtl, maxTtl, maxSessionsPerKey, maxBytesPerKey, v);
    }

    /** The time to live of a session created with {@code ttlSeconds} (0: the default); 0 when it never expires. */
    long ttlMillis(long ttlSeconds, boolean pinned) {
        if (pinned) {
            return 0;
        }
        return ttlSeconds > 0 ? ttlSeconds * 1000 : defaultTtl.toMillis();
    }

    @Override
    public String toString() {
        return "SessionPolicy[defaultTtl=" + defaultTtl + ", maxTtl=" + maxTtl + ", maxSessionsPerKey=" + maxSessionsPerKey
                + ", maxBytesPerKey=" + maxBytesPerKey + "]";
    }
}
