package dev.engram.cli;

import dev.engram.runtime.Engine;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.ModelSequence;
import dev.engram.runtime.text.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Ingest a prompt and generate after it, streaming the decoded text to stdout as tokens come"
                + " (--ids: the token ids). Greedy by default; --temperature > 0 samples, with --top-k/--top-p and --seed."
                + " A summary (tokens, speed, why it stopped, memory) goes to stderr.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions options;

    @Mixin
    InputOptions inputOptions;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Tokens to generate at most (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "Divides the logits; 0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Sample among the k most likely tokens; 0 = all (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus: the most likely tokens holding this much probability (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed: the same seed and prompt give the same text (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when the generated text contains TEXT (not printed); repeatable.")
    List<String> stop = new ArrayList<>();

    @Option(names = "--stop-token", paramLabel = "ID", description = "Stop before emitting this token id; repeatable.")
    List<Integer> stopTokens = new ArrayList<>();

    @Option(names = "--ids", description = "Print the generated token ids (space-separated) instead of the text.")
    boolean ids;

    @Option(names = "--resume", paramLabel = "SNAPSHOT", description = "Continue a saved sequence (engram run --save).")
    Path resume;

    @Option(names = "--save", paramLabel = "SNAPSHOT", description = "Save the sequence (prompt + output) afterwards.")
    Path save;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        UserFiles.input("--resume", resume);
        UserFiles.output("--save", save); // before the work, not after it
        try (Engine engine = options.load()) {
            engine.warnings().forEach(w -> err.println("warning: " + w));
            ModelSequence sequence = engine.newSequence();
            if (resume != null) {
                sequence.restore(Files.readAllBytes(resume));
            }
            int[] prompt = inputOptions.tokens(engine, resume == null);
            for (int id : stopTokens) {
                if (id < 0 || id >= engine.vocabSize()) {
                    throw dev.engram.api.InvalidInputException.outOfRange("--stop-token", id, "[0, " + (engine.vocabSize() - 1) + "]");
                }
            }
            Set<Integer> stopSet = new LinkedHashSet<>(stopTokens);
            engine.requireRoom(sequence.position(), (long) prompt.length + maxTokens, "--max-tokens");
            GenerationParams params = new GenerationParams(maxTokens, temperature, topK, topP, seed, stopSet);
            Tokenizer tokenizer = engine.tokenizer();
            Tokenizer.StreamDecoder decoder = tokenizer.streamDecoder();
            StopText text = new StopText(stop);
            int[] count = {0};
            long start = System.nanoTime();
            int[] generated = engine.generateWhile(sequence, prompt, params, token -> {
                String fresh = text.accept(decoder.push(token));
                if (ids) {
                    out.print((count[0] == 0 ? "" : " ") + token);
                } else {
                    out.print(fresh);
                }
                count[0]++;
                out.flush();
                return !text.stopped();
            });
            if (!ids) {
                out.print(text.accept(decoder.finish()) + text.finish());
            }
            out.println();
            out.flush();
            double seconds = (System.nanoTime() - start) / 1e9;
            String why = text.stopped() ? "stop text" : generated.length < maxTokens ? "stop token" : "max tokens";
            err.printf("generated %d tokens in %.3f s (%.1f tokens/s; the time includes the %d-token prompt); stopped by %s%n",
                    generated.length, seconds, generated.length / seconds, prompt.length, why);
            err.println(Formats.memory(sequence));
            if (save != null) {
                dev.engram.api.SnapshotFiles.writeAtomically(save, sequence.snapshot());
                err.println("saved " + save);
            }
        }
        return 0;
    }
}
