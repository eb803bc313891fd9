package dev.engram.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.engram.api.InvalidInputException;
import dev.engram.runtime.Engine;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Perplexity of a text under a model, scored segment by segment as the memory sees it: every token"
                + " after the first is predicted from all before it (through the window and the memory), and the mean"
                + " negative log-likelihood over the first N tokens is reported for each --lengths N, per strategy."
                + " Perplexity = exp(mean NLL), bits per token = mean NLL / ln 2.")
final class EvalCommand implements Callable<Integer> {
    /** The name of the row scored with the package's own configuration (or --config / --memory). */
    static final String AS_CONFIGURED = "as-configured";

    @Mixin
    ModelOptions options;

    @Mixin
    InputOptions input;

    @Option(names = "--strategies", split = ",", paramLabel = "NAMES", description = "Score under each of these"
            + " strategies in one run, as --memory would set them (e.g. full,window,infini); default: the package's own"
            + " configuration (with --config / --memory if given).")
    List<String> strategies;

    @Option(names = "--lengths", split = ",", paramLabel = "N", description = "Prefix lengths to report, e.g. 1K,4K,16K"
            + " (one pass per strategy; each row scores the first N tokens); default: the whole input.")
    List<String> lengths;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the rows as JSON.")
    Path json;

    @Option(names = "--chart", paramLabel = "FILE", description = "Also write perplexity against length as a PNG chart.")
    Path chart;

    @Spec
    CommandSpec spec;

    /** One scored prefix: mean negative log-likelihood in nats over {@code predicted} tokens (tokens - 1). */
    record Row(String strategy, int tokens, int predicted, double meanNll, double tokensPerSecond) {
        double perplexity() {
            return Math.exp(meanNll);
        }

        double bitsPerToken() {
            return meanNll / Math.log(2);
        }
    }

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (strategies != null && options.memory != null) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--strategies and --memory exclude each other");
        }
        UserFiles.output("--json", json);
        UserFiles.output("--chart", chart);
        List<String> names = strategies == null ? List.of(AS_CONFIGURED) : strategies;
        checkStrategies(names);
        String given = options.memory;
        List<Row> rows = new ArrayList<>();
        int[] tokens = null;
        for (String name : names) {
            options.memory = name.equals(AS_CONFIGURED) ? given : name;
            try (Engine engine = options.load()) {
                engine.warnings().forEach(w -> spec.commandLine().getErr().println("warning: " + w));
                if (tokens == null) {
                    tokens = input.tokens(engine, true);
                    if (tokens.length < 2) {
                        throw InvalidInputException.outOfRange("input", tokens.length + " tokens", "at least 2 tokens to score");
                    }
                }
                int[] ends = prefixEnds(tokens.length);
                rows.addAll(score(engine, name, tokens, ends));
            }
        }
        print(out, rows);
        if (json != null) {
            writeJson(json, rows);
        }
        if (chart != null) {
            writeChart(chart, rows);
        }
        out.flush();
        return 0;
    }

    /** Every name once, and each a strategy --memory knows (or as-configured): checked before any scoring. */
    private static void checkStrategies(List<String> names) {
        dev.engram.spi.ProviderRegistry registry = dev.engram.runtime.EngineFactory.create().registry();
        List<String> known = new ArrayList<>(List.of(AS_CONFIGURED, "none"));
        known.addAll(registry.attentionNames());
        known.addAll(registry.memoryNames());
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (String n : names) {
            if (!seen.add(n)) {
                throw InvalidInputException.outOfRange("--strategies", n, "each name once");
            }
            if (!known.contains(n)) {
                throw new InvalidInputException("--strategies", "'" + n + "' is no strategy" + dev.engram.spi.Suggestions.suggestion(n, known)
                        + "; valid: " + known);
            }
        }
    }

    /** The prefix lengths to report, ascending; every one must fit in the input. */
    private int[] prefixEnds(int available) {
        if (lengths == null) {
            return new int[] {available};
        }
        int[] ends = Formats.tokenCounts("--lengths", lengths).stream().mapToInt(Integer::intValue).sorted().distinct().toArray();
        for (int n : ends) {
            if (n < 2 || n > available) {
                throw InvalidInputException.outOfRange("--lengths", n, "2 to " + available + " (the input's tokens)");
            }
        }
        return ends;
    }

    /**
     * Feeds {@code tokens} up to the longest prefix, one segment-aligned chunk at a time (so only a segment's logits
     * are held), adding log p(token t | tokens before t) in double; a row is reported at each prefix end.
     */
    static List<Row> score(Engine engine, String strategy, int[] tokens, int[] ends) {
        int last = ends[ends.length - 1];
        int segment = engine.segmentLength();
        ModelSequence sequence = engine.newSequence();
        List<Row> rows = new ArrayList<>();
        double nll = 0;
        int next = 0;
        long start = System.nanoTime();
        for (int from = 0; from < last - 1; from += segment) {
            // logits of position p predict token p + 1: feed positions [from, to) to score tokens (from, to]
            int to = Math.min(from + segment, last - 1);
            float[][] logits = engine.ingestAll(List.of(sequence), List.of(Arrays.copyOfRange(tokens, from, to))).get(0);
            for (int p = from; p < to; p++) {
                nll -= dev.engram.runtime.LogProbs.of(logits[p - from], tokens[p + 1]);
                while (next < ends.length && ends[next] == p + 2) {
                    double seconds = (System.nanoTime() - start) / 1e9;
                    rows.add(new Row(strategy, ends[next], ends[next] - 1, nll / (ends[next] - 1), (p + 1) / Math.max(seconds, 1e-9)));
                    next++;
                }
            }
        }
        return rows;
    }


    private static void print(PrintWriter out, List<Row> rows) {
        out.printf("%-14s %10s %12s %12s %12s %10s%n", "strategy", "tokens", "mean NLL", "perplexity", "bits/token", "tokens/s");
        for (Row r : rows) {
            out.printf("%-14s %10d %12.6f %12.4f %12.4f %10.0f%n", r.strategy(), r.tokens(), r.meanNll(), r.perplexity(),
                    r.bitsPerToken(), r.tokensPerSecond());
        }
    }

    private void writeJson(Path file, List<Row> rows) throws IOException {
        List<Map<String, Object>> list = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("strategy", r.strategy());
            m.put("tokens", r.tokens());
            m.put("predicted", r.predicted());
            m.put("meanNll", r.meanNll());
            m.put("perplexity", r.perplexity());
            m.put("bitsPerToken", r.bitsPerToken());
            m.put("tokensPerSecond", r.tokensPerSecond());
            list.add(m);
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", options.model.toString());
        root.put("rows", list);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), root);
    }

    private static void writeChart(Path file, List<Row> rows) throws IOException {
        XYChart c = new XYChartBuilder().width(900).height(560).title("perplexity vs context length")
                .xAxisTitle("tokens scored from the start").yAxisTitle("perplexity").build();
        c.getStyler().setXAxisLogarithmic(true);
        c.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE);
        Map<String, List<Row>> byStrategy = new LinkedHashMap<>();
        rows.forEach(r -> byStrategy.computeIfAbsent(r.strategy(), k -> new ArrayList<>()).add(r));
        byStrategy.forEach((name, rs) -> c.addSeries(name, rs.stream().mapToDouble(Row::tokens).toArray(),
                rs.stream().mapToDouble(Row::perplexity).toArray()));
        String f = file.toString();
        BitmapEncoder.saveBitmap(c, f.endsWith(".png") ? f.substring(0, f.length() - 4) : f, BitmapEncoder.BitmapFormat.PNG);
    }
}
