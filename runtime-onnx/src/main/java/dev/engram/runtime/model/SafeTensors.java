package dev.engram.runtime.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.ConfigException;
import dev.engram.api.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict reader of the safetensors format, float32 only: an 8-byte little-endian header length,
 * a JSON header {@code {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}},
 * then the data. Offsets are relative to the data section; tensors must not overlap and must cover
 * it exactly. Every problem is reported at once, naming the file, the tensor and the field.
 */
public final class SafeTensors {
    /** Refuse headers larger than this (the reference implementation uses 100 MB too). */
    static final long MAX_HEADER = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private SafeTensors() {
    }

    /**
     * Writes {@code tensors} (F32, names in sorted order, the header padded with spaces to 8 bytes) to {@code file}
     * through a temporary file in the same folder and one atomic move, so a reader never sees half a file and a
     * failure leaves the old one.
     */
    public static void write(Path file, Map<String, Tensor> tensors) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        long offset = 0;
        java.util.TreeMap<String, Tensor> sorted = new java.util.TreeMap<>(tensors);
        for (Map.Entry<String, Tensor> e : sorted.entrySet()) {
            long bytes = 4L * e.getValue().size();
            header.put(e.getKey(), Map.of("dtype", "F32", "shape", e.getValue().shape(), "data_offsets", List.of(offset, offset + bytes)));
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        for (int i = json.length; i < padded; i++) {
            out.put((byte) ' ');
        }
        for (Tensor t : sorted.values()) {
            float[] a = t.toArray();
            for (float v : a) {
                out.putFloat(v);
            }
        }
        Path tmp = java.nio.file.Files.createTempFile(file.toAbsolutePath().getParent(), "." + file.getFileName(), ".tmp");
        try {
            java.nio.file.Files.write(tmp, out.array());
            java.nio.file.Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            java.nio.file.Files.deleteIfExists(tmp);
        }
    }

    /** Reads every tensor of {@code file}; throws {@link ConfigException} listing every problem. */
    public static Map<String, Tensor> read(Path file) {
        List<String> problems = new ArrayList<>();
        Map<String, Tensor> tensors = read(file, file.getFileName().toString(), problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(file.toString(), problems);
        }
        return tensors;
    }

