package dev.engram.cli.demo;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The demo's PNG: one heat map per model, context length (rows) x passkey depth (columns), each cell the
 * exact-match rate with its value written in it. Drawn with Java2D; every size is taken from the font metrics of
 * the text it must hold, so long model names and labels widen the image instead of being cut.
 */
public final class AccuracyChart {
    private static final Font PANEL = new Font(Font.SANS_SERIF, Font.BOLD, 13);
    private static final Font LABEL = ChartCanvas.LABEL;
    private static final int MARGIN = ChartCanvas.MARGIN;
    private static final int GAP = 30;
    private static final int CELL_H = 30;
    private static final int PANELS_PER_ROW = 2;

    private AccuracyChart() {
    }

    public static void write(Path file, List<PasskeyDemo.Result> results, int trials) throws IOException {
        if (results.isEmpty()) {
            throw new IllegalArgumentException("results: no model to draw");
        }
        FontMetrics title = ChartCanvas.metrics(ChartCanvas.TITLE);
        FontMetrics panel = ChartCanvas.metrics(PANEL);
        FontMetrics label = ChartCanvas.metrics(LABEL);

        String heading = "Passkey retrieval: exact match by context length and depth";
        String caption = String.format(Locale.ROOT, "%d trials per cell, greedy decoding. Depth 0 = right after <bos>, "
                + "1 = directly before the question (in its own segment).", trials);
        String xAxis = "passkey depth";
        int cellW = label.stringWidth("100%") + 24;
        for (String name : PasskeyDemo.DEPTH_NAMES) {
            cellW = Math.max(cellW, label.stringWidth(name) + 12);
        }
        int rowLabelW = label.stringWidth("tokens") + 10;
        int rows = 0;
        for (PasskeyDemo.Result r : results) {
            rows = Math.max(rows, r.lengths().length);
            for (int length : r.lengths()) {
                rowLabelW = Math.max(rowLabelW, label.stringWidth(PasskeyDemo.human(length)) + 10);
            }
        }
        int cols = PasskeyDemo.DEPTHS.length;
        int gridW = rowLabelW + cols * cellW;
        int panelW = gridW;
        for (PasskeyDemo.Result r : results) {
            panelW = Math.max(panelW, panel.stringWidth(panelTitle(r)));
        }
        int lineH = label.getHeight();
        int panelH = panel.getHeight() + 6 + lineH + 4 + rows * CELL_H + 6 + lineH;
        int perRow = Math.min(PANELS_PER_ROW, results.size());
        int panelRows = (results.size() + perRow - 1) / perRow;
        int legendH = 14 + 6 + lineH;
        int width = Math.max(2 * MARGIN + perRow * panelW + (perRow - 1) * GAP,
                ChartCanvas.headingWidth(heading, caption));
        int height = MARGIN + title.getHeight() + lineH + 10 + panelRows * panelH + (panelRows - 1) * GAP + 16 + legendH
                + MARGIN;

        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = ChartCanvas.blank(image);
        int panelsTop = ChartCanvas.heading(g, heading, caption) + 10;

        for (int i = 0; i < results.size(); i++) {
            PasskeyDemo.Result r = results.get(i);
            int x0 = MARGIN + (i % perRow) * (panelW + GAP);
            int y0 = panelsTop + (i / perRow) * (panelH + GAP);
            g.setColor(Color.BLACK);
            g.setFont(PANEL);
            g.drawString(panelTitle(r), x0, y0 + panel.getAscent());
            g.setFont(LABEL);
            int headerY = y0 + panel.getHeight() + 6;
            g.drawString("tokens", x0, headerY + label.getAscent());
            for (int di = 0; di < cols; di++) {
                String name = PasskeyDemo.DEPTH_NAMES[di];
                g.drawString(name, x0 + rowLabelW + di * cellW + (cellW - label.stringWidth(name)) / 2,
                        headerY + label.getAscent());
            }
            int gridTop = headerY + lineH + 4;
            for (int li = 0; li < r.lengths().length; li++) {
                int cy = gridTop + li * CELL_H;
                g.setColor(Color.BLACK);
                String len = PasskeyDemo.human(r.lengths()[li]);
                g.drawString(len, x0 + rowLabelW - 8 - label.stringWidth(len), cy + (CELL_H + label.getAscent()) / 2 - 2);
                for (int di = 0; di < cols; di++) {
                    double v = r.exact()[li][di];
                    Color c = color(v);
                    int cx = x0 + rowLabelW + di * cellW;
                    g.setColor(c);
                    g.fillRect(cx, cy, cellW - 2, CELL_H - 2);
                    g.setColor(luminance(c) < 0.45 ? Color.WHITE : Color.BLACK);
                    String text = String.format(Locale.ROOT, "%.0f%%", 100 * v);
                    g.drawString(text, cx + (cellW - 2 - label.stringWidth(text)) / 2,
                            cy + (CELL_H - 2 + label.getAscent()) / 2 - 2);
                }
            }
            g.setColor(Color.DARK_GRAY);
            g.drawString(xAxis, x0 + rowLabelW + (cols * cellW - label.stringWidth(xAxis)) / 2,
                    gridTop + rows * CELL_H + 6 + label.getAscent());
        }

        // Colour legend: 0% .. 100% exact match.
        int legendTop = panelsTop + panelRows * panelH + (panelRows - 1) * GAP + 16;
        int legendW = Math.min(300, width - 2 * MARGIN - label.stringWidth("exact match") - 10);
        for (int px = 0; px < legendW; px++) {
            g.setColor(color(px / (double) (legendW - 1)));
            g.fillRect(MARGIN + px, legendTop, 1, 14);
        }
        g.setColor(Color.BLACK);
        g.drawString("0%", MARGIN, legendTop + 14 + 6 + label.getAscent());
        g.drawString("100%", MARGIN + legendW - label.stringWidth("100%"), legendTop + 14 + 6 + label.getAscent());
        g.drawString("exact match", MARGIN + legendW + 10, legendTop + 12);
        g.dispose();
        ChartCanvas.write(image, file);
    }

    static String panelTitle(PasskeyDemo.Result r) {
        return r.model() + " (" + r.strategy() + ")"
                + (r.trainTokens() > 0 ? ", trained to " + PasskeyDemo.human(r.trainTokens()) + " tokens" : "");
    }

    /** Red (0) through yellow (0.5) to green (1). */
    static Color color(double v) {
        double t = Math.max(0, Math.min(1, v));
        int[] lo = {0xd7, 0x30, 0x27};
        int[] mid = {0xfe, 0xe0, 0x8b};
        int[] hi = {0x1a, 0x98, 0x50};
        int[] a = t < 0.5 ? lo : mid;
        int[] b = t < 0.5 ? mid : hi;
        double f = t < 0.5 ? t / 0.5 : (t - 0.5) / 0.5;
        return new Color((int) Math.round(a[0] + f * (b[0] - a[0])), (int) Math.round(a[1] + f * (b[1] - a[1])),
                (int) Math.round(a[2] + f * (b[2] - a[2])));
    }

    private static double luminance(Color c) {
        return (0.299 * c.getRed() + 0.587 * c.getGreen() + 0.114 * c.getBlue()) / 255;
    }
}
