package dev.engram.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.engram.runtime.model.ModelManifest;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The bench's outputs: the table (stdout), the JSON file and the PNG charts. */
public final class Report {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final double MIB = 1024.0 * 1024.0;

    private final List<Measurement> results;
    private final JsonNode peer; // null when the peer did not run
    private final String peerNote;
    /** --concurrency results (empty without it); per strategy, level 1 is the single-session figure. */
    private final List<ConcurrencyResult> concurrency;

    public Report(List<Measurement> results, JsonNode peer, String peerNote) {
        this(results, peer, peerNote, List.of());
    }

    public Report(List<Measurement> results, JsonNode peer, String peerNote, List<ConcurrencyResult> concurrency) {
        this.results = List.copyOf(results);
        this.peer = peer;
        this.peerNote = peerNote;
        this.concurrency = List.copyOf(concurrency);
    }

    /** The strategy's single-session (1 session) result of the same run, or null. */
    private ConcurrencyResult single(String strategy) {
        return concurrency.stream().filter(c -> c.strategy().equals(strategy) && c.sessions() == 1 && c.measured())
                .findFirst().orElse(null);
    }

    /** The peer's full-KV figure beside {@code m}: the peer runs float32 weights, so NaN beside a quantized row. */
    private double torchFullKv(Measurement m) {
        return m.weights().equals(ModelManifest.FLOAT32_WEIGHTS) ? torchFullKv(m.length()) : Double.NaN;
    }

    /** The peer's same-scheme figure beside {@code m}, float32 rows only (as {@link #torchFullKv(Measurement)}). */
    private double torchSame(Measurement m) {
        return m.weights().equals(ModelManifest.FLOAT32_WEIGHTS) ? torchSame(m.strategy(), m.length()) : Double.NaN;
    }

    /** The PyTorch full-attention (growing KV cache) tokens/s at {@code length}, or NaN. */
    public double torchFullKv(int length) {
        return peer == null ? Double.NaN : peer.path("fullKv").path(Integer.toString(length)).asDouble(Double.NaN);
    }

    /** The PyTorch same-scheme tokens/s at {@code length}, or NaN. */
    public double torchSame(String strategy, int length) {
        return peer == null ? Double.NaN
                : peer.path("schemes").path(strategy).path(Integer.toString(length)).asDouble(Double.NaN);
    }

