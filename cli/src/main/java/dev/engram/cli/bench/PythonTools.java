package dev.engram.cli.bench;

import dev.engram.cli.strategy.MemoryStrategy;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * The Python side, run as subprocesses from the repository's {@code tools/} folder: {@code bench.make_model}
 * (exports a random package with engram_model.export) and {@code bench.peer} (the PyTorch peer).
 */
public final class PythonTools {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String python;
    private final Path tools;
    private final Consumer<String> log;

    public PythonTools(String python, Path tools, Consumer<String> log) {
        this.python = python;
        this.tools = tools;
        this.log = log;
    }

    /** {@code tools/} found from {@code start} upwards (a folder holding engram_model/export.py and bench/peer.py). */
    public static Optional<Path> findTools(Path start) {
        for (Path p = start.toAbsolutePath().normalize(); p != null; p = p.getParent()) {
            Path t = p.resolve("tools");
            if (Files.exists(t.resolve("engram_model/export.py")) && Files.exists(t.resolve("bench/peer.py"))) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    /** Why Python with torch cannot be used here, or empty when it can. */
    public Optional<String> unavailable() {
        if (tools == null) {
            return Optional.of("no tools/ folder (with engram_model/ and bench/) was found above the working directory; give --tools");
        }
        try {
            Result r = exec(List.of(python, "-c", "import torch, onnx; print(torch.__version__)"), 120);
            return r.exit == 0 ? Optional.empty()
                    : Optional.of(python + " cannot import torch and onnx: " + lastLine(r.output));
        } catch (IOException e) {
            return Optional.of("cannot run " + python + ": " + e.getMessage());
        }
    }

    /** Exports a random package into {@code out} (bench.make_model). */
    public void makeModel(Path out, ModelShape shape) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(python, "-m", "bench.make_model", out.toAbsolutePath().toString(),
                "--layers", "" + shape.layers(), "--heads", "" + shape.heads(), "--dim", "" + shape.dim(),
                "--vocab", "" + shape.vocab(), "--segment", "" + shape.segment(), "--seed", "" + shape.seed()));
        Result r = exec(cmd, 3600);
        if (r.exit != 0) {
            throw new IOException("bench.make_model failed (exit " + r.exit + "): " + tail(r.output));
        }
    }

    /** Runs bench.peer on the package and its dense torch checkpoint (model.pt); returns its JSON. */
    public JsonNode peer(Path pkg, Path checkpoint, List<Integer> lengths, int threads, List<String> strategies, int segment,
                         double budgetSeconds, double fullKvBudgetSeconds, Path workDir) throws IOException {
        Map<String, Object> trees = new LinkedHashMap<>();
        strategies.forEach(s -> trees.put(s, MemoryStrategy.layer(s, segment)));
        Path strategiesFile = workDir.resolve("strategies.json");
        Files.writeString(strategiesFile, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(trees));
        Path out = workDir.resolve("peer.json");
        Files.deleteIfExists(out);
        List<String> cmd = List.of(python, "-m", "bench.peer", "--package", pkg.toAbsolutePath().toString(),
                "--checkpoint", checkpoint.toAbsolutePath().toString(),
                "--lengths", lengths.stream().map(String::valueOf).collect(Collectors.joining(",")),
                "--threads", "" + threads, "--strategies", strategiesFile.toAbsolutePath().toString(),
                "--json-out", out.toAbsolutePath().toString(), "--budget-s", "" + budgetSeconds,
                "--full-kv-budget-s", "" + fullKvBudgetSeconds);
        Result r = exec(cmd, 24 * 3600);
        if (r.exit != 0 || !Files.exists(out)) {
            throw new IOException("bench.peer failed (exit " + r.exit + "): " + tail(r.output));
        }
        return JSON.readTree(out.toFile());
    }

    /**
     * Runs {@code python -m MODULE ARGS...} in tools/ (each output line goes to the log as it comes); returns the exit
     * status and the whole output.
     */
    public Result module(String module, List<String> args, long timeoutSeconds) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(python, "-m", module));
        cmd.addAll(args);
        return exec(cmd, timeoutSeconds);
    }

    /** A finished Python process: its exit status and its output (stdout and stderr together). */
    public record Result(int exit, String output) {
    }

    private Result exec(List<String> cmd, long timeoutSeconds) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (tools != null) {
            pb.directory(tools.toFile());
            pb.environment().put("PYTHONPATH", tools.toAbsolutePath().toString());
        }
        Process p = pb.start();
        StringBuilder output = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()))) {
                for (String line; (line = in.readLine()) != null; ) {
                    synchronized (output) {
                        output.append(line).append('\n');
                    }
                    log.accept(line);
                }
            } catch (IOException ignored) {
                // the process ended
            }
        });
        reader.setDaemon(true);
        reader.start();
        try {
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " ran longer than " + timeoutSeconds + " s");
            }
            reader.join(5000);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        synchronized (output) {
            return new Result(p.exitValue(), output.toString());
        }
    }

    private static String lastLine(String s) {
        String[] lines = s.strip().split("\n");
        return lines.length == 0 ? "" : lines[lines.length - 1];
    }

    private static String tail(String s) {
        String t = s.strip();
        return t.length() > 2000 ? "..." + t.substring(t.length() - 2000) : t;
    }
}
