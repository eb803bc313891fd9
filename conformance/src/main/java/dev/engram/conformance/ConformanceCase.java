package dev.engram.conformance;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.api.EngramException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import dev.engram.spi.Suggestions;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A parsed conformance case (docs/conformance.md). Parsing checks every field and names the one at fault. */
public record ConformanceCase(
        String name,
        Kind kind,
        String provider,
        LayerSpec layer,
        Map<String, Object> config,
        Map<String, Tensor> weights,
        List<Map<String, Tensor>> segments,
        List<Map<String, Tensor>> expected,
        double absTolerance,
        double relTolerance,
        ObjectNode document) {

    public static final String FORMAT = "engram-conformance/1";
    static final List<String> SEGMENT_INPUTS = List.of("q", "k", "v", "h", "local", "uniforms");
    /** Every top-level field a case may have; {@code description} (a string or an array of strings) is for people. */
    static final List<String> TOP_LEVEL = List.of("format", "kind", "provider", "description", "layer", "config",
            "weights", "segments", "expected", "tolerance");
    static final List<String> TOLERANCE = List.of("abs", "rel");
    static final ObjectMapper JSON = new ObjectMapper();

    public enum Kind { MEMORY, ATTENTION }

    public static ConformanceCase parse(String name, String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new MalformedCaseException(name + ": not valid JSON: " + e.getOriginalMessage()
                    + " at line " + e.getLocation().getLineNr());
        }
        if (root == null || !root.isObject()) {
            throw new MalformedCaseException(name + ": the document must be a JSON object");
        }
        return parse(name, (ObjectNode) root);
    }

    static ConformanceCase parse(String name, ObjectNode root) {
        JsonNode formatNode = root.get("format");
        if (formatNode != null && formatNode.isTextual() && !FORMAT.equals(formatNode.asText())) {
            throw new MalformedCaseException(name + ": format is '" + formatNode.asText() + "'; valid: '" + FORMAT + "'");
        }
        // A misspelt field ("tolerence", "weight") would otherwise be ignored and its defaults used silently.
        knownFields(root, "", TOP_LEVEL, name);
        text(root, "format", name);
        JsonNode description = root.get("description");
        if (description != null && !description.isTextual()
                && !(description.isArray() && allTextual(description))) {
            throw new MalformedCaseException(name + ": description is " + description
                    + "; valid: a string or an array of strings");
        }
        String kindText = text(root, "kind", name);
        Kind kind = switch (kindText) {
            case "memory" -> Kind.MEMORY;
            case "attention" -> Kind.ATTENTION;
            default -> throw new MalformedCaseException(name + ": kind is '" + kindText + "'; valid: memory, attention");
        };
        String provider = text(root, "provider", name);
        LayerSpec layer = layer(root.get("layer"), name);
        Map<String, Object> config = new LinkedHashMap<>();
        JsonNode configNode = root.get("config");
        if (configNode != null && !configNode.isNull()) {
            if (!configNode.isObject()) {
                throw new MalformedCaseException(name + ": config must be an object of the provider's keys");
            }
            config.putAll(JSON.convertValue(configNode, Map.class));
        }
        Map<String, Tensor> weights = tensors(root.get("weights"), name + ": weights", null);
        JsonNode segmentsNode = root.get("segments");
        if (segmentsNode == null || !segmentsNode.isArray() || segmentsNode.isEmpty()) {
            throw new MalformedCaseException(name + ": segments must be a non-empty array");
        }
        List<Map<String, Tensor>> segments = new ArrayList<>();
        for (int i = 0; i < segmentsNode.size(); i++) {
            segments.add(tensors(segmentsNode.get(i), name + ": segments[" + i + "]", SEGMENT_INPUTS));
        }
        List<Map<String, Tensor>> expected = new ArrayList<>();
        JsonNode expectedNode = root.get("expected");
        if (expectedNode != null && !expectedNode.isNull()) {
            if (!expectedNode.isArray() || expectedNode.size() != segmentsNode.size()) {
                throw new MalformedCaseException(name + ": expected must be an array with one entry per segment ("
                        + segmentsNode.size() + ")");
            }
            for (int i = 0; i < expectedNode.size(); i++) {
                expected.add(tensors(expectedNode.get(i), name + ": expected[" + i + "]", null));
            }
        }
        double abs = 1e-4;
        double rel = 1e-3;
        JsonNode tol = root.get("tolerance");
        if (tol != null && !tol.isNull()) {
            if (!tol.isObject()) {
                throw new MalformedCaseException(name + ": tolerance is " + tol + "; valid: an object {\"abs\": x, \"rel\": y}");
            }
            knownFields(tol, "tolerance.", TOLERANCE, name);
            abs = nonNegative(tol, "abs", abs, name);
            rel = nonNegative(tol, "rel", rel, name);
        }
        return new ConformanceCase(name, kind, provider, layer, config, weights, segments, expected, abs, rel, root);
    }

    private static void knownFields(JsonNode node, String prefix, List<String> known, String name) {
        Iterator<String> names = node.fieldNames();
        while (names.hasNext()) {
            String field = names.next();
            if (!known.contains(field)) {
                throw new MalformedCaseException(name + ": unknown field '" + prefix + field + "'"
                        + Suggestions.suggestion(field, known).replace("mean '", "mean '" + prefix)
                        + "; valid fields: " + known);
            }
        }
    }

    private static boolean allTextual(JsonNode array) {
        for (JsonNode n : array) {
            if (!n.isTextual()) {
                return false;
            }
        }
        return true;
    }

    private static String text(JsonNode root, String field, String name) {
        JsonNode n = root.get(field);
        if (n == null || !n.isTextual()) {
            throw new MalformedCaseException(name + ": " + field + " is missing or not a string");
        }
        return n.asText();
    }

    private static double nonNegative(JsonNode tol, String field, double fallback, String name) {
        JsonNode n = tol.get(field);
        if (n == null) {
            return fallback;
        }
        if (!n.isNumber() || n.asDouble() < 0) {
            throw new MalformedCaseException(name + ": tolerance." + field + " is " + n + "; valid: a number >= 0");
        }
        return n.asDouble();
    }

    private static LayerSpec layer(JsonNode node, String name) {
        if (node == null || !node.isObject()) {
            throw new MalformedCaseException(name + ": layer must be an object {heads, kvHeads, keyDim, valueDim, modelDim}");
        }
        int[] v = new int[5];
        String[] fields = {"heads", "kvHeads", "keyDim", "valueDim", "modelDim"};
        for (int i = 0; i < fields.length; i++) {
            JsonNode n = node.get(fields[i]);
            if (n == null || !n.canConvertToInt() || !n.isIntegralNumber()) {
                throw new MalformedCaseException(name + ": layer." + fields[i] + " is " + n + "; valid: a positive integer");
            }
            v[i] = n.asInt();
        }
        try {
            return new LayerSpec(v[0], v[1], v[2], v[3], v[4]);
        } catch (EngramException e) {
            throw new MalformedCaseException(name + ": layer." + e.getMessage());
        }
    }

    /** An object of named tensors; {@code allowed} null means any name. */
    private static Map<String, Tensor> tensors(JsonNode node, String where, List<String> allowed) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (!node.isObject()) {
            throw new MalformedCaseException(where + " must be an object of tensors");
        }
        Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> e = fields.next();
            if (e.getKey().equals("description")) {
                continue;
            }
            if (allowed != null && !allowed.contains(e.getKey())) {
                throw new MalformedCaseException(where + "." + e.getKey() + " is not a segment input; valid: " + allowed);
            }
            out.put(e.getKey(), tensor(e.getValue(), where + "." + e.getKey()));
        }
        return out;
    }

    static Tensor tensor(JsonNode node, String where) {
        if (node == null || !node.isObject()) {
            throw new MalformedCaseException(where + " must be a tensor {\"shape\": [...], \"data\": [...]}");
        }
        JsonNode shapeNode = node.get("shape");
        JsonNode dataNode = node.get("data");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw new MalformedCaseException(where + ".shape is missing or not an array");
        }
        if (dataNode == null || !dataNode.isArray()) {
            throw new MalformedCaseException(where + ".data is missing or not an array");
        }
        int[] shape = new int[shapeNode.size()];
        long product = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.isIntegralNumber() || d.asLong() < 0 || d.asLong() > Integer.MAX_VALUE) {
                throw new MalformedCaseException(where + ".shape[" + i + "] is " + d + "; valid: an integer >= 0");
            }
            shape[i] = d.asInt();
            product *= shape[i];
        }
        if (product != dataNode.size()) {
            throw new MalformedCaseException(where + ".data has " + dataNode.size() + " values; shape "
                    + java.util.Arrays.toString(shape) + " needs " + product);
        }
        float[] data = new float[dataNode.size()];
        for (int i = 0; i < data.length; i++) {
            JsonNode x = dataNode.get(i);
            if (!x.isNumber()) {
                throw new MalformedCaseException(where + ".data[" + i + "] is " + x + "; valid: a number");
            }
            data[i] = (float) x.asDouble();
        }
        return Tensor.of(data, shape);
    }
}
