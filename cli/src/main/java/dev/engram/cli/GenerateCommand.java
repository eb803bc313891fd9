package dev.engram.cli;

import dev.engram.runtime.Engine;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Ingest a prompt and generate tokens after it, printing token ids as they come.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions options;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        try (Engine engine = options.load()) {
            engine.warnings().forEach(w -> spec.commandLine().getErr().println("warning: " + w));
            int[] prompt = options.input(engine.vocabSize());
            ModelSequence sequence = engine.newSequence();
            GenerationParams params = temperature == 0 ? GenerationParams.greedy(maxTokens)
                    : GenerationParams.sampled(maxTokens, temperature, topP, seed);
            StringBuilder line = new StringBuilder();
            engine.generate(sequence, prompt, params, token -> {
                out.print((line.length() == 0 ? "" : " ") + token);
                out.flush();
                line.append(token);
            });
            out.println();
        }
        return 0;
    }
}
