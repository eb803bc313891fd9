package dev.engram.bench.state;

import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.ModelSequence;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * What a sequence's state operations cost beside re-ingesting its history: per strategy, a sequence is fed
 * {@code tokens} random tokens (timed: the cost of processing them again), then {@link ModelSequence#fork()},
 * {@link ModelSequence#checkpoint()} + {@link ModelSequence#rollback}, {@link ModelSequence#save} and
 * {@link ModelSequence#load} are timed (the fastest of 15 runs after warm-up) and the saved size is counted, and so is
 * a question that leaves the sequence unchanged (5 prompt tokens, 1 generated) run on a fork against one run between a
 * save and a load (the server's completion on a session before and after it used forks). Prints a
 * Markdown table; asserts nothing (figures go into runtime-onnx/README.md).
 *
 * <pre>
 *   mvn -B -q -pl benchmarks -am package -DskipTests -DskipPythonTests
 *   java -cp benchmarks/target/benchmarks.jar dev.engram.bench.state.SequenceStateCost [tokens] [models dir]
 * </pre>
 * Strategies: the four bundled passkey models with their own memories (window, infini, lsh-knn, continuous), and
 * passkey-window with its attention replaced by {@code full} and by {@code lsh}.
 */
public final class SequenceStateCost {
    private record Strategy(String name, String model, String config) {
    }

    private static final List<Strategy> STRATEGIES = List.of(
            new Strategy("window", "passkey-window", null),
            new Strategy("infini", "passkey-infini", null),
            new Strategy("continuous", "passkey-continuous", null),
            new Strategy("lsh-knn", "passkey-lsh-knn", null),
            new Strategy("lsh", "passkey-window", "layers: {default: {attention: {provider: lsh}}}"),
            new Strategy("full", "passkey-window", "layers: {default: {attention: {provider: full}}}"));

    private SequenceStateCost() {
    }

    public static void main(String[] args) throws IOException {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 65536;
        Path models = Path.of(args.length > 1 ? args[1] : "models");
        List<String> only = args.length > 2 ? Arrays.asList(args[2].split(",")) : null;
        System.out.printf(Locale.ROOT, "| strategy (model) | tokens | state MiB | saved MiB | fork ms | checkpoint ms |"
                + " rollback ms | save ms | load ms | re-ingest s (tok/s) | re-ingest / fork | question on a fork ms |"
                + " question with save + load ms |%n");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (Strategy s : STRATEGIES) {
            if (only != null && !only.contains(s.name())) {
                continue;
            }
            EngineLoader loader = new EngineLoader().systemOverrides(false);
            if (s.config() != null) {
                Path f = Files.createTempFile("engram-state-cost", ".yaml");
                Files.writeString(f, s.config());
                f.toFile().deleteOnExit();
                loader.config(f);
            }
            try (Engine engine = loader.load(models.resolve(s.model()))) {
                measure(s, engine, tokens);
            }
        }
    }

    private static void measure(Strategy s, Engine engine, int tokens) {
        SplittableRandom random = new SplittableRandom(42);
        int[] text = new int[tokens];
        for (int i = 0; i < tokens; i++) {
            text[i] = random.nextInt(engine.vocabSize());
        }
        engine.ingest(engine.newSequence(), Arrays.copyOf(text, Math.min(tokens, 2048))); // warm-up, not timed
        ModelSequence seq = engine.newSequence();
        long t0 = System.nanoTime();
        for (int from = 0; from < tokens; from += 4096) {
            engine.ingest(seq, Arrays.copyOfRange(text, from, Math.min(tokens, from + 4096)));
        }
        double ingestSeconds = (System.nanoTime() - t0) / 1e9;

        double fork = fastest(() -> seq.fork());
        double checkpoint = fastest(seq::checkpoint);
        ModelSequence.Checkpoint c = seq.checkpoint();
        double rollback = fastest(() -> seq.rollback(c));
        CountingStream counter = new CountingStream();
        seq.save(counter);
        double save = fastest(() -> seq.save(new CountingStream()));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        seq.save(bytes);
        byte[] saved = bytes.toByteArray();
        ModelSequence target = engine.newSequence();
        double load = fastest(() -> target.load(new ByteArrayInputStream(saved)));
        if (!Arrays.equals(saved, target.snapshot())) {
            throw new IllegalStateException(s.name() + ": the loaded sequence does not save to the same bytes");
        }
        // A question that must leave the sequence as it was (the server's completion on a session without
        // session_append): 5 prompt tokens and one generated, on a fork (now), or on the sequence itself between a
        // save and a load (what the server did before the fork existed).
        int[] question = Arrays.copyOf(text, 5);
        double onFork = fastest(() -> engine.generate(seq.fork(), question, GenerationParams.greedy(1), null));
        double withSaveLoad = fastest(() -> {
            byte[] before = seq.snapshot();
            engine.generate(seq, question, GenerationParams.greedy(1), null);
            seq.restore(before);
        });
        System.out.printf(Locale.ROOT, "| %s (%s) | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f (%.0f) | %.0fx | %.3f | %.3f |%n",
                s.name(), s.model(), tokens, seq.stateBytes() / 1048576.0, counter.count / 1048576.0, fork, checkpoint,
                rollback, save, load, ingestSeconds, tokens / ingestSeconds, ingestSeconds * 1000 / fork, onFork, withSaveLoad);
    }

    /**
     * The fastest of 15 runs in ms, after 3 unmeasured ones: on a shared machine a run is often preempted for longer
     * than the operation takes, so the minimum estimates the operation's own cost (the median is printed to stderr).
     */
    private static double fastest(Runnable action) {
        for (int i = 0; i < 3; i++) {
            action.run();
        }
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < 15; i++) {
            long t = System.nanoTime();
            action.run();
            ms.add((System.nanoTime() - t) / 1e6);
        }
        ms.sort(null);
        System.err.printf(Locale.ROOT, "  fastest %.3f ms, median %.3f ms, slowest %.3f ms%n", ms.get(0),
                ms.get(ms.size() / 2), ms.get(ms.size() - 1));
        return ms.get(0);
    }

    /** Counts the bytes written, keeps none. */
    private static final class CountingStream extends OutputStream {
        long count;

        @Override
        public void write(int b) {
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            count += len;
        }
    }
}
