package dev.engram.cli;

import dev.engram.cli.strategy.MemoryStrategy;
import com.fasterxml.jackson.databind.JsonNode;
import dev.engram.api.ConfigException;
import dev.engram.api.InvalidInputException;
import dev.engram.cli.bench.ConcurrencyResult;
import dev.engram.cli.bench.EngramRunner;
import dev.engram.cli.bench.Measurement;
import dev.engram.cli.bench.ModelShape;
import dev.engram.cli.bench.ProcessMemory;
import dev.engram.cli.bench.PythonTools;
import dev.engram.cli.bench.Report;
import dev.engram.cli.bench.WeightFiller;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.spi.kernel.FloatKernels;
import dev.engram.spi.kernel.ParallelHeads;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.LongConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measure ingest tokens/s, decode latency, resident memory and memory-state bytes per strategy",
                "and context length on one model, beside the same model in PyTorch (full attention with a KV cache,",
                "and the same memory scheme). Without --model a random model is exported with tools/bench (Python + torch).",
                "Writes a table (stdout), OUT/bench.json and PNG charts in OUT."})
public final class BenchCommand implements Callable<Integer> {
    @Option(names = "--quick", description = "Small model (4 layers, 256 dims), lengths 1K and 4K: a few minutes on 2 cores.")
    boolean quick;

    @Option(names = "--model", paramLabel = "DIR", description = {"Benchmark this package instead of exporting a random one "
            + "(missing provider weights are filled with random ones in a copy under OUT). Repeatable; a folder without "
            + "engram.json stands for every package directly inside it (e.g. --model models). With several packages each "
            + "gets its own OUT/NAME/ (table, bench.json, charts)."})
    List<Path> models;

    @Option(names = "--lengths", split = ",", paramLabel = "N", description = "Context lengths, e.g. 1K,4K,64K "
            + "(default: 1K,4K with --quick, else 1K,4K,16K,64K).")
    List<String> lengths;

    @Option(names = "--strategies", split = ",", paramLabel = "NAME",
            description = "Any of full, window, infini, continuous, lsh, lsh-knn (default: all), or full-bf16, window-bf16"
                    + " (those with kvCache: bfloat16).")
    List<String> strategies;

