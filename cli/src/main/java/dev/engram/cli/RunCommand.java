package dev.engram.cli;

import dev.engram.api.SnapshotFiles;
import dev.engram.runtime.Engine;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Ingest an input of any length into a model's memory, segment by segment, and report the",
                "next-token prediction, speed and memory footprint. --save/--resume keep the sequence's memory on disk."})
final class RunCommand implements Callable<Integer> {
    @Mixin
    ModelOptions options;

    @Option(names = "--resume", paramLabel = "SNAPSHOT", description = "Start from a saved sequence instead of an empty one.")
    Path resume;

    @Option(names = "--save", paramLabel = "SNAPSHOT", description = "Save the sequence's whole state afterwards (atomic write).")
    Path save;

    @Option(names = "--top", defaultValue = "5", description = "How many next-token candidates to print (default: ${DEFAULT-VALUE}).")
    int top;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        try (Engine engine = options.load()) {
            engine.warnings().forEach(w -> spec.commandLine().getErr().println("warning: " + w));
            int[] input = options.input(engine.vocabSize());
            ModelSequence sequence = engine.newSequence();
            if (resume != null) {
                sequence.restore(Files.readAllBytes(resume));
            }
            long start = System.nanoTime();
            float[] logits = engine.ingest(sequence, input);
            double seconds = (System.nanoTime() - start) / 1e9;
            out.print(engine.plan().describe());
            out.printf("ingested %d tokens in %.3f s (%.0f tokens/s); position %d; memory state %d bytes%n",
                    input.length, seconds, input.length / seconds, sequence.position(), sequence.stateBytes());
            out.println("next token candidates: " + topTokens(logits, top));
            if (save != null) {
                SnapshotFiles.writeAtomically(save, sequence.snapshot());
                out.println("saved " + save);
            }
        }
        return 0;
    }

    static String topTokens(float[] logits, int k) {
        Integer[] ids = new Integer[logits.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i;
        }
        java.util.Arrays.sort(ids, (a, b) -> Float.compare(logits[b], logits[a]));
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(k, ids.length); i++) {
            sb.append(i == 0 ? "" : ", ").append(ids[i]).append(String.format(" (%.3f)", logits[ids[i]]));
        }
        return sb.toString();
    }
}
