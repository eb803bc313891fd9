package dev.engram.cli.demo;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * The demo's PNG: mean passkey accuracy against context length (log scale), one line per model.
 * Drawn with Java2D: a chart this small does not justify a plotting dependency in the CLI.
 */
public final class AccuracyChart {
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
            new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b)};

    private AccuracyChart() {
    }

    public static void write(Path file, List<PasskeyDemo.Result> results) throws IOException {
        int width = 800;
        int height = 480;
        int left = 70;
        int right = 200;
        int top = 40;
        int bottom = 60;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString("Passkey retrieval accuracy vs context length", left, 25);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int plotW = width - left - right;
        int plotH = height - top - bottom;
        g.drawRect(left, top, plotW, plotH);
        int[] lengths = results.get(0).lengths();
        double minLog = Math.log(lengths[0]);
        double maxLog = Math.log(lengths[lengths.length - 1]);
        double span = Math.max(maxLog - minLog, 1e-9);
        for (int pct = 0; pct <= 100; pct += 25) {
            int y = top + plotH - pct * plotH / 100;
            g.setColor(new Color(0xdddddd));
            g.drawLine(left, y, left + plotW, y);
            g.setColor(Color.BLACK);
            g.drawString(pct + "%", left - 40, y + 4);
        }
        for (int length : lengths) {
            int x = left + (int) ((Math.log(length) - minLog) / span * plotW);
            g.drawString(PasskeyDemo.human(length), x - 12, top + plotH + 20);
        }
        g.drawString("context length (tokens, log scale)", left + plotW / 2 - 100, height - 15);
        for (int i = 0; i < results.size(); i++) {
            PasskeyDemo.Result r = results.get(i);
            g.setColor(COLORS[i % COLORS.length]);
            g.setStroke(new BasicStroke(2.5f));
            int px = -1;
            int py = -1;
            for (int li = 0; li < r.lengths().length; li++) {
                int x = left + (int) ((Math.log(r.lengths()[li]) - minLog) / span * plotW);
                int y = top + plotH - (int) Math.round(r.meanAccuracy(li) * plotH);
                g.fillOval(x - 4, y - 4, 8, 8);
                if (px >= 0) {
                    g.drawLine(px, py, x, y);
                }
                px = x;
                py = y;
            }
            g.drawString(r.model() + " (" + r.strategy() + ")", left + plotW + 12, top + 20 + 20 * i);
        }
        g.dispose();
        Files.createDirectories(file.toAbsolutePath().getParent());
        ImageIO.write(image, "png", file.toFile());
    }
}
