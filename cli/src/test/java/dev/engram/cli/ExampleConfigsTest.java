package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The config files under examples/config, run the way examples/README.md tells a reader to:
 * {@code engram plan --config FILE --layers N --segments 3}. with-ema.yaml selects the third-party
 * {@code ema} plugin by name (engram-examples is on this module's test class path, as ENGRAM_PLUGINS
 * puts it on the launcher's); mixed.yaml mixes built-in memories by layer range.
 */
class ExampleConfigsTest {
    private static final Path CONFIGS = Path.of("..", "examples", "config");
    private static final Pattern SEGMENT = Pattern.compile("segment (\\d+): tokens (\\d+), output norm ([0-9.]+), state (\\d+) bytes");

    private static CliRun plan(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "plan";
        System.arraycopy(args, 0, all, 1, args.length);
        return CliRun.of(all);
    }

    @Test
    void withEmaSelectsTheThirdPartyPluginByNameAndRunsIt() {
        Path config = CONFIGS.resolve("with-ema.yaml");
        assertTrue(Files.isRegularFile(config), config + " is missing");
        CliRun r = plan("--config", config.toString(), "--layers", "4", "--segments", "3");
        assertEquals(0, r.exit(), r.out() + r.err());
        for (int layer = 0; layer < 4; layer++) {
            assertTrue(r.out().contains("layer  " + layer + "  attention window {positional=rope, window=256}     memory ema {decay=0.95}"),
                    "layer " + layer + ":\n" + r.out());
        }
        assertSegmentsRan(r.out(), 3, 32);
    }

    @Test
    void anEnvironmentStyleOverrideReachesTheEmaPlugin() {
        // what ENGRAM_OPTS=-Dengram.layers.default.memory.decay=0.5 does for ./engram; a bad value is named with its range
        String key = "engram.layers.default.memory.decay";
        System.setProperty(key, "0.5");
        try {
            CliRun r = plan("--config", CONFIGS.resolve("with-ema.yaml").toString(), "--layers", "2");
            assertEquals(0, r.exit(), r.out() + r.err());
            assertTrue(r.out().contains("memory ema {decay=0.5}"), r.out());
            System.setProperty(key, "1.5");
            r = plan("--config", CONFIGS.resolve("with-ema.yaml").toString(), "--layers", "2");
            assertTrue(r.exit() != 0, r.out());
            assertTrue(r.err().contains("layers.default.memory 'ema': 'decay' is 1.5; valid: a number in (0, 1), exclusive"),
                    r.err());
        } finally {
            System.clearProperty(key);
        }
    }

    @Test
    void mixedPutsInfiniOnLayers6To10AndTheKnnMemoryOnTheTopLayer() {
        CliRun r = plan("--config", CONFIGS.resolve("mixed.yaml").toString(), "--layers", "12", "--segments", "3");
        assertEquals(0, r.exit(), r.out() + r.err());
        for (int layer = 0; layer < 12; layer++) {
            String memory = layer < 6 ? "memory -" : layer <= 10 ? "memory infini {update=delta}" : "memory lsh-knn {k=16}";
            String line = String.format("layer %2d  attention window {positional=rope, window=512}     %s", layer, memory);
            assertTrue(r.out().contains(line), "expected '" + line + "' in:\n" + r.out());
        }
        assertSegmentsRan(r.out(), 3, 32);
    }

    private static void assertSegmentsRan(String out, int segments, int tokensPerSegment) {
        Matcher m = SEGMENT.matcher(out);
        int seen = 0;
        while (m.find()) {
            assertEquals(seen, Integer.parseInt(m.group(1)), out);
            assertEquals((seen + 1) * tokensPerSegment, Integer.parseInt(m.group(2)), out);
            double norm = Double.parseDouble(m.group(3));
            assertTrue(norm > 0 && Double.isFinite(norm), "segment " + seen + " output norm " + norm);
            assertTrue(Long.parseLong(m.group(4)) > 0, "segment " + seen + " state");
            seen++;
        }
        assertEquals(segments, seen, out);
    }
}
