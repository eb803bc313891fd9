package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** --session-store values: a directory, or a Redis URL read field by field; a bad one names the field and the valid form. */
class SessionStoreLocationTest {
    @Test
    void aPathIsADirectory() {
        assertEquals(new SessionStoreLocation.Directory(Path.of("/tmp/engram-data")), SessionStoreLocation.parse("/tmp/engram-data"));
        assertEquals(new SessionStoreLocation.Directory(Path.of("data")), SessionStoreLocation.parse("data"));
    }

    @Test
    void aRedisUrlIsReadFieldByField() {
        assertEquals(new SessionStoreLocation.Redis("cache.internal", 6380, 3, null, null, false, Duration.ofMillis(2000),
                Duration.ofMillis(10_000), 16), SessionStoreLocation.parse("redis://cache.internal:6380/3"));
        assertEquals(new SessionStoreLocation.Redis("localhost", 6379, 0, "engram", "s3cr@t/x", true, Duration.ofMillis(500),
                Duration.ofMillis(3000), 4), SessionStoreLocation.parse("rediss://engram:s3cr%40t%2Fx@localhost?timeout_ms=500&lease_ms=3000&pool=4"));
        SessionStoreLocation.Redis onlyPassword = (SessionStoreLocation.Redis) SessionStoreLocation.parse("redis://:pw@[::1]:7000");
        assertEquals("::1", onlyPassword.host());
        assertEquals(null, onlyPassword.user());
        assertEquals("pw", onlyPassword.password());
        assertFalse(onlyPassword.toString().contains("pw"), "the password is never printed: " + onlyPassword);
        assertFalse(SessionStoreLocation.parse("redis://u:hunter2@h").toString().contains("hunter2"));
    }

    @Test
    void aBadUrlNamesTheFieldAndTheValidForm() {
        String[][] cases = {
                {"redis://localhost:abc", "the port is 'abc'; it must be a whole number from 1 to 65535"},
                {"redis://localhost:70000", "the port is '70000'"},
                {"redis://localhost:6379/x", "the database (the path after the port) is 'x'"},
                {"redis://:6379", "the host is missing"},
                {"redis://h?timeout_ms=0", "timeout_ms is '0'; it must be a whole number from 1 to 600000"},
                {"redis://h?lease_ms=5", "lease_ms is '5'; it must be a whole number from 100"},
                {"redis://h?pool=many", "pool is 'many'"},
                {"redis://h?colour=blue", "the parameter 'colour' is unknown (timeout_ms, lease_ms, pool)"},
                {"redis://h?timeout_ms", "the parameter 'timeout_ms' has no value"},
                {"memcached://h:11211", "the scheme 'memcached' is not supported"},
                {"redis://u:secret@h:port", "the port is 'port'"},
        };
        for (String[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SessionStoreLocation.parse(c[0]), c[0]);
            assertTrue(e.getMessage().startsWith("--session-store '"), e.getMessage());
            assertTrue(e.getMessage().contains(c[1]), e.getMessage());
            assertTrue(e.getMessage().endsWith("valid: a directory, or " + SessionStoreLocation.REDIS_FORM), e.getMessage());
            assertFalse(e.getMessage().contains("secret"), "no password in " + e.getMessage());
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SessionStoreLocation.parse(" ")).getMessage()
                .startsWith("--session-store is empty"));
    }
}