    public String table() {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"strategy", "weights", "tokens", "ingest tok/s", "first tok ms", "decode ms/tok", "spread %", "state MiB", "heap MiB", "RSS MiB",
                "plugins %", "outside ORT %", "torch full-KV tok/s", "x full-KV", "torch same tok/s", "x same"});
        for (Measurement m : results) {
            if (!m.measured()) {
                rows.add(new String[] {m.strategy(), m.weights(), Integer.toString(m.length()), "skipped: " + m.skipped()});
                continue;
            }
            double fk = torchFullKv(m);
            double same = torchSame(m);
            rows.add(new String[] {m.strategy(), m.weights(), Integer.toString(m.length()), f("%.0f", m.ingestTokensPerSecond()),
                    num(m.firstDecodeMillis(), "%.1f"), f("%.2f", m.decodeMillisPerToken()), num(100 * m.decodeSpread(), "%.0f"), f("%.2f", m.stateBytes() / MIB), f("%.0f", m.heapBytes() / MIB),
                    f("%.0f", m.rssBytes() / MIB), f("%.1f", 100 * m.pluginShare()),
                    f("%.1f", 100 * m.outsideOnnxShare()), num(fk, "%.0f"),
                    num(m.ingestTokensPerSecond() / fk, "%.2f"), num(same, "%.0f"), num(m.ingestTokensPerSecond() / same, "%.2f")});
        }
        StringBuilder sb = new StringBuilder(format(rows, 3));
        if (peerNote != null) {
            sb.append("PyTorch peer: ").append(peerNote).append('\n');
        }
        if (!concurrency.isEmpty()) {
            sb.append('\n').append(concurrencyTable());
        }
        return sb.toString();
    }

    /**
     * The --concurrency table: per strategy and number of sessions served together, aggregate ingest and decode
     * tokens/s, per-token latency, each beside the same run's single-session figure (x1 columns).
     */
    public String concurrencyTable() {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"strategy", "sessions", "context tok", "ingest tok/s", "x1 ingest", "ingest outside ORT %",
                "decode tok/s", "x1 decode", "decode outside ORT %", "p50 ms", "p99 ms", "p99 / p99 x1", "max |diff| vs alone"});
        for (ConcurrencyResult c : concurrency) {
            if (!c.measured()) {
                rows.add(new String[] {c.strategy(), Integer.toString(c.sessions()), "skipped: " + c.skipped()});
                continue;
            }
            ConcurrencyResult one = single(c.strategy());
            double nan = Double.NaN;
            rows.add(new String[] {c.strategy(), Integer.toString(c.sessions()), Long.toString(c.contextTokens()),
                    f("%.0f", c.ingestTokensPerSecond()),
                    num(one == null ? nan : c.ingestTokensPerSecond() / one.ingestTokensPerSecond(), "%.2f"),
                    f("%.1f", 100 * c.ingestOutsideOnnxShare()), f("%.0f", c.decodeTokensPerSecond()),
                    num(one == null ? nan : c.decodeTokensPerSecond() / one.decodeTokensPerSecond(), "%.2f"),
                    f("%.1f", 100 * c.decodeOutsideOnnxShare()), f("%.2f", c.p50Millis()), f("%.2f", c.p99Millis()),
                    num(one == null ? nan : c.p99Millis() / one.p99Millis(), "%.2f"), f("%.3g", c.maxDiffVsAlone())});
        }
        ConcurrencyResult any = concurrency.stream().filter(ConcurrencyResult::measured).findFirst().orElse(null);
        return "Concurrency: sessions served together (Engine.forwardBatch), contexts ingested in one call, then "
                + (any == null ? "" : any.decodeSteps() + " ") + "decode steps of one token per session; "
                + "latency = the step's wall time; x1 = / the single-session row\n" + format(rows, 2);
    }

    /**
     * A markdown table: the first row is the header, the first {@code left} columns left-aligned and the rest right;
     * short rows (skips: the key columns, then why) as they are.
     */
    private static String format(List<String[]> rows, int left) {
        int cols = rows.get(0).length;
        int[] w = new int[cols];
        for (String[] r : rows) {
            if (r.length == cols) {
                for (int c = 0; c < cols; c++) {
                    w[c] = Math.max(w[c], r[c].length());
                }
            }
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < rows.size(); i++) {
            String[] r = rows.get(i);
            sb.append('|');
            if (r.length == cols) {
                for (int c = 0; c < cols; c++) {
                    sb.append(' ').append(c < left ? pad(r[c], w[c], false) : pad(r[c], w[c], true)).append(" |");
                }
            } else {
                for (String cell : r) {
                    sb.append(' ').append(cell).append(" |");
                }
            }
            sb.append('\n');
            if (i == 0) {
                sb.append('|');
                for (int c = 0; c < cols; c++) {
                    sb.append(c < left ? "-".repeat(w[c] + 2) : "-".repeat(w[c] + 1) + ":").append('|');
                }
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    public Map<String, Object> json(Map<String, Object> header) {
        Map<String, Object> root = new LinkedHashMap<>(header);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Measurement m : results) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("strategy", m.strategy());
            r.put("weights", m.weights());
            r.put("length", m.length());
            if (!m.measured()) {
                r.put("skipped", m.skipped());
            } else {
                r.put("ingestTokensPerSecond", m.ingestTokensPerSecond());
                if (!Double.isNaN(m.firstDecodeMillis())) {
                    r.put("firstDecodeMillis", m.firstDecodeMillis());
                }
                r.put("decodeMillisPerToken", m.decodeMillisPerToken());
                r.put("decodeRunMillis", m.decodeRunMillis());
                if (!Double.isNaN(m.decodeSpread())) {
                    r.put("decodeSpread", m.decodeSpread());
                }
                r.put("stateBytes", m.stateBytes());
                r.put("heapBytes", m.heapBytes());
                r.put("rssBytes", m.rssBytes());
                r.put("segmentMillis", m.segmentMillis());
                r.put("pluginShare", m.pluginShare());
                r.put("onnxShare", m.onnxShare());
                r.put("outsideOnnxShare", m.outsideOnnxShare());
                double fk = torchFullKv(m);
                double same = torchSame(m);
                if (!Double.isNaN(fk)) {
                    r.put("torchFullKvTokensPerSecond", fk);
                    r.put("ratioVsTorchFullKv", m.ingestTokensPerSecond() / fk);
                }
                if (!Double.isNaN(same)) {
                    r.put("torchSameSchemeTokensPerSecond", same);
                    r.put("ratioVsTorchSameScheme", m.ingestTokensPerSecond() / same);
                }
            }
            rows.add(r);
        }
        root.put("results", rows);
        if (!concurrency.isEmpty()) {
            List<Map<String, Object>> levels = new ArrayList<>();
            for (ConcurrencyResult c : concurrency) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("strategy", c.strategy());
                r.put("sessions", c.sessions());
                if (!c.measured()) {
                    r.put("skipped", c.skipped());
                } else {
                    r.put("contextTokens", c.contextTokens());
                    r.put("ingestTokensPerSecond", c.ingestTokensPerSecond());
                    r.put("ingestOutsideOnnxShare", c.ingestOutsideOnnxShare());
                    r.put("decodeSteps", c.decodeSteps());
                    r.put("decodeTokensPerSecond", c.decodeTokensPerSecond());
                    r.put("decodeOutsideOnnxShare", c.decodeOutsideOnnxShare());
                    r.put("p50Millis", c.p50Millis());
                    r.put("p99Millis", c.p99Millis());
                    r.put("maxDiffVsAlone", c.maxDiffVsAlone());
                    // every step's wall time in order, so that a p99 can be traced to the steps that make it
                    r.put("stepMillis", java.util.Arrays.stream(c.stepMillis()).boxed().toList());
                    ConcurrencyResult one = single(c.strategy());
                    if (one != null) {
                        r.put("ingestVsSingle", c.ingestTokensPerSecond() / one.ingestTokensPerSecond());
                        r.put("decodeVsSingle", c.decodeTokensPerSecond() / one.decodeTokensPerSecond());
                        r.put("p99VsSingle", c.p99Millis() / one.p99Millis());
                    }
                }
                levels.add(r);
            }
            root.put("concurrency", levels);
        }
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("ran", peer != null);
        if (peerNote != null) {
            p.put("note", peerNote);
        }
        if (peer != null) {
            p.put("output", peer);
        }
        root.put("peer", p);
        return root;
    }

    public void writeJson(Path file, Map<String, Object> header) throws IOException {
        JSON.writeValue(file.toFile(), json(header));
    }

    /** tokens-per-second.png, memory-state.png and resident-memory.png in {@code dir}; returns the files. */
    public List<Path> writeCharts(Path dir, String title) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<Path> files = new ArrayList<>();
        XYChart speed = chart(title + ": ingest", "tokens/s");
        XYChart state = chart(title + ": memory state (ModelSequence.stateBytes)", "MiB");
        XYChart rss = chart(title + ": resident memory (VmRSS, process-wide)", "MiB");
        Map<String, List<Measurement>> by = new LinkedHashMap<>();
        for (Measurement m : results) {
            if (m.measured()) {
                by.computeIfAbsent(m.weights().equals(ModelManifest.FLOAT32_WEIGHTS) ? m.strategy() : m.strategy() + " " + m.weights(),
                        k -> new ArrayList<>()).add(m);
            }
        }
        for (Map.Entry<String, List<Measurement>> e : by.entrySet()) {
            List<Measurement> ms = e.getValue();
            double[] x = ms.stream().mapToDouble(Measurement::length).toArray();
            speed.addSeries(e.getKey(), x, ms.stream().mapToDouble(Measurement::ingestTokensPerSecond).toArray());
            state.addSeries(e.getKey(), x, ms.stream().mapToDouble(m -> m.stateBytes() / MIB).toArray());
            rss.addSeries(e.getKey(), x, ms.stream().mapToDouble(m -> m.rssBytes() / MIB).toArray());
        }
        if (peer != null) {
            List<double[]> pts = new ArrayList<>();
            peer.path("fullKv").fields().forEachRemaining(f -> pts.add(new double[] {Double.parseDouble(f.getKey()), f.getValue().asDouble()}));
            if (!pts.isEmpty()) {
                XYSeries s = speed.addSeries("torch full-KV", pts.stream().mapToDouble(p -> p[0]).toArray(),
                        pts.stream().mapToDouble(p -> p[1]).toArray());
                s.setMarker(SeriesMarkers.DIAMOND);
                s.setLineStyle(new java.awt.BasicStroke(2f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER,
                        10f, new float[] {6f, 4f}, 0f));
            }
        }
        XYChart throughput = concurrencyChart(title + ": sessions served together", "aggregate tokens/s");
        XYChart latency = concurrencyChart(title + ": per-token decode latency", "ms");
        Map<String, List<ConcurrencyResult>> levels = new LinkedHashMap<>();
        for (ConcurrencyResult c : concurrency) {
            if (c.measured()) {
                levels.computeIfAbsent(c.strategy(), k -> new ArrayList<>()).add(c);
            }
        }
        for (Map.Entry<String, List<ConcurrencyResult>> e : levels.entrySet()) {
            List<ConcurrencyResult> cs = e.getValue();
            double[] x = cs.stream().mapToDouble(ConcurrencyResult::sessions).toArray();
            throughput.addSeries(e.getKey() + " decode", x, cs.stream().mapToDouble(ConcurrencyResult::decodeTokensPerSecond).toArray());
            throughput.addSeries(e.getKey() + " ingest", x, cs.stream().mapToDouble(ConcurrencyResult::ingestTokensPerSecond).toArray())
                    .setMarker(SeriesMarkers.DIAMOND);
            latency.addSeries(e.getKey() + " p50", x, cs.stream().mapToDouble(ConcurrencyResult::p50Millis).toArray());
            latency.addSeries(e.getKey() + " p99", x, cs.stream().mapToDouble(ConcurrencyResult::p99Millis).toArray())
                    .setMarker(SeriesMarkers.DIAMOND);
        }
        for (Object[] c : new Object[][] {{speed, "tokens-per-second.png"}, {state, "memory-state.png"}, {rss, "resident-memory.png"},
                {throughput, "concurrency-throughput.png"}, {latency, "concurrency-latency.png"}}) {
            XYChart chart = (XYChart) c[0];
            if (chart.getSeriesMap().isEmpty()) {
                continue;
            }
            Path f = dir.resolve((String) c[1]);
            BitmapEncoder.saveBitmap(chart, f.toString(), BitmapEncoder.BitmapFormat.PNG);
            files.add(f);
        }
        return files;
    }

    private static XYChart concurrencyChart(String title, String yTitle) {
        XYChart c = new XYChartBuilder().width(900).height(560).title(title).xAxisTitle("sessions")
                .yAxisTitle(yTitle).build();
        c.getStyler().setXAxisLogarithmic(true);
        c.getStyler().setYAxisLogarithmic(true);
        c.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE);
        c.getStyler().setMarkerSize(7);
        return c;
    }

    private static XYChart chart(String title, String yTitle) {
        XYChart c = new XYChartBuilder().width(900).height(560).title(title).xAxisTitle("context length (tokens)")
                .yAxisTitle(yTitle).build();
        c.getStyler().setXAxisLogarithmic(true);
        c.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE);
        c.getStyler().setMarkerSize(7);
        return c;
    }

    private static String f(String fmt, double v) {
        return String.format(Locale.ROOT, fmt, v);
    }

    private static String num(double v, String fmt) {
        return Double.isNaN(v) || Double.isInfinite(v) ? "-" : f(fmt, v);
    }

    private static String pad(String s, int w, boolean right) {
        String sp = " ".repeat(Math.max(0, w - s.length()));
        return right ? sp + s : s + sp;
    }
}
