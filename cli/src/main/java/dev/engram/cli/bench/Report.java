package dev.engram.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
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

    public Report(List<Measurement> results, JsonNode peer, String peerNote) {
        this.results = List.copyOf(results);
        this.peer = peer;
        this.peerNote = peerNote;
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
        rows.add(new String[] {"strategy", "tokens", "ingest tok/s", "decode ms/tok", "state MiB", "heap MiB", "RSS MiB",
                "plugins %", "outside ORT %", "torch full-KV tok/s", "x full-KV", "torch same tok/s", "x same"});
        for (Measurement m : results) {
            if (!m.measured()) {
                rows.add(new String[] {m.strategy(), Integer.toString(m.length()), "skipped: " + m.skipped()});
                continue;
            }
            double fk = torchFullKv(m.length());
            double same = torchSame(m.strategy(), m.length());
            rows.add(new String[] {m.strategy(), Integer.toString(m.length()), f("%.0f", m.ingestTokensPerSecond()),
                    f("%.2f", m.decodeMillisPerToken()), f("%.2f", m.stateBytes() / MIB), f("%.0f", m.heapBytes() / MIB),
                    f("%.0f", m.rssBytes() / MIB), f("%.1f", 100 * m.pluginShare()),
                    f("%.1f", 100 * m.outsideOnnxShare()), num(fk, "%.0f"),
                    num(m.ingestTokensPerSecond() / fk, "%.2f"), num(same, "%.0f"), num(m.ingestTokensPerSecond() / same, "%.2f")});
        }
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
                    sb.append(' ').append(c < 2 ? pad(r[c], w[c], false) : pad(r[c], w[c], true)).append(" |");
                }
            } else {
                sb.append(' ').append(r[0]).append(" | ").append(r[1]).append(" | ").append(r[2]).append(" |");
            }
            sb.append('\n');
            if (i == 0) {
                sb.append('|');
                for (int c = 0; c < cols; c++) {
                    sb.append(c < 2 ? "-".repeat(w[c] + 2) : "-".repeat(w[c] + 1) + ":").append('|');
                }
                sb.append('\n');
            }
        }
        if (peerNote != null) {
            sb.append("PyTorch peer: ").append(peerNote).append('\n');
        }
        return sb.toString();
    }

    public Map<String, Object> json(Map<String, Object> header) {
        Map<String, Object> root = new LinkedHashMap<>(header);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Measurement m : results) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("strategy", m.strategy());
            r.put("length", m.length());
            if (!m.measured()) {
                r.put("skipped", m.skipped());
            } else {
                r.put("ingestTokensPerSecond", m.ingestTokensPerSecond());
                r.put("decodeMillisPerToken", m.decodeMillisPerToken());
                r.put("stateBytes", m.stateBytes());
                r.put("heapBytes", m.heapBytes());
                r.put("rssBytes", m.rssBytes());
                r.put("segmentMillis", m.segmentMillis());
                r.put("pluginShare", m.pluginShare());
                r.put("onnxShare", m.onnxShare());
                r.put("outsideOnnxShare", m.outsideOnnxShare());
                double fk = torchFullKv(m.length());
                double same = torchSame(m.strategy(), m.length());
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
                by.computeIfAbsent(m.strategy(), k -> new ArrayList<>()).add(m);
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
        for (Object[] c : new Object[][] {{speed, "tokens-per-second.png"}, {state, "memory-state.png"}, {rss, "resident-memory.png"}}) {
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
