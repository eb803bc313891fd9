package dev.engram.cli;

import dev.engram.api.SnapshotFiles;
import dev.engram.runtime.Engine;
import dev.engram.runtime.ModelSequence;
import dev.engram.runtime.text.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Ingest an input of any length into a model's memory, segment by segment (a progress bar on"
                + " stderr), and report speed (tokens/s), the memory footprint (state bytes, JVM heap, process RSS) and"
                + " the next-token prediction. --save/--resume keep the sequence's memory on disk.")
final class RunCommand implements Callable<Integer> {
    @Mixin
    ModelOptions options;

    @Mixin
    InputOptions inputOptions;

    @Option(names = "--resume", paramLabel = "SNAPSHOT", description = "Start from a saved sequence instead of an empty one.")
    Path resume;

    @Option(names = "--save", paramLabel = "SNAPSHOT", description = "Save the sequence's whole state afterwards (atomic write).")
    Path save;

    @Option(names = "--top", defaultValue = "5", description = "How many next-token candidates to print (default: ${DEFAULT-VALUE}).")
    int top;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Option(names = "--logits-out", paramLabel = "FILE", description = "Write the logits of the input's last segment"
            + " (rows from its last segment boundary to the end) as a float32 .npy file [rows, vocab], to compare with"
            + " another implementation.")
    Path logitsOut;

    @Option(names = "--all", description = "With --logits-out: every input position's logits [tokens, vocab] (tokens x vocab"
            + " x 4 bytes of heap).")
    boolean allLogits;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (allLogits && logitsOut == null) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--all needs --logits-out FILE");
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        UserFiles.input("--resume", resume);
        UserFiles.output("--save", save); // before the work, not after the whole input was ingested
        UserFiles.output("--logits-out", logitsOut);
        try (Engine engine = options.load()) {
            engine.warnings().forEach(w -> err.println("warning: " + w));
            ModelSequence sequence = engine.newSequence();
            if (resume != null) {
                sequence.restore(Files.readAllBytes(resume));
            }
            // a resumed text continues a sequence: no second set of leading special tokens
            int[] input = inputOptions.tokens(engine, resume == null);
            int s = engine.segmentLength();
            long segments = (sequence.pendingTokens() + input.length) / s;
            out.print(engine.plan().describe());
            out.printf("tokenizer: %s%n", engine.tokenizer().description());
            out.printf("input: %d tokens%s; segment length %d: %d complete segments%s%n", input.length,
                    inputOptions.unknownNote(engine, input), s, segments,
                    (sequence.pendingTokens() + input.length) % s == 0 ? "" : " + a partial one");
            out.flush();
            long[] done = {0};
            ProgressBar bar = noProgress ? null : new ProgressBarBuilder().setTaskName("ingest")
                    .setInitialMax(sequence.pendingTokens() + input.length) // a resumed sequence's pending tokens go through the segments too
                    .setStyle(ProgressBarStyle.ASCII).setUnit(" tok", 1).setUpdateIntervalMillis(250).showSpeed()
                    .setConsumer(new ConsoleProgressBarConsumer(Formats.stream(err))).build();
            engine.setSegmentListener((seqs, tokens, nanos) -> {
                done[0]++;
                if (bar != null) {
                    bar.stepBy(tokens);
                    bar.setExtraMessage(String.format(" segment %d/%d (%.1f ms)", done[0], segments, nanos / 1e6));
                }
            });
            long start = System.nanoTime();
            float[] logits;
            float[][] rows = null;
            try {
                if (logitsOut == null) {
                    logits = engine.ingest(sequence, input);
                } else {
                    // the rows from the last segment boundary before the end (or all of them with --all)
                    long end = sequence.position() + input.length;
                    long lastStart = ((end - 1) / s) * s;
                    int split = allLogits ? 0 : (int) Math.max(0, lastStart - sequence.position());
                    if (split > 0) {
                        engine.ingest(sequence, java.util.Arrays.copyOf(input, split));
                    }
                    rows = engine.ingestAll(java.util.List.of(sequence),
                            java.util.List.of(java.util.Arrays.copyOfRange(input, split, input.length))).get(0);
                    logits = rows[rows.length - 1];
                }
            } finally {
                engine.setSegmentListener(null);
                if (bar != null) {
                    bar.stepTo(input.length);
                    bar.close();
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            out.printf("ingested %d tokens in %.3f s (%.0f tokens/s); %d segments; position %d%n",
                    input.length, seconds, input.length / seconds, done[0], sequence.position());
            out.println(Formats.memory(sequence));
            out.println("next token candidates: " + topTokens(logits, top, engine.tokenizer()));
            if (logitsOut != null) {
                Npy.writeFloat32(logitsOut, rows);
                out.printf("logits [%d, %d] (positions %d-%d) written to %s%n", rows.length, engine.vocabSize(),
                        sequence.position() - rows.length, sequence.position() - 1, logitsOut);
            }
            if (save != null) {
                SnapshotFiles.writeAtomically(save, sequence.snapshot());
                out.println("saved " + save);
            }
        }
        return 0;
    }

    static String topTokens(float[] logits, int k, Tokenizer tokenizer) {
        Integer[] ids = new Integer[logits.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i;
        }
        java.util.Arrays.sort(ids, (a, b) -> Float.compare(logits[b], logits[a]));
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(k, ids.length); i++) {
            sb.append(i == 0 ? "" : ", ").append(ids[i]).append(Formats.tokenText(tokenizer, ids[i]))
                    .append(String.format(" (%.3f)", logits[ids[i]]));
        }
        return sb.toString();
    }
}
