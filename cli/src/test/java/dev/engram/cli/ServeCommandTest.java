package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** engram serve's option checks and start-up errors (the HTTP behaviour is tested in the server module). */
class ServeCommandTest {
    @TempDir
    Path dir;

    private static String[] run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = Engram.commandLine();
        cl.setOut(new PrintWriter(new StringWriter(), true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new String[] {Integer.toString(exit), err.toString()};
    }

    @Test
    void aBadValueIsNamedByItsOption() {
        String[] r = run("serve", "--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--queue", "0");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--queue is 0; valid: >= 1"), r[1]);
        r = run("serve", "--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--port", "70000");
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--port is 70000; valid: 0 (any free port) to 65535"), r[1]);
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
