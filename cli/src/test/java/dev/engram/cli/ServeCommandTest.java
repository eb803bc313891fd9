package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** engram serve's option checks and start-up errors (the HTTP behaviour is tested in the server module). */
class ServeCommandTest {
    @TempDir
    Path dir;

    private static String[] run(String... args) {
        CliRun r = CliRun.of(args);
        return new String[] {Integer.toString(r.exit()), r.err()};
    }

    @Test
    void aBadValueIsNamedByItsOption() {
        String[] r = run("serve", "--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--queue", "0");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--queue is 0; valid: >= 1"), r[1]);
        r = run("serve", "--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--port", "70000");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--port is 70000; valid: 0 (any free port) to 65535"), r[1]);
        r = run("serve", "--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--session-ttl-s", "-1");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--session-ttl-s is -1; valid: >= 0"), r[1]);
        r = run("serve", "--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--max-session-bytes-per-key", "-5");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--max-session-bytes-per-key is -5; valid: >= 0"), r[1]);
    }

    @Test
    void modelAndDataDirAreRequired() {
        String[] r = run("serve", "--port", "0");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--model") && r[1].contains("--data-dir"), r[1]);
    }

    @Test
    void aFolderThatIsNoModelPackageFailsBeforeListening() {
        String[] r = run("serve", "--model", dir.resolve("nope").toString(), "--data-dir", dir.resolve("d").toString(), "--port", "0");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("engram: ") && r[1].contains("nope"), r[1]);
    }
}
