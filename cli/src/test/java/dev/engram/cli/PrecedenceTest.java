package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.engram.runtime.config.ConfigLoader;
import dev.engram.runtime.onnx.OnnxGraphs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One precedence rule for every setting with several sources: an explicit option > system property > environment >
 * config file > built-in default; an option the user did not give overrides nothing. Checked for each command that
 * has such options (run, generate, inspect: --device and --memory; bench has no config file, serve and demo no such
 * option), with the value set in the file only, the option only, and both.
 */
class PrecedenceTest {
    static final Path MODEL = CliErrorsTest.PASSKEY;
    static final String CUDA_WARNING = "device 'cuda' was requested";

    @TempDir
    Path dir;

    private static List<String> command(String name, String... more) {
        List<String> args = new ArrayList<>(List.of(name, "--model", MODEL.toString()));
        switch (name) {
            case "run" -> args.addAll(List.of("--tokens", "1,2", "--no-progress"));
            case "generate" -> args.addAll(List.of("--tokens", "1,2", "--max-tokens", "1", "--ids"));
            default -> { }
        }
        args.addAll(List.of(more));
        return args;
    }

    private static CliRun ok(List<String> args) {
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.all());
        return r;
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }

    private Path config(String yaml) throws IOException {
        Path f = Files.createTempFile(dir, "config", ".yaml");
        Files.writeString(f, yaml);
        return f;
    }

    /** Whether the run asked for CUDA: on a machine without it, exactly one warning line says so (and it runs on CPU). */
    private static boolean askedForCuda(CliRun r) {
        int warnings = count(r.err(), CUDA_WARNING) + count(r.out(), CUDA_WARNING);
        assertTrue(warnings <= 1, "one warning, once, through one channel:\n" + r.all());
        return warnings == 1;
    }

    @Test
    void deviceInEachCommand() throws IOException {
        assumeTrue(OnnxGraphs.cudaUnavailableReason(0) != null, "CUDA is available here: a cuda request gives no warning to observe");
        Path cuda = config("device: cuda\n");
        Path cpu = config("device: cpu\n");
        for (String c : List.of("run", "generate", "inspect")) {
            assertTrue(askedForCuda(ok(command(c, "--config", cuda.toString()))), c + ": the file's device, no option given");
            assertTrue(askedForCuda(ok(command(c, "--device", "cuda"))), c + ": the option, no file");
            assertTrue(!askedForCuda(ok(command(c))), c + ": neither: the default, cpu");
            assertTrue(!askedForCuda(ok(command(c, "--config", cuda.toString(), "--device", "cpu"))), c + ": the option beats the file");
            assertTrue(askedForCuda(ok(command(c, "--config", cpu.toString(), "--device", "cuda"))), c + ": the option beats the file");
            System.setProperty("engram.device", "cuda");
            try {
                assertTrue(askedForCuda(ok(command(c, "--config", cpu.toString()))), c + ": the system property beats the file");
                assertTrue(!askedForCuda(ok(command(c, "--device", "cpu"))), c + ": the option beats the system property");
            } finally {
                System.clearProperty("engram.device");
            }
        }
    }

    @Test
    void memoryInEachCommand() throws IOException {
        // passkey-infini's own config: window 8 (the segment and 8 tokens before it) + infini on every layer. The file (laid over it) takes the memory off.
        Path noMemory = config("layers:\n  default:\n    attention: {provider: window, window: 0}\n    memory: none\n");
        for (String c : List.of("run", "inspect")) {
            assertTrue(memories(ok(command(c))).equals(List.of("infini", "infini")), c + ": the package's");
            assertEquals(List.of("-", "-"), memories(ok(command(c, "--config", noMemory.toString()))), c + ": the file's");
            assertEquals(List.of("infini", "infini"), memories(ok(command(c, "--config", noMemory.toString(), "--memory", "infini"))),
                    c + ": the option beats the file");
            assertEquals(List.of("-", "-"), memories(ok(command(c, "--memory", "window"))), c + ": the option (an attention: no memory)");
            System.setProperty("engram.layers.default.memory", "none");
            try {
                assertEquals(List.of("-", "-"), memories(ok(command(c))), c + ": the system property beats the package's config");
                assertEquals(List.of("infini", "infini"), memories(ok(command(c, "--memory", "infini"))),
                        c + ": the option beats the system property");
            } finally {
                System.clearProperty("engram.layers.default.memory");
            }
        }
    }

    /** The memory column of the plan the command printed ("layer  0  attention ... memory infini {update=delta}"). */
    private static List<String> memories(CliRun r) {
        List<String> out = new ArrayList<>();
        r.out().lines().map(String::strip).filter(l -> l.matches("layer +\\d+ +attention .*")).forEach(l -> {
            String m = l.substring(l.lastIndexOf(" memory ") + " memory ".length());
            out.add(m.split(" ")[0]);
        });
        return out;
    }

    /** The two sources below the options, in the one function that merges them: properties beat the environment. */
    @Test
    void systemPropertiesBeatTheEnvironmentForEveryConfigKey() {
        Map<List<String>, String> o = ConfigLoader.overrides(
                Map.of("ENGRAM__device", "cpu", "ENGRAM__session__intraOpThreads", "3", "ENGRAM__layers__default__memory", "none"),
                Map.of("engram.device", "cuda", "engram.session.intraOpThreads", "2", "engram.kernels", "scalar"));
        assertEquals("cuda", o.get(List.of("device")));
        assertEquals("2", o.get(List.of("session", "intraOpThreads")));
        assertEquals("none", o.get(List.of("layers", "default", "memory")), "the environment where no property is set");
        assertTrue(!o.containsKey(List.of("kernels")), "engram.kernels is a JVM setting, not a config key: " + o);
    }
}
