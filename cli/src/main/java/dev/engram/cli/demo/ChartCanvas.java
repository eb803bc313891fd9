package dev.engram.cli.demo;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * What the demo's charts share: their fonts and margin, a white antialiased canvas, and the heading block (a bold
 * title, then caption lines). Every size in a chart comes from the metrics of the text it must hold.
 */
final class ChartCanvas {
    static final Font TITLE = new Font(Font.SANS_SERIF, Font.BOLD, 16);
    static final Font LABEL = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
    static final int MARGIN = 20;
    /** A few pixels beyond measured text: antialiased glyphs can reach past their advance width. */
    static final int GLYPH_SLACK = 8;

    private ChartCanvas() {
    }

    /** The metrics of {@code font}, measured before there is an image to draw on. */
    static FontMetrics metrics(Font font) {
        Graphics2D g = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        try {
            return g.getFontMetrics(font);
        } finally {
            g.dispose();
        }
    }

    /** The width the heading block needs (title and captions), margins and slack included. */
    static int headingWidth(String heading, String... captions) {
        int w = metrics(TITLE).stringWidth(heading);
        for (String caption : captions) {
            w = Math.max(w, metrics(LABEL).stringWidth(caption));
        }
        return 2 * MARGIN + GLYPH_SLACK + w;
    }

    /** A white, antialiased graphics on {@code image}, drawing in black. */
    static Graphics2D blank(BufferedImage image) {
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, image.getWidth(), image.getHeight());
        g.setColor(Color.BLACK);
        return g;
    }

    /**
     * Draws the title and each caption line from the top-left margin; returns the y just below the last line's
     * descent, where the chart's body may start. Leaves the font set to {@link #LABEL}.
     */
    static int heading(Graphics2D g, String heading, String... captions) {
        FontMetrics title = g.getFontMetrics(TITLE);
        FontMetrics label = g.getFontMetrics(LABEL);
        g.setFont(TITLE);
        int y = MARGIN + title.getAscent();
        g.drawString(heading, MARGIN, y);
        y += title.getDescent();
        g.setFont(LABEL);
        for (String caption : captions) {
            y += label.getAscent();
            g.drawString(caption, MARGIN, y);
            y += label.getDescent();
        }
        return y;
    }

    /** Writes {@code image} as a PNG to {@code file}, creating its folder. */
    static void write(BufferedImage image, Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        ImageIO.write(image, "png", file.toFile());
    }
}
