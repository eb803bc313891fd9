package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link SessionResourcesTest} with sessions in a real Redis (a store name is a database: "a" 0, others 1 to 3). */
class RedisSessionResourcesTest extends SessionResourcesTest {
    @RegisterExtension
    static final RedisServer REDIS = new RedisServer();

    @BeforeEach
    void emptyRedis() {
        assertEquals("+OK", REDIS.command("FLUSHALL"));
    }

    private String url(String name) {
        int db = switch (name) {
            case "a" -> 0;
            case "b" -> 1;
            case "linear" -> 2;
            default -> 3;
        };
        return REDIS.url("timeout_ms=2000&lease_ms=5000").replace("/0", "/" + db);
    }

    @Override
    SessionStoreLocation location(String name) {
        return SessionStoreLocation.parse(url(name));
    }

    @Override
    String otherProcessStore() {
        return url("replica");
    }
}
