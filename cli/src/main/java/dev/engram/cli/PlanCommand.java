package dev.engram.cli;

import dev.engram.api.LayerSpec;
import dev.engram.api.LayerStep;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.runtime.EngineFactory;
import dev.engram.runtime.SequenceFactory;
import dev.engram.runtime.SequenceStack;
import dev.engram.runtime.model.WeightSource;
import dev.engram.spi.ProviderRegistry;
import dev.engram.conformance.SeededData;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Collections;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "plan", mixinStandardHelpOptions = true,
        description = {"Check a config file and show what each layer runs; with --segments, push random segments",
                "through every layer (seeded random weights) to show the wiring works end to end."})
final class PlanCommand implements Callable<Integer> {
    @Option(names = "--config", required = true, paramLabel = "FILE", description = "The Engram YAML config.")
    Path config;

    @Option(names = "--layers", defaultValue = "12", description = "Number of layers (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--heads", defaultValue = "4", description = "Query heads (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--kv-heads", defaultValue = "4", description = "Key/value heads (default: ${DEFAULT-VALUE}).")
    int kvHeads;

    @Option(names = "--head-dim", defaultValue = "16", description = "Key and value width per head (default: ${DEFAULT-VALUE}).")
    int headDim;

    @Option(names = "--segments", defaultValue = "0", description = "Random segments to run (default: ${DEFAULT-VALUE}).")
    int segments;

    @Option(names = "--segment-length", defaultValue = "32", description = "Tokens per segment (default: ${DEFAULT-VALUE}).")
    int segmentLength;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        LayerSpec layer = new LayerSpec(heads, kvHeads, headDim, headDim, heads * headDim);
        EngineFactory engines = EngineFactory.create();
        ProviderRegistry registry = engines.registry();
        WeightSource randomWeights = (index, provider) -> {
            var p = registry.any(provider);
            return SeededData.weights(p.weights(layer, p.configSchema().defaults()), 17L * index + provider.hashCode());
        };
        SequenceFactory factory = engines.sequences(config, Collections.nCopies(layers, layer), randomWeights);
        out.print(factory.plan().describe());
        out.flush(); // the launcher's System.exit does not flush picocli's writer
        if (segments <= 0) {
            return 0;
        }
        SequenceStack sequence = factory.newSequence();
        for (int s = 0; s < segments; s++) {
            SeededData.Inputs in = SeededData.inputs(layer, segmentLength, s);
            Segment segment = new Segment(sequence.position(), in.q(), in.k(), in.v(), in.h());
            double norm = 0;
            for (SequenceStack.Layer l : sequence.layers()) {
                Tensor output = Tensor.zeros(layer.heads(), segmentLength, layer.valueDim());
                LayerStep.run(l.attention(), l.memory().orElse(null), segment, output, null, null);
                for (float x : output.toArray()) {
                    norm += x * x;
                }
            }
            sequence.advance(segmentLength);
            out.printf("segment %d: tokens %d, output norm %.4f, state %d bytes%n", s, sequence.position(),
                    Math.sqrt(norm), sequence.stateBytes());
        }
        out.flush();
        return 0;
    }
}