    @Option(names = "--weights", split = ",", paramLabel = "TYPE", description = {"Weight types to measure, each with"
            + " every strategy: float32, int8, int4 (default: the package's own). The float32 package is quantized into"
            + " OUT/NAME-TYPE by tools/engram_import/quantize.py (as engram quantize does; kept for the next run). The"
            + " PyTorch peer runs float32, so its columns stand beside the float32 rows only; --concurrency uses the first type."})
    List<String> weights;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "bench-out", description = "Output folder (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--threads", paramLabel = "N", description = "Threads for ONNX Runtime and torch (default: cores, at most 4).")
    Integer threads;

    @Option(names = "--decode-tokens", defaultValue = "4", description = "Tokens generated per decode run after each context (default: ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--decode-runs", paramLabel = "N", defaultValue = "5", description = "Decode runs after each context, one after"
            + " another: the table gives their median ms/token and spread, (slowest - fastest) / median (default: ${DEFAULT-VALUE})."
            + " The first token after the context is timed alone before them ('first tok ms'): a fresh sequence may allocate"
            + " its held rows there, once.")
    int decodeRuns;

    @Option(names = "--budget-s", paramLabel = "S", description = "Skip a length whose estimated run (from the previous length) "
            + "exceeds S seconds; 0 = never (default: 0 with --quick, else 900).")
    Double budget;

    @Option(names = "--peer-full-kv-budget-s", paramLabel = "S", description = "--budget-s for the PyTorch full-KV peer alone, "
            + "the reference of the x full-KV ratios (default: --budget-s).")
    Double fullKvBudget;

    @Option(names = "--concurrency", split = ",", paramLabel = "N", description = {"Also serve N sessions together per "
            + "level (e.g. 1,4,8,16) through one batched engine call per step: aggregate ingest and decode tokens/s and "
            + "per-token latency p50/p99, beside the level-1 (single-session) figures of the same run. Each session "
            + "ingests the first --lengths value (plus a stagger of i x segment / N) in one call, then decodes "
            + "--concurrency-steps greedy tokens. Table, bench.json 'concurrency', concurrency-*.png."})
    List<Integer> concurrency;

    @Option(names = "--concurrency-steps", paramLabel = "N", description = "Decode steps per level with --concurrency "
            + "(default: the segment length, so every session crosses one segment boundary).")
    Integer concurrencySteps;

    @picocli.CommandLine.Mixin
    PythonOptions pythonOptions;

    @Option(names = "--no-peer", description = "Do not run the PyTorch peer.")
    boolean noPeer;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Spec
    CommandSpec spec;

    static final List<String> WEIGHT_TYPES = List.of(ModelManifest.FLOAT32_WEIGHTS, "int8", "int4");

    /** --concurrency, sorted, with level 1 added (empty without the option). */
    private List<Integer> levels = List.of();

    /** /proc/loadavg when the command started (the machine's load is part of every number). */
    private String loadAtStart;

    @Override
    public Integer call() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        loadAtStart = loadAverage();
        List<Integer> lens = parseLengths();
        List<String> strats = strategies == null ? MemoryStrategy.ALL : List.copyOf(strategies);
        for (String s : strats) {
            if (!MemoryStrategy.ALL.contains(s) && !MemoryStrategy.VARIANTS.contains(s)) {
                throw InvalidInputException.outOfRange("--strategies", s, String.join(", ", MemoryStrategy.ALL) + " or "
                        + String.join(", ", MemoryStrategy.VARIANTS));
            }
        }
        for (int i = 0; weights != null && i < weights.size(); i++) {
            if (!WEIGHT_TYPES.contains(weights.get(i))) {
                throw InvalidInputException.outOfRange("--weights[" + i + "]", weights.get(i), String.join(", ", WEIGHT_TYPES));
            }
        }
        List<Integer> given = concurrency == null ? List.of() : concurrency;
        for (int i = 0; i < given.size(); i++) {
            if (given.get(i) == null || given.get(i) < 1 || given.get(i) > 256) {
                throw InvalidInputException.outOfRange("--concurrency[" + i + "]", given.get(i), "1-256 sessions");
            }
        }
        // level 1, the single-session figure every other level is compared with, is always measured
        levels = given.isEmpty() ? List.of()
                : java.util.stream.Stream.concat(java.util.stream.Stream.of(1), given.stream()).distinct().sorted().toList();
        if (concurrencySteps != null && (concurrencySteps < 1 || concurrencySteps > 100_000)) {
            throw InvalidInputException.outOfRange("--concurrency-steps", concurrencySteps, "1-100000");
        }
        if (decodeTokens < 0 || decodeTokens > 100_000) {
            throw InvalidInputException.outOfRange("--decode-tokens", decodeTokens, "0-100000 (0: no decode figures)");
        }
        if (decodeRuns < 1 || decodeRuns > 1000) {
            throw InvalidInputException.outOfRange("--decode-runs", decodeRuns, "1-1000");
        }
        int nThreads = threads != null ? threads : Math.min(4, Runtime.getRuntime().availableProcessors());
        double budgetS = budget != null ? budget : quick ? 0 : 900;
        UserFiles.outputFolder("--out", out);
        Files.createDirectories(out);
        PythonTools pyTools = pythonOptions.tools(line -> err.println("  | " + line));

        List<Path> packages = models == null ? List.of() : packages(models);
        if (packages.isEmpty()) {
            return benchOne(null, out, lens, strats, nThreads, budgetS, pyTools, stdout, err);
        }
        for (Path p : packages) {
            Path dir = packages.size() == 1 ? out : out.resolve(p.toAbsolutePath().normalize().getFileName().toString());
            Files.createDirectories(dir);
            if (packages.size() > 1) {
                stdout.println("== " + p + " (" + dir + ")");
                stdout.flush();
            }
            int rc = benchOne(p, dir, lens, strats, nThreads, budgetS, pyTools, stdout, err);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    }

    /** The given --model paths, a folder without engram.json replaced by the packages directly inside it (sorted). */
    static List<Path> packages(List<Path> given) throws IOException {
        List<Path> out = new ArrayList<>();
        for (Path g : given) {
            if (Files.exists(g.resolve(ModelManifest.FILE_NAME))) {
                out.add(g);
                continue;
            }
            if (!Files.isDirectory(g)) {
                throw InvalidInputException.outOfRange("--model", g, "a model package (a folder with "
                        + ModelManifest.FILE_NAME + ") or a folder of packages");
            }
            List<Path> inside;
            try (var list = Files.list(g)) {
                inside = list.filter(p -> Files.exists(p.resolve(ModelManifest.FILE_NAME))).sorted().toList();
            }
            if (inside.isEmpty()) {
                throw InvalidInputException.outOfRange("--model", g, "a model package (a folder with "
                        + ModelManifest.FILE_NAME + ") or a folder holding at least one");
            }
            out.addAll(inside);
        }
        return out;
    }

    /** The dense torch checkpoint of a package: DIR/model.pt (engram bench exports) or DIR.model.pt beside it (train.py). */
    static Optional<Path> checkpoint(Path... dirs) {
        for (Path d : dirs) {
            Path inside = d.resolve("model.pt");
            if (Files.exists(inside)) {
                return Optional.of(inside);
            }
            Path n = d.toAbsolutePath().normalize();
            Path beside = n.resolveSibling(n.getFileName() + ".model.pt");
            if (Files.exists(beside)) {
                return Optional.of(beside);
            }
        }
        return Optional.empty();
    }

    /** One package (null: the random one, exported into {@code out}) through Engram and the peer; outputs in {@code out}. */
    private int benchOne(Path model, Path out, List<Integer> lens, List<String> strats, int nThreads, double budgetS,
                         PythonTools pyTools, PrintWriter stdout, PrintWriter err) throws IOException {
        Optional<String> pyMissing = Optional.empty();
        boolean pyChecked = false;
        // 1. the model
        Path source;
        ModelShape shape = quick ? ModelShape.QUICK : ModelShape.GPT2_SMALL;
        if (model != null) {
            source = model;
        } else {
            source = out.resolve("model-" + shape.name());
            Path stamp = source.resolve("bench-model.txt");
            boolean reuse = Files.exists(stamp) && Files.readString(stamp).strip().equals(shape.stamp())
                    && Files.exists(source.resolve("engram.json")) && Files.exists(source.resolve("model.pt"));
            if (!reuse) {
                pyMissing = pyTools.unavailable();
                pyChecked = true;
                if (pyMissing.isPresent()) {
                    err.println("engram: cannot export the random bench model: " + pyMissing.get() + "; give --model DIR");
                    return 2;
                }
                err.println("exporting a random " + shape.stamp() + " model to " + source + " (tools/bench/make_model.py)");
                long t0 = System.nanoTime();
                pyTools.makeModel(source, shape);
                Files.writeString(stamp, shape.stamp() + "\n");
                err.printf(Locale.ROOT, "exported in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            }
        }
        List<String> problems = new ArrayList<>();
        ModelManifest manifest = ModelManifest.read(source.resolve(ModelManifest.FILE_NAME), problems);
        if (manifest == null) {
            throw new ConfigException(source.toString(), problems);
        }
        int segment = manifest.segmentLength();
        Map<String, int[]> needed = WeightFiller.needed(dev.engram.runtime.EngineFactory.create().registry(),
                manifest.architecture(), strats, segment);
        Path target = model == null ? source : out.resolve("model-" + source.toAbsolutePath().normalize().getFileName() + "-filled");
        Path pkg = WeightFiller.fill(source, target, needed, 1234);
        if (!pkg.equals(source)) {
            err.println("provider weights missing from " + source + " were filled with random ones in " + pkg);
        }

        // the package per weight type: the filled package itself for its own type, else a quantized copy of it
        List<String> types = weights == null ? List.of(manifest.weightType()) : weights.stream().distinct().toList();
        List<Path> typed = new ArrayList<>();
        for (String type : types) {
            typed.add(type.equals(manifest.weightType()) ? pkg : quantizedCopy(pkg, manifest, type, out, pyTools, err));
        }

        // 2. Engram
        long total = (long) types.size() * strats.size() * lens.stream().mapToLong(Integer::longValue).sum();
        err.println("plugin loops: " + pluginLoops());
        List<Measurement> results = new ArrayList<>();
        ProgressBar bar = noProgress ? null : new ProgressBarBuilder().setTaskName("engram bench").setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUnit(" tok", 1).setUpdateIntervalMillis(500).showSpeed().build();
        // per strategy (and weight type): the tokens decoded before the timed runs, until the JIT settled (EngramRunner)
        Map<String, Integer> decodeWarmUps = new LinkedHashMap<>();
        try {
            LongConsumer progress = bar == null ? n -> { } : bar::stepBy;
            for (Path typedPkg : typed) {
                for (String s : strats) {
                    if (bar != null) {
                        bar.setExtraMessage(s);
                    }
                    EngramRunner runner = new EngramRunner(typedPkg, nThreads, decodeTokens, decodeRuns, budgetS, progress,
                            bar == null ? line -> err.println("  " + line) : bar::setExtraMessage);
                    results.addAll(runner.run(s, lens));
                    decodeWarmUps.put(s + (typed.size() > 1 ? " " + runner.weights() : ""), runner.decodeWarmUpTokens());
                }
            }
        } finally {
            if (bar != null) {
                bar.stepTo(total);
                bar.close();
            }
        }

        List<ConcurrencyResult> served = new ArrayList<>();
        if (!levels.isEmpty()) {
            int steps = concurrencySteps != null ? concurrencySteps : segment;
            err.println("serving " + levels + " sessions together: context " + lens.get(0) + " tokens each, "
                    + steps + " decode steps");
            for (String s : strats) {
                EngramRunner runner = new EngramRunner(typed.get(0), nThreads, decodeTokens, decodeRuns, budgetS, n -> { },
                        line -> err.println("  " + line));
                served.addAll(runner.runConcurrency(s, levels, lens.get(0), steps));
            }
        }

        // 3. the PyTorch peer
        JsonNode peer = null;
        String peerNote;
        if (noPeer) {
            peerNote = "not run (--no-peer)";
        } else {
            if (!pyChecked) {
                pyMissing = pyTools.unavailable();
            }
            if (pyMissing.isPresent()) {
                peerNote = "skipped: " + pyMissing.get();
            } else if (checkpoint(pkg, source).isEmpty()) {
                peerNote = "skipped: " + source + " has no model.pt inside or beside it (the dense weights for torch; "
                        + "packages exported by engram bench and by tools/engram_model/train.py have one)";
            } else {
                err.println("running the PyTorch peer (tools/bench/peer.py)");
                try {
                    peer = pyTools.peer(pkg, checkpoint(pkg, source).get(), lens, nThreads, strats, segment, budgetS,
                            fullKvBudget != null ? fullKvBudget : budgetS, out);
                    peerNote = "torch " + peer.path("torch").asText() + ", " + peer.path("threads").asInt() + " threads, BLAS "
                            + peer.path("blas").path("config").toString() + " mapped " + peer.path("blas").path("mapped").toString();
                } catch (IOException e) {
                    peerNote = "failed: " + e.getMessage();
                }
            }
        }

        // 4. outputs
        Report report = new Report(results, peer, peerNote, served);
        stdout.print(report.table());
        Map<String, Object> header = header(pkg, manifest, lens, strats, nThreads);
        header.put("decodeWarmUpTokens", decodeWarmUps);
        header.put("weights", types);
        Path json = out.resolve("bench.json");
        report.writeJson(json, header);
        List<Path> charts = report.writeCharts(out, manifest.name() + " (" + manifest.architecture().layers() + " layers, "
                + manifest.architecture().modelDim() + " dims, " + nThreads + " threads)");
        stdout.println("wrote " + json + (charts.isEmpty() ? "" : ", " + String.join(", ", charts.stream().map(Path::toString).toList())));
        stdout.flush();
        return 0;
    }

    /**
     * {@code pkg} (a float32 package) quantized to {@code type} in OUT/NAME-TYPE by tools/engram_import/quantize.py. A
     * copy that an earlier run made from the same files (its stamp: the source's path, file names, sizes and times) is
     * reused; another one there is replaced, a folder there that this command did not write is refused.
     */
    private static Path quantizedCopy(Path pkg, ModelManifest manifest, String type, Path out, PythonTools pyTools,
                                      PrintWriter err) throws IOException {
        if (!manifest.weightType().equals(ModelManifest.FLOAT32_WEIGHTS)) {
            throw InvalidInputException.outOfRange("--weights", type, manifest.weightType() + " (" + pkg + " is a "
                    + manifest.weightType() + " package: give its float32 source to measure other weight types)");
        }
        Path target = out.resolve(pkg.toAbsolutePath().normalize().getFileName() + "-" + type);
        Path stamp = target.resolve("bench-source.txt");
        String source = sourceStamp(pkg) + "type " + type + "\n";
        if (Files.exists(stamp) && Files.readString(stamp).equals(source) && Files.exists(target.resolve(ModelManifest.FILE_NAME))) {
            return target;
        }
        if (Files.exists(target)) {
            if (!Files.exists(stamp)) {
                throw InvalidInputException.outOfRange("--out", out, "a folder where " + target.getFileName()
                        + " is free or was written by engram bench (it has no bench-source.txt)");
            }
            try (var walk = Files.walk(target)) {
                for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        Optional<String> missing = pyTools.unavailable();
        if (missing.isPresent()) {
            throw new IOException("cannot quantize " + pkg + " to " + type + " for --weights: " + missing.get());
        }
        err.println("quantizing " + pkg + " to " + type + " in " + target + " (tools/engram_import/quantize.py)");
        PythonTools.Result r = pyTools.module("engram_import.quantize", List.of("--from", pkg.toAbsolutePath().toString(),
                "--out", target.toAbsolutePath().toString(), "--type", type), 3600);
        if (r.exit() != 0) {
            throw new IOException("engram_import.quantize failed (exit " + r.exit() + ") on " + pkg + " for --weights "
                    + type + ": " + r.output().strip().lines().reduce((a, b) -> b).orElse(""));
        }
        Files.writeString(stamp, source);
        return target;
    }

    /** The source package's path and every file's name, size and modification time: what a reused copy must match. */
    private static String sourceStamp(Path pkg) throws IOException {
        StringBuilder sb = new StringBuilder(pkg.toAbsolutePath().normalize() + "\n");
        try (var files = Files.list(pkg)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                sb.append(f.getFileName()).append(' ').append(Files.size(f)).append(' ')
                        .append(Files.getLastModifiedTime(f).toMillis()).append('\n');
            }
        }
        return sb.toString();
    }

    private List<Integer> parseLengths() {
        return Formats.tokenCounts("--lengths", lengths != null ? lengths : quick ? List.of("1K", "4K") : List.of("1K", "4K", "16K", "64K"));
    }

    /** How the attention and memory plugins run their loops here: SIMD or plain, and with how many helpers. */
    static String pluginLoops() {
        int helpers = ParallelHeads.helpers();
        return FloatKernels.get().description() + " kernels, " + helpers + " helper thread" + (helpers == 1 ? "" : "s");
    }

    private Map<String, Object> header(Path pkg, ModelManifest m, List<Integer> lens, List<String> strats, int nThreads) {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("format", "engram-bench/1");
        h.put("date", OffsetDateTime.now().toString());
        // the parse result's original args are the whole command line, from the subcommand's name when run under engram
        List<String> args = spec.commandLine().getParseResult().originalArgs();
        h.put("command", "engram " + (!args.isEmpty() && args.get(0).equals(spec.name()) ? "" : spec.name() + " ")
                + String.join(" ", args));
        Map<String, Object> machine = new LinkedHashMap<>();
        machine.put("cores", Runtime.getRuntime().availableProcessors());
        machine.put("cpu", cpuModel());
        machine.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        machine.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
        machine.put("loadAverageAtStart", loadAtStart);
        machine.put("loadAverageAtEnd", loadAverage());
        machine.put("rssAtEndBytes", ProcessMemory.rssBytes());
        h.put("machine", machine);
        Map<String, Object> model = new LinkedHashMap<>();
        ModelManifest.Architecture a = m.architecture();
        model.put("package", pkg.toString());
        model.put("name", m.name());
        model.put("layers", a.layers());
        model.put("heads", a.heads());
        model.put("kvHeads", a.kvHeads());
        model.put("modelDim", a.modelDim());
        model.put("vocabSize", a.vocabSize());
        model.put("segmentLength", m.segmentLength());
        h.put("model", model);
        h.put("threads", nThreads);
        h.put("pluginLoops", pluginLoops());
        h.put("decodeTokens", decodeTokens);
        h.put("decodeRuns", decodeRuns);
        h.put("lengths", lens);
        h.put("strategies", strats);
        if (!levels.isEmpty()) {
            h.put("concurrencyLevels", levels);
        }
        Map<String, Object> configs = new LinkedHashMap<>();
        strats.forEach(s -> configs.put(s, MemoryStrategy.layer(s, m.segmentLength())));
        h.put("strategyConfigs", configs);
        return h;
    }

    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }
}
