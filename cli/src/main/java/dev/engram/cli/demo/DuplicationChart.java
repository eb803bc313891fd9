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
 * The duplication experiment's PNG: the paper's table as a heat map, a row per trained model, a column per evaluation
 * (full, then 1, 2, 4, 8 hash rounds), each cell coloured by its per-token accuracy (AccuracyChart's red-yellow-green)
 * with the value written in it; cells not run are grey. Sizes come from the font metrics of the text they hold.
 */
public final class DuplicationChart {
    private static final Font LABEL = ChartCanvas.LABEL;
    private static final int MARGIN = ChartCanvas.MARGIN;
    private static final int CELL_H = 34;
    private static final Color NOT_RUN = new Color(0xdd, 0xdd, 0xdd);

    private DuplicationChart() {
    }

    public static void write(Path file, List<DuplicationDemo.Cell> cells, int trials) throws IOException {
        List<DuplicationDemo.Model> models = DuplicationDemo.models(cells);
        if (models.isEmpty()) {
            throw new IllegalArgumentException("cells: no model to draw");
        }
        FontMetrics title = ChartCanvas.metrics(ChartCanvas.TITLE);
        FontMetrics label = ChartCanvas.metrics(LABEL);

        String heading = "Duplication (Reformer section 5): per-token accuracy of the copy";
        String caption = String.format(Locale.ROOT, "0 w 0 w, N = %s tokens, teacher-forced, %d sequences per cell. "
                + "Rows: trained with; columns: evaluated with.", lengths(models), trials);
        String[] columns = new String[DuplicationDemo.EVAL_ROUNDS.length + 1];
        columns[0] = "full";
        for (int i = 0; i < DuplicationDemo.EVAL_ROUNDS.length; i++) {
            int r = DuplicationDemo.EVAL_ROUNDS[i];
            columns[i + 1] = "lsh " + r + (r == 1 ? " round" : " rounds");
        }
        int cellW = label.stringWidth("100.0%") + 24;
        for (String c : columns) {
            cellW = Math.max(cellW, label.stringWidth(c) + 14);
        }
        int rowLabelW = label.stringWidth("trained with") + 12;
        for (DuplicationDemo.Model model : models) {
            rowLabelW = Math.max(rowLabelW, label.stringWidth(model.label()) + 12);
        }
        int lineH = label.getHeight();
        int gridW = rowLabelW + columns.length * cellW;
        int width = Math.max(2 * MARGIN + ChartCanvas.GLYPH_SLACK + gridW, ChartCanvas.headingWidth(heading, caption));
        int height = MARGIN + title.getHeight() + lineH + 12 + lineH + 4 + models.size() * CELL_H + MARGIN;

        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = ChartCanvas.blank(image);
        int headerY = ChartCanvas.heading(g, heading, caption) + 12;
        g.drawString("trained with", MARGIN, headerY + label.getAscent());
        for (int c = 0; c < columns.length; c++) {
            g.drawString(columns[c], MARGIN + rowLabelW + c * cellW + (cellW - label.stringWidth(columns[c])) / 2,
                    headerY + label.getAscent());
        }
        int gridTop = headerY + lineH + 4;
        for (int r = 0; r < models.size(); r++) {
            DuplicationDemo.Model model = models.get(r);
            int cy = gridTop + r * CELL_H;
            g.setColor(Color.BLACK);
            g.drawString(model.label(), MARGIN, cy + (CELL_H + label.getAscent()) / 2 - 2);
            for (int c = 0; c < columns.length; c++) {
                DuplicationDemo.Cell cell = DuplicationDemo.cell(cells, model, c == 0 ? null : DuplicationDemo.EVAL_ROUNDS[c - 1]);
                Color fill = cell == null ? NOT_RUN : AccuracyChart.color(cell.accuracy());
                int cx = MARGIN + rowLabelW + c * cellW;
                g.setColor(fill);
                g.fillRect(cx, cy, cellW - 2, CELL_H - 2);
                String text = cell == null ? "-" : DuplicationDemo.percent(cell.accuracy());
                g.setColor(luminance(fill) < 0.45 ? Color.WHITE : Color.BLACK);
                g.drawString(text, cx + (cellW - 2 - label.stringWidth(text)) / 2, cy + (CELL_H - 2 + label.getAscent()) / 2 - 2);
            }
        }
        g.dispose();
        ChartCanvas.write(image, file);
    }

    private static String lengths(List<DuplicationDemo.Model> models) {
        return String.join("/", models.stream().map(m -> String.valueOf(m.length())).distinct().toList());
    }

    private static double luminance(Color c) {
        return (0.299 * c.getRed() + 0.587 * c.getGreen() + 0.114 * c.getBlue()) / 255;
    }
}
