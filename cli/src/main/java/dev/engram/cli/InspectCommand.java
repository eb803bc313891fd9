package dev.engram.cli;

import dev.engram.runtime.Engine;
import dev.engram.runtime.ModelSequence;
import dev.engram.runtime.SequenceStack;
import dev.engram.runtime.config.LayerPlan;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.runtime.onnx.GraphSignature;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import dev.engram.runtime.model.WeightKey;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Show a model package: the manifest, the tokenizer, each graph's inputs and outputs, the per-layer"
                + " plan (providers and their settings), the weights, and the memory footprint per layer, measured over a"
                + " few segments of random tokens and extrapolated to 1M tokens.")
final class InspectCommand implements Callable<Integer> {
    static final long MILLION = 1_000_000L;

    @Mixin
    ModelOptions options;

    @Option(names = "--probe-segments", defaultValue = "4",
            description = "Segments of random tokens run to measure the footprint; 0 = skip (default: ${DEFAULT-VALUE}).")
    int probeSegments;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (probeSegments < 0) {
            throw dev.engram.api.InvalidInputException.outOfRange("--probe-segments", probeSegments, ">= 0");
        }
        try (Engine engine = options.load()) {
            engine.warnings().forEach(w -> spec.commandLine().getErr().println("warning: " + w));
            manifest(out, engine.manifest(), engine);
            out.println();
            out.println("graphs (as ONNX Runtime reports them; B, N dynamic):");
            for (GraphSignature g : engine.graphSignatures()) {
                out.printf("  %-14s %s%n", g.role(), g.file());
                g.inputs().forEach(p -> out.println("      in   " + p));
                g.outputs().forEach(p -> out.println("      out  " + p));
            }
            out.println();
            out.println("plan (device " + engine.device().toString().toLowerCase(java.util.Locale.ROOT) + ", "
                    + engine.plan().session().intraOpThreads() + " intra-op threads):");
            engine.plan().describe().lines().forEach(l -> out.println("  " + l));
            out.println(engine.decodesRowByRow()
                    ? "  decoding: row by row (every layer's attention and memory has PARTIAL_ROWS)"
                    + (engine.completesFromHeldRows() ? "; a segment completes from its held rows (EXACT_ROWS, CPU)"
                            : "; a segment completes by running the dense blocks over it again")
                    + (engine.givesAttentionNewRowsOnly() ? "; attentions are given each new row only (HELD_ROWS)" : "")
                    : "  decoding: re-runs the segment so far per token (a layer's provider lacks PARTIAL_ROWS)");
            out.println();
            weights(out, engine);
            if (probeSegments > 0) {
                out.println();
                footprint(out, engine);
            }
        }
        return 0;
    }

    private static void manifest(PrintWriter out, ModelManifest m, Engine engine) {
        ModelManifest.Architecture a = m.architecture();
        out.printf("model %s (%s) at %s%n", m.name(), m.format(), engine.modelPackage().directory());
        out.printf("  architecture: %d layers, %d heads (%d kv heads), keyDim %d, valueDim %d, modelDim %d, vocabulary %d%n",
                a.layers(), a.heads(), a.kvHeads(), a.keyDim(), a.valueDim(), a.modelDim(), a.vocabSize());
        out.printf("  positional %s, norm %s (eps %s), mlp %s%n", m.describePositional(), a.norm().type(), a.norm().eps(), a.mlp());
        out.printf("  segment length %d (trained); running with %d%n", m.segmentLength(), engine.segmentLength());
        out.printf("  default memory config: %s%n", m.memory());
        if (!m.quantization().isEmpty()) {
            out.printf("  quantization: %s%n", m.quantization());
        }
        if (!m.training().isEmpty()) {
            out.printf("  training: %s%n", m.training());
        }
        out.printf("  tokenizer: %s%n", engine.tokenizer().description());
    }

    private static void weights(PrintWriter out, Engine engine) {
        List<String> names = engine.modelPackage().weightNames();
        out.println("weights (" + engine.modelPackage().weightsFileName() + ", " + names.size() + " tensors"
                + (names.isEmpty() ? "" : "; those of providers the plan does not use are ignored") + "):");
        for (String name : names) {
            String shape = WeightKey.parse(name)
                    .map(k -> engine.modelPackage().weightSource().weights(k.layer(), k.provider()).get(k.weight()))
                    .map(t -> " " + Arrays.toString(t.shape())).orElse("");
            out.println("  " + name + shape);
        }
    }

    /**
     * Measured, not computed (providers do not publish a formula): per layer the state bytes after each of the
     * probe segments; the growth over the last segment, per token, extrapolated linearly to 1M tokens. Flat growth
     * means the state is bounded; growth that a provider caps later (a window not yet full, a capacity not yet
     * reached) makes the linear figure an upper bound.
     */
    private void footprint(PrintWriter out, Engine engine) {
        int s = engine.segmentLength();
        int layers = engine.manifest().architecture().layers();
        ModelSequence seq = engine.newSequence();
        SplittableRandom r = new SplittableRandom(11);
        long[][] bytes = new long[probeSegments + 1][];
        bytes[0] = layerBytes(seq.stack(), layers);
        int[] segment = new int[s];
        for (int k = 1; k <= probeSegments; k++) {
            for (int i = 0; i < s; i++) {
                segment[i] = r.nextInt(engine.vocabSize());
            }
            engine.ingest(seq, segment);
            bytes[k] = layerBytes(seq.stack(), layers);
        }
        long tokens = (long) probeSegments * s;
        out.printf("memory footprint per layer (measured: state bytes after %d segments = %d random tokens; 1M = "
                + "linear extrapolation of the growth over the last segment):%n", probeSegments, tokens);
        out.printf("  %-5s %-34s %14s %16s %14s  %s%n", "layer", "providers", "bytes now", "growth B/token", "at 1M tokens", "");
        double total = 0;
        long totalNow = 0;
        List<LayerPlan> plan = engine.plan().layers();
        for (int l = 0; l < layers; l++) {
            long now = bytes[probeSegments][l];
            long before = bytes[probeSegments - 1][l];
            double perToken = (now - before) / (double) s;
            double atMillion = now + perToken * (MILLION - tokens);
            total += atMillion;
            totalNow += now;
            LayerPlan lp = plan.get(l);
            String providers = lp.attention().provider() + lp.memory().map(m -> " + " + m.provider()).orElse("");
            String kind = perToken == 0 ? "flat (bounded)" : "grows; linear (an upper bound if the provider caps it)";
            out.printf("  %-5d %-34s %14d %16.1f %14s  %s%n", l, providers, now, perToken, Formats.mib((long) atMillion), kind);
        }
        out.printf("  all layers: %s now, %s at 1M tokens%n", Formats.mib(totalNow), Formats.mib((long) total));
    }

    private static long[] layerBytes(SequenceStack stack, int layers) {
        long[] b = new long[layers];
        for (int l = 0; l < layers; l++) {
            SequenceStack.Layer layer = stack.layers().get(l);
            b[l] = layer.attention().stateBytes() + layer.memory().map(m -> m.stateBytes()).orElse(0L);
        }
        return b;
    }
}
