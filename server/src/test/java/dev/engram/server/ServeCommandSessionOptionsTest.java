package dev.engram.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** engram serve's session lifecycle options reach the server's {@link SessionPolicy} (their bounds: cli's ServeCommandTest). */
class ServeCommandSessionOptionsTest {
    @TempDir
    Path dir;

    @Test
    void sessionLifecycleOptionsReachTheServersPolicy() {
        ServeCommand c = new ServeCommand();
        new picocli.CommandLine(c).parseArgs("--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--session-ttl-s",
                "60", "--max-session-ttl-s", "3600", "--max-sessions-per-key", "5", "--max-session-bytes-per-key", "1000");
        SessionPolicy p = c.options().sessionPolicy();
        assertEquals(Duration.ofSeconds(60), p.defaultTtl());
        assertEquals(Duration.ofSeconds(3600), p.maxTtl());
        assertEquals(5, p.maxSessionsPerKey());
        assertEquals(1000, p.maxBytesPerKey());
        ServeCommand byDefault = new ServeCommand();
        new picocli.CommandLine(byDefault).parseArgs("--model", dir.toString(), "--data-dir", dir.resolve("d").toString());
        SessionPolicy none = byDefault.options().sessionPolicy();
        assertEquals(Duration.ZERO, none.defaultTtl(), "sessions live until deleted unless asked otherwise");
        assertEquals(0, none.maxSessionsPerKey());
        assertEquals(0, none.maxBytesPerKey());
    }

    @Test
    void stepTokensReachTheServerAndABadValueNamesTheOption() {
        ServeCommand c = new ServeCommand();
        new picocli.CommandLine(c).parseArgs("--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--step-tokens", "64");
        assertEquals(64, c.options().stepTokens());
        ServeCommand byDefault = new ServeCommand();
        new picocli.CommandLine(byDefault).parseArgs("--model", dir.toString(), "--data-dir", dir.resolve("d").toString());
        assertEquals(256, byDefault.options().stepTokens());
        for (String bad : new String[] {"0", "65537"}) {
            ServeCommand b = new ServeCommand();
            new picocli.CommandLine(b).parseArgs("--model", dir.toString(), "--data-dir", dir.resolve("d").toString(), "--step-tokens", bad);
            picocli.CommandLine.ParameterException e = org.junit.jupiter.api.Assertions.assertThrows(
                    picocli.CommandLine.ParameterException.class, b::options);
            assertEquals("--step-tokens is " + bad + "; valid: 1 to 65536", e.getMessage());
        }
    }
}
