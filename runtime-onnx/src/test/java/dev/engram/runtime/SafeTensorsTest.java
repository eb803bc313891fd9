package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.ConfigException;
import dev.engram.api.Tensor;
import dev.engram.runtime.model.SafeTensors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {
    @TempDir
    Path dir;

    private Path file(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (int i = 0; i < dataBytes / 4; i++) {
            b.putFloat(i + 0.5f);
        }
        Path f = dir.resolve("w.safetensors");
        Files.write(f, b.array());
        return f;
    }

    private List<String> problems(Path f) {
        return assertThrows(ConfigException.class, () -> SafeTensors.read(f)).problems();
    }

    @Test
    void readsLittleEndianF32InHeaderOrder() throws IOException {
        Map<String, Tensor> t = SafeTensors.read(file("{\"__metadata__\":{\"by\":\"test\"},\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
                + "\"data_offsets\":[8,12]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12));
        assertArrayEquals(new float[] {0.5f, 1.5f}, t.get("a").toArray());
        assertArrayEquals(new float[] {2.5f}, t.get("b").toArray());
        assertArrayEquals(new int[] {2}, t.get("a").shape());
    }

    @Test
    void malformedFilesNameTheFileTheTensorAndTheField() throws IOException {
        assertEquals(List.of("w.safetensors: tensor 'a' field 'dtype' is 'F16'; valid: F32 (convert the weights to float32)"),
                problems(file("{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)));
        assertEquals(List.of("w.safetensors: tensor 'a' field 'data_offsets' spans 4 bytes; shape [2] of F32 needs 8"),
                problems(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4)));
        assertEquals(List.of("w.safetensors: tensor 'a' field 'data_offsets' is [0, 16]; valid: 0 <= begin <= end <= 8 "
                        + "(the data section's length)", "w.safetensors: tensor 'b' field 'shape[0]' is -1; valid: an integer >= 0"),
                problems(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 8)));
        assertEquals(List.of("w.safetensors: tensor 'b' field 'data_offsets' [0, 4] overlaps the tensor before it; valid: disjoint ranges"),
                problems(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8)));
        assertEquals(List.of("w.safetensors: data section is 12 bytes but the tensors cover 8; the file is truncated or has trailing bytes"),
                problems(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12)));
        assertTrue(problems(file("{\"a\":", 0)).get(0).startsWith("w.safetensors: header is not valid JSON: "));
        assertEquals(List.of("w.safetensors: header must be a JSON object of tensor name -> {dtype, shape, data_offsets}"),
                problems(file("[1, 2]", 0)));
    }

    @Test
    void shortOrLyingLengthFieldsAreRefused() throws IOException {
        Path f = dir.resolve("w.safetensors");
        Files.write(f, new byte[] {1, 2, 3});
        assertEquals(List.of("w.safetensors: is 3 bytes; a safetensors file starts with an 8-byte header length"), problems(f));
        Files.write(f, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(-5).array());
        assertEquals(List.of("w.safetensors: header length is -5; valid: 2 to 4 (the bytes after the 8-byte length field)"), problems(f));
    }
}
