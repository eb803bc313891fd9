package dev.engram.architecture.build;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code .ci/python-tests.sh}, the root pom's verify step for the PyTorch reference tests: on a machine
 * without the Python packages it must fail (never skip silently) and say exactly what to install.
 * Fake interpreters stand in for a python3 that lacks packages.
 */
class PythonTestsScriptTest {

    private static final String INSTALL =
            "apt-get install python3-torch python3-numpy libopenblas0-pthread python3-onnx python3-pytest";
    private static final Path SCRIPT = Path.of("..", ".ci", "python-tests.sh").toAbsolutePath().normalize();

    @TempDir
    Path dir;

    @Test
    void missingPackagesFailWithTheInstallCommandAndTheirNames() throws Exception {
        Path python = fakePython("case \"$*\" in *'import torch'*|*'import onnx'*) exit 1;; esac\n"
                + "echo \"ran: $*\"; exit 0\n");
        Result r = run(python.toString());
        assertNotEquals(0, r.exit, r.output);
        assertTrue(r.output.contains("Install them: " + INSTALL), r.output);
        assertTrue(r.output.contains("Python packages torch, onnx, which " + python + " cannot import"), r.output);
        assertTrue(!r.output.contains("ran: -m pytest"), "pytest must not start without its packages: " + r.output);
    }

    @Test
    void aMissingInterpreterFailsWithTheInstallCommand() throws Exception {
        Result r = run(dir.resolve("no-such-python").toString());
        assertNotEquals(0, r.exit, r.output);
        assertTrue(r.output.contains("does not exist. Install them: " + INSTALL), r.output);
    }

    @Test
    void withEveryPackageItRunsPytestOnToolsTestsAndPassesItsExitStatusOn() throws Exception {
        Path python = fakePython("case \"$*\" in *pytest*tools/tests*) echo \"ran: $*\"; exit 3;; esac\nexit 0\n");
        Result r = run(python.toString());
        assertEquals(3, r.exit, r.output);
        assertTrue(r.output.contains("ran: -m pytest -q tools/tests"), r.output);
    }

    @Test
    void theRootPomRunsThePythonTestsThroughTheScript() throws IOException {
        String pom = Files.readString(SCRIPT.getParent().getParent().resolve("pom.xml"));
        assertTrue(pom.contains("<argument>${project.basedir}/.ci/python-tests.sh</argument>"),
                "the root pom's pytorch-reference-tests execution no longer runs .ci/python-tests.sh");
    }

    private Path fakePython(String body) throws IOException {
        Path python = dir.resolve("python3");
        Files.writeString(python, "#!/bin/sh\n" + body);
        Files.setPosixFilePermissions(python, PosixFilePermissions.fromString("rwxr-xr-x"));
        return python;
    }

    private record Result(int exit, String output) {
    }

    private static Result run(String python) throws Exception {
        Process p = new ProcessBuilder("bash", SCRIPT.toString(), python).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "script did not finish");
        return new Result(p.exitValue(), out);
    }
}
