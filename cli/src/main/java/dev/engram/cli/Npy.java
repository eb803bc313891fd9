package dev.engram.cli;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * NumPy's .npy format, version 1.0, for float32 matrices and int32 vectors: the magic {@code \x93NUMPY}, version 1 0, a 2-byte
 * little-endian header length, the header (a Python dict literal, padded with spaces and a newline so the data starts
 * at a multiple of 64 bytes), then the values little-endian in C order. Written to a temporary file and moved into
 * place, so a reader never sees half a file.
 */
final class Npy {
    private Npy() {
    }

    static void writeFloat32(Path file, float[][] rows) throws IOException {
        int cols = rows.length == 0 ? 0 : rows[0].length;
        write(file, "<f4", "(" + rows.length + ", " + cols + ")", o -> {
            ByteBuffer b = ByteBuffer.allocate(cols * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float[] row : rows) {
                b.clear();
                b.asFloatBuffer().put(row);
                o.write(b.array(), 0, cols * 4);
            }
        });
    }

    /** A 1-D int32 array (token ids). */
    static void writeInt32(Path file, int[] values) throws IOException {
        write(file, "<i4", "(" + values.length + ",)", o -> {
            ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asIntBuffer().put(values);
            o.write(b.array());
        });
    }

    private interface Body {
        void write(OutputStream o) throws IOException;
    }

    private static void write(Path file, String descr, String shape, Body body) throws IOException {
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
        int unpadded = 10 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
        try (OutputStream o = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
            o.write(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
            byte[] h = header.getBytes(StandardCharsets.US_ASCII);
            o.write(h.length & 0xff);
            o.write(h.length >>> 8);
            o.write(h);
            body.write(o);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        try {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