    /** Reads {@code file}, adding each problem (prefixed with {@code name}) to {@code problems}; returns what was readable. */
    public static Map<String, Tensor> read(Path file, String name, List<String> problems) {
        ByteBuffer bytes;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            bytes = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException | UnsupportedOperationException e) {
            problems.add(name + ": cannot be read: " + e.getMessage());
            return Map.of();
        }
        return parse(bytes, name, problems);
    }

    static Map<String, Tensor> parse(ByteBuffer bytes, String name, List<String> problems) {
        long size = bytes.limit();
        if (size < 8) {
            problems.add(name + ": is " + size + " bytes; a safetensors file starts with an 8-byte header length");
            return Map.of();
        }
        long headerLength = bytes.getLong(0);
        if (headerLength < 2 || headerLength > MAX_HEADER || headerLength > size - 8) {
            problems.add(name + ": header length is " + headerLength + "; valid: 2 to "
                    + Math.min(MAX_HEADER, size - 8) + " (the bytes after the 8-byte length field)");
            return Map.of();
        }
        byte[] headerBytes = new byte[(int) headerLength];
        bytes.get(8, headerBytes);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            problems.add(name + ": header is not valid JSON: " + e.getOriginalMessage());
            return Map.of();
        }
        if (header == null || !header.isObject()) {
            problems.add(name + ": header must be a JSON object of tensor name -> {dtype, shape, data_offsets}");
            return Map.of();
        }
        long dataStart = 8 + headerLength;
        long dataLength = size - dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>();
        List<String> rangeNames = new ArrayList<>();
        int problemsBefore = problems.size();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            JsonNode entry = e.getValue();
            String where = name + ": tensor '" + key + "'";
            if (key.equals("__metadata__")) {
                if (!entry.isObject()) {
                    problems.add(name + ": '__metadata__' must be an object of strings");
                }
                continue;
            }
            if (!entry.isObject()) {
                problems.add(where + " must be an object {dtype, shape, data_offsets}");
                continue;
            }
            int before = problems.size();
            JsonNode dtype = entry.get("dtype");
            if (dtype == null || !dtype.isTextual()) {
                problems.add(where + " field 'dtype' is missing; valid: \"F32\"");
            } else if (!dtype.asText().equals("F32")) {
                problems.add(where + " field 'dtype' is '" + dtype.asText() + "'; valid: F32 (convert the weights to float32)");
            }
            int[] shape = shape(entry.get("shape"), where, problems);
            long[] offsets = offsets(entry.get("data_offsets"), where, dataLength, problems);
            for (Iterator<String> names = entry.fieldNames(); names.hasNext(); ) {
                String f = names.next();
                if (!List.of("dtype", "shape", "data_offsets").contains(f)) {
                    problems.add(where + " has unknown field '" + f + "'; known fields: [dtype, shape, data_offsets]");
                }
            }
            if (shape != null && offsets != null) {
                long elements = 1;
                for (int d : shape) {
                    elements *= d;
                }
                if (offsets[1] - offsets[0] != elements * 4) {
                    problems.add(where + " field 'data_offsets' spans " + (offsets[1] - offsets[0]) + " bytes; shape "
                            + java.util.Arrays.toString(shape) + " of F32 needs " + elements * 4);
                } else if (elements > Integer.MAX_VALUE - 8) {
                    problems.add(where + " field 'shape' has " + elements + " elements; at most " + (Integer.MAX_VALUE - 8));
                }
            }
            if (problems.size() == before && shape != null && offsets != null) {
                ranges.add(offsets);
                rangeNames.add(key);
                float[] data = new float[(int) ((offsets[1] - offsets[0]) / 4)];
                bytes.slice((int) (dataStart + offsets[0]), (int) (offsets[1] - offsets[0]))
                        .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data);
                tensors.put(key, Tensor.of(data, shape));
            }
        }
        if (problems.size() == problemsBefore) {
            checkCoverage(ranges, rangeNames, dataLength, name, problems);
        }
        return tensors;
    }

    private static int[] shape(JsonNode node, String where, List<String> problems) {
        if (node == null || !node.isArray()) {
            problems.add(where + " field 'shape' is missing or not a list; valid: a list of dimensions >= 0");
            return null;
        }
        int[] shape = new int[node.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = node.get(i);
            if (!d.isIntegralNumber() || d.asLong() < 0 || d.asLong() > Integer.MAX_VALUE) {
                problems.add(where + " field 'shape[" + i + "]' is " + d + "; valid: an integer >= 0");
                return null;
            }
            shape[i] = d.asInt();
        }
        return shape;
    }

    private static long[] offsets(JsonNode node, String where, long dataLength, List<String> problems) {
        if (node == null || !node.isArray() || node.size() != 2 || !node.get(0).isIntegralNumber()
                || !node.get(1).isIntegralNumber()) {
            problems.add(where + " field 'data_offsets' is " + node + "; valid: [begin, end], two integers");
            return null;
        }
        long begin = node.get(0).asLong();
        long end = node.get(1).asLong();
        if (begin < 0 || end < begin || end > dataLength) {
            problems.add(where + " field 'data_offsets' is [" + begin + ", " + end + "]; valid: 0 <= begin <= end <= "
                    + dataLength + " (the data section's length)");
            return null;
        }
        return new long[] {begin, end};
    }

    private static void checkCoverage(List<long[]> ranges, List<String> names, long dataLength, String name,
                                      List<String> problems) {
        Integer[] order = new Integer[ranges.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Long.compare(ranges.get(a)[0], ranges.get(b)[0]));
        long covered = 0;
        boolean clean = true;
        for (int i : order) {
            long[] r = ranges.get(i);
            if (r[0] < covered) {
                problems.add(name + ": tensor '" + names.get(i) + "' field 'data_offsets' [" + r[0] + ", " + r[1]
                        + "] overlaps the tensor before it; valid: disjoint ranges");
                clean = false;
            } else if (r[0] > covered) {
                problems.add(name + ": data bytes [" + covered + ", " + r[0] + ") belong to no tensor; valid: tensors cover the data exactly");
                clean = false;
            }
            covered = Math.max(covered, r[1]);
        }
        if (clean && covered != dataLength) {
            problems.add(name + ": data section is " + dataLength + " bytes but the tensors cover " + covered
                    + "; the file is truncated or has trailing bytes");
        }
    }
}
