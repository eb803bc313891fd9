package dev.engram.runtime.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.engram.api.LayerSpec;
import dev.engram.spi.Suggestions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The manifest {@code engram.json} of a model package, format {@value #FORMAT} (runtime-onnx/README.md).
 *
 * @param memory   the default memory configuration: the same tree as an Engram YAML config ({@code {layers: ...}})
 * @param training free-form, informational
 * @param quantization how tools/engram_import/quantize.py rewrote the graphs' weights (informational: the graphs
 *                     carry it); empty for a float package
 */
public record ModelManifest(String format, String name, Architecture architecture, int segmentLength,
                            Map<String, Object> memory, PackageFiles files, Map<String, Object> training,
                            Map<String, Object> quantization) {
    public static final String FORMAT = "engram-model/1";
    public static final String FILE_NAME = "engram.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(JsonParser.Feature.ALLOW_COMMENTS);
    private static final List<String> TOP = List.of("format", "name", "architecture", "segmentLength", "memory", "files", "training",
            "quantization");
    private static final List<String> ARCH = List.of("layers", "heads", "kvHeads", "keyDim", "valueDim", "modelDim",
            "vocabSize", "positional", "norm", "mlp");
    private static final List<String> FILES = List.of("embedding", "head", "weights", "tokenizer", "tokenizerConfig", "layers");

    /** {@link #weightType()} of a package whose weights are not quantized. */
    public static final String FLOAT32_WEIGHTS = "float32";

    /** The weight matrices' type: {@code quantization.type} (int8, int4) of a quantized package, else float32. */
    public String weightType() {
        Object type = quantization.get("type");
        return type == null ? FLOAT32_WEIGHTS : type.toString();
    }

    /** The dense architecture; every layer has the same attention shape. */
    public record Architecture(int layers, int heads, int kvHeads, int keyDim, int valueDim, int modelDim,
                               int vocabSize, Positional positional, Norm norm, String mlp) {
        public LayerSpec layerSpec() {
            return new LayerSpec(heads, kvHeads, keyDim, valueDim, modelDim);
        }
    }

    /**
     * @param type         rope, alibi, none, or learned (absolute position embeddings inside the embed graph, which
     *                     then takes {@code position_ids}; the attention gets no positional encoding)
     * @param theta        the RoPE base (rope only)
     * @param scaling      a RoPE frequency transform (rope only; null for none)
     * @param maxPositions learned only: the size of the position table (positions 0 .. maxPositions - 1); 0 otherwise
     */
    public record Positional(String type, double theta, RopeScaling scaling, int maxPositions) {
        public Positional(String type, double theta) {
            this(type, theta, null, 0);
        }

        public boolean learned() {
            return "learned".equals(type);
        }
    }

    /** {@code architecture.positional.scaling}: Llama 3.1's "llama3" rope_scaling (baselines/README.md). */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositions) {
    }

    /** Informational: the graphs apply it. */
    public record Norm(String type, double eps) {
    }

    /** Paths relative to the package directory. */
    public record PackageFiles(String embedding, String head, String weights, Optional<String> tokenizer,
                               Optional<String> tokenizerConfig, List<LayerFiles> layers) {
    }

    public record LayerFiles(String pre, String post) {
    }

    /** Reads and checks {@code file}; adds every problem (prefixed "engram.json: ") and returns null if any. */
    public static ModelManifest read(Path file, List<String> problems) {
        String where = file.getFileName().toString();
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            problems.add(where + ": not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : ""));
            return null;
        } catch (IOException e) {
            problems.add(where + ": cannot be read: " + e);
            return null;
        }
        Fields f = new Fields(where, problems);
        if (root == null || !root.isObject()) {
            problems.add(where + ": the top level must be a JSON object");
            return null;
        }
        int before = problems.size();
        f.unknown(root, "", TOP);
        String format = f.text(root, "format");
        if (format != null && !format.equals(FORMAT)) {
            problems.add(where + ": 'format' is '" + format + "'; this runtime reads " + FORMAT);
        }
        String name = f.text(root, "name");
        Architecture arch = architecture(root, f);
        int segmentLength = f.positiveInt(root, "segmentLength", "");
        Map<String, Object> memory = f.object(root, "memory", true);
        if (memory != null && !memory.containsKey("layers")) {
            problems.add(where + ": 'memory' must have a 'layers' key (the same tree as an Engram YAML config)");
        }
        PackageFiles files = files(root, f, arch);
        Map<String, Object> training = root.has("training") ? f.object(root, "training", false) : Map.of();
        Map<String, Object> quantization = root.has("quantization") ? f.object(root, "quantization", false) : Map.of();
        if (problems.size() > before) {
            return null;
        }
        return new ModelManifest(format, name, arch, segmentLength, memory, files, training, quantization);
    }

    private static Architecture architecture(JsonNode root, Fields f) {
        JsonNode a = f.node(root, "architecture", "");
        if (a == null) {
            return null;
        }
        f.unknown(a, "architecture.", ARCH);
        int layers = f.positiveInt(a, "layers", "architecture.");
        int heads = f.positiveInt(a, "heads", "architecture.");
        int kvHeads = f.positiveInt(a, "kvHeads", "architecture.");
        int keyDim = f.positiveInt(a, "keyDim", "architecture.");
        int valueDim = f.positiveInt(a, "valueDim", "architecture.");
        int modelDim = f.positiveInt(a, "modelDim", "architecture.");
        int vocab = f.positiveInt(a, "vocabSize", "architecture.");
        if (heads > 0 && kvHeads > 0 && heads % kvHeads != 0) {
            f.problem("'architecture.kvHeads' is " + kvHeads + "; valid: a divisor of heads (" + heads + ")");
        }
        Positional positional = null;
        JsonNode p = f.node(a, "positional", "architecture.");
        if (p != null) {
            f.unknown(p, "architecture.positional.", List.of("type", "theta", "scaling", "maxPositions"));
            String type = f.text(p, "type", "architecture.positional.");
            double theta = 10000.0;
            if (type != null && !List.of("rope", "alibi", "none", "learned").contains(type)) {
                f.problem("'architecture.positional.type' is '" + type + "'; valid: rope, alibi, none or learned");
            }
            RopeScaling scaling = null;
            if (p.has("scaling")) {
                scaling = scaling(p.get("scaling"), f);
                if (!"rope".equals(type)) {
                    f.problem("'architecture.positional.scaling' is set but type is '" + type + "'; valid: only with rope");
                }
            }
            int maxPositions = 0;
            if ("learned".equals(type)) {
                maxPositions = f.positiveInt(p, "maxPositions", "architecture.positional.");
            } else if (p.has("maxPositions")) {
                f.problem("'architecture.positional.maxPositions' is set but type is '" + type + "'; valid: only with learned");
            }
            if (p.has("theta")) {
                theta = p.get("theta").asDouble(Double.NaN);
                if (!p.get("theta").isNumber() || !(theta > 0) || Double.isInfinite(theta)) {
                    f.problem("'architecture.positional.theta' is " + p.get("theta") + "; valid: a finite number > 0");
                }
            }
            if ("rope".equals(type) && keyDim % 2 != 0) {
                f.problem("'architecture.keyDim' is " + keyDim + "; rope needs an even keyDim");
            }
            positional = new Positional(type, theta, scaling, maxPositions);
        }
        Norm norm = new Norm("layernorm", 1e-5);
        if (a.has("norm")) {
            JsonNode n = a.get("norm");
            if (!n.isObject() || !n.path("type").isTextual()) {
                f.problem("'architecture.norm' is " + n + "; valid: {\"type\": \"layernorm\" or \"rmsnorm\", \"eps\": number}");
            } else {
                norm = new Norm(n.get("type").asText(), n.path("eps").asDouble(1e-5));
            }
        }
        String mlp = a.has("mlp") ? a.get("mlp").asText() : "gelu";
        return new Architecture(layers, heads, kvHeads, keyDim, valueDim, modelDim, vocab, positional, norm, mlp);
    }

    private static RopeScaling scaling(JsonNode s, Fields f) {
        String at = "architecture.positional.scaling.";
        if (s == null || !s.isObject()) {
            f.problem("'architecture.positional.scaling' is " + s + "; valid: {\"type\": \"llama3\", \"factor\", "
                    + "\"lowFreqFactor\", \"highFreqFactor\", \"originalMaxPositions\"}");
            return null;
        }
        f.unknown(s, at, List.of("type", "factor", "lowFreqFactor", "highFreqFactor", "originalMaxPositions"));
        String type = f.text(s, "type", at);
        if (type != null && !type.equals("llama3")) {
            f.problem("'" + at + "type' is '" + type + "'; valid: llama3");
        }
        double factor = f.positiveNumber(s, "factor", at);
        double low = f.positiveNumber(s, "lowFreqFactor", at);
        double high = f.positiveNumber(s, "highFreqFactor", at);
        if (low > 0 && high > 0 && !(high > low)) {
            f.problem("'" + at + "highFreqFactor' is " + high + "; valid: a number > lowFreqFactor (" + low + ")");
        }
        int original = f.positiveInt(s, "originalMaxPositions", at);
        return new RopeScaling(type, factor, low, high, original);
    }

    private static PackageFiles files(JsonNode root, Fields f, Architecture arch) {
        JsonNode n = f.node(root, "files", "");
        if (n == null) {
            return null;
        }
        f.unknown(n, "files.", FILES);
        String embedding = f.text(n, "embedding", "files.");
        String head = f.text(n, "head", "files.");
        String weights = n.has("weights") ? f.text(n, "weights", "files.") : null;
        Optional<String> tokenizer = n.has("tokenizer") ? Optional.ofNullable(f.text(n, "tokenizer", "files.")) : Optional.empty();
        Optional<String> tokenizerConfig = n.has("tokenizerConfig")
                ? Optional.ofNullable(f.text(n, "tokenizerConfig", "files.")) : Optional.empty();
        List<LayerFiles> layers = new ArrayList<>();
        JsonNode l = n.get("layers");
        if (l == null || !l.isArray()) {
            f.problem("'files.layers' is missing or not a list; valid: one {\"pre\": ..., \"post\": ...} per layer");
        } else {
            if (arch != null && arch.layers() > 0 && l.size() != arch.layers()) {
                f.problem("'files.layers' has " + l.size() + " entries; architecture.layers is " + arch.layers());
            }
            for (int i = 0; i < l.size(); i++) {
                String prefix = "files.layers[" + i + "].";
                f.unknown(l.get(i), prefix, List.of("pre", "post"));
                layers.add(new LayerFiles(f.text(l.get(i), "pre", prefix), f.text(l.get(i), "post", prefix)));
            }
        }
        return new PackageFiles(embedding, head, weights, tokenizer, tokenizerConfig, List.copyOf(layers));
    }

    /** Field access that records a problem instead of throwing. */
    private record Fields(String file, List<String> problems) {
        void problem(String p) {
            problems.add(file + ": " + p);
        }

        void unknown(JsonNode node, String prefix, List<String> known) {
            if (node == null || !node.isObject()) {
                return;
            }
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!known.contains(k)) {
                    problem("unknown key '" + prefix + k + "'" + Suggestions.suggestion(k, known) + "; known keys: " + known);
                }
            }
        }

        JsonNode node(JsonNode parent, String key, String prefix) {
            JsonNode n = parent.get(key);
            if (n == null || !n.isObject()) {
                problem("'" + prefix + key + "' is " + (n == null ? "missing" : n) + "; valid: a JSON object");
                return null;
            }
            return n;
        }

        String text(JsonNode parent, String key) {
            return text(parent, key, "");
        }

        String text(JsonNode parent, String key, String prefix) {
            JsonNode n = parent == null ? null : parent.get(key);
            if (n == null || !n.isTextual() || n.asText().isBlank()) {
                problem("'" + prefix + key + "' is " + (n == null ? "missing" : n) + "; valid: a non-empty string");
                return null;
            }
            return n.asText();
        }

        int positiveInt(JsonNode parent, String key, String prefix) {
            JsonNode n = parent.get(key);
            if (n == null || !n.isIntegralNumber() || n.asLong() < 1 || n.asLong() > (1 << 24)) {
                problem("'" + prefix + key + "' is " + (n == null ? "missing" : n) + "; valid: an integer in [1, 16777216]");
                return -1;
            }
            return n.asInt();
        }

        double positiveNumber(JsonNode parent, String key, String prefix) {
            JsonNode n = parent.get(key);
            if (n == null || !n.isNumber() || !(n.asDouble() > 0) || Double.isInfinite(n.asDouble())) {
                problem("'" + prefix + key + "' is " + (n == null ? "missing" : n) + "; valid: a finite number > 0");
                return -1;
            }
            return n.asDouble();
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> object(JsonNode parent, String key, boolean required) {
            JsonNode n = parent.get(key);
            if (n == null || !n.isObject()) {
                if (required || n != null) {
                    problem("'" + key + "' is " + (n == null ? "missing" : n) + "; valid: a JSON object");
                }
                return null;
            }
            return JSON.convertValue(n, Map.class);
        }
    }

    /** For messages: "rope (theta 10000.0)". */
    public String describePositional() {
        Positional p = architecture.positional();
        if (p.type().equals("rope")) {
            return "rope (theta " + p.theta() + (p.scaling() == null ? "" : ", " + p.scaling().type() + " scaling x" + p.scaling().factor()) + ")";
        }
        return p.learned() ? "learned (" + p.maxPositions() + " positions)" : p.type().toLowerCase(Locale.ROOT);
    }
}
