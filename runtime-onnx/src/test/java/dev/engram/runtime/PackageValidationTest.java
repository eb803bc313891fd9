package dev.engram.runtime;

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
import java.nio.file.StandardCopyOption;
import dev.engram.runtime.model.ModelPackage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every load-time error names its file and field, all problems come in one exception, and nothing crashes. */
class PackageValidationTest {
    static final Path MODELS = EngineTest.MODELS;
    @TempDir
    Path dir;

    private Path copy() throws IOException {
        Path pkg = dir.resolve("pkg");
        Files.createDirectories(pkg);
        try (Stream<Path> files = Files.list(EngineTest.TINY)) {
            for (Path f : files.toList()) {
                Files.copy(f, pkg.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return pkg;
    }

    private List<String> problems(Path pkg) {
        return problems(pkg, "layers: {default: {attention: {provider: window, window: 3}, memory: gate-memory}}");
    }

    private List<String> problems(Path pkg, String yaml) {
        try {
            Path config = dir.resolve("c.yaml");
            Files.writeString(config, yaml);
            ConfigException e = assertThrows(ConfigException.class,
                    () -> new EngineLoader().config(config).systemOverrides(false).load(pkg).close());
            assertTrue(e.getMessage().startsWith(pkg.toString()), e.getMessage());
            return e.problems();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static void writeSafeTensors(Path file, Map<String, Tensor> tensors) throws IOException {
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (Map.Entry<String, Tensor> e : new TreeMap<>(tensors).entrySet()) {
            long bytes = 4L * e.getValue().size();
            header.append(header.length() > 1 ? "," : "").append('"').append(e.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":")
                    .append(java.util.Arrays.toString(e.getValue().shape())).append(",\"data_offsets\":[").append(offset)
                    .append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate((int) (8 + h.length + offset)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (Tensor t : new TreeMap<>(tensors).values()) {
            for (float x : t.toArray()) {
                b.putFloat(x);
            }
        }
        Files.write(file, b.array());
    }

    @Test
    void theTestPackageItselfIsValid() throws IOException {
        new EngineLoader().systemOverrides(false).load(copy()).close();
    }

    @Test
    void aMissingGraphIsNamedWithTheManifestField() throws IOException {
        Path pkg = copy();
        Files.delete(pkg.resolve("layer_1_post.onnx"));
        assertEquals(List.of("layer_1_post.onnx: is missing (named by engram.json 'files.layers[1].post')"), problems(pkg));
    }

    @Test
    void aPathOutsideThePackageStopsTheLoadBeforeAnyFileIsOpened() throws IOException {
        Path pkg = copy();
        // Junk beside the package: had the loader opened it, ONNX Runtime or the tokenizer would report it as corrupt.
        Files.writeString(dir.resolve("outside.onnx"), "this is not a model");
        Files.writeString(dir.resolve("tokenizer.json"), "this is not a tokenizer");
        Path manifest = pkg.resolve("engram.json");
        String json = Files.readString(manifest);
        Files.writeString(manifest, json.replace("\"embed.onnx\"", "\"../outside.onnx\"")
                .replace("\"weights\": \"memory.safetensors\",", "\"weights\": \"memory.safetensors\", \"tokenizer\": \"../tokenizer.json\","));
        assertEquals(List.of("engram.json: 'files.embedding' is '../outside.onnx'; valid: a path inside the package directory",
                "engram.json: 'files.tokenizer' is '../tokenizer.json'; valid: a path inside the package directory"), problems(pkg));
        Files.writeString(manifest, json.replace("\"head.onnx\"", "\"../../../../etc/passwd\""));
        assertEquals(List.of("engram.json: 'files.head' is '../../../../etc/passwd'; valid: a path inside the package directory"),
                problems(pkg));
        // the chat template's file too: refused before anything (tokenizer, graphs) is opened
        Files.writeString(manifest, json.replace("\"weights\": \"memory.safetensors\",",
                "\"weights\": \"memory.safetensors\", \"tokenizerConfig\": \"../tokenizer.json\","));
        List<String> p = new ArrayList<>();
        ModelPackage read = ModelPackage.read(pkg, p);
        assertTrue(read == null || read.refusedPaths(), "a tokenizerConfig outside the package stops the load: " + p);
    }

    @Test
    void aWrongGraphOutputNameIsNamed() throws IOException {
        Path pkg = copy();
        Files.copy(MODELS.resolve("tiny-bad/pre_wrong_output_name.onnx"), pkg.resolve("layer_0_pre.onnx"),
                StandardCopyOption.REPLACE_EXISTING);
        List<String> p = problems(pkg);
        assertEquals(List.of("layer_0_pre.onnx: output 'v' is missing; the graph's outputs are [q, k, values, h]; valid: [q, k, v, h]",
                "layer_0_pre.onnx: unexpected output 'values'; valid outputs: [q, k, v, h]"), p);
    }

    @Test
    void aWrongStaticDimensionIsNamedWithTheArchitectureField() throws IOException {
        Path pkg = copy();
        Files.copy(MODELS.resolve("tiny-bad/pre_wrong_heads.onnx"), pkg.resolve("layer_0_pre.onnx"),
                StandardCopyOption.REPLACE_EXISTING);
        assertEquals(List.of("layer_0_pre.onnx: output 'q' axis 1 (heads) is 3; valid: 2 (engram.json architecture.heads)"),
                problems(pkg));
    }

    @Test
    void aBadSafetensorsHeaderIsNamed() throws IOException {
        Path pkg = copy();
        byte[] bytes = Files.readAllBytes(pkg.resolve("memory.safetensors"));
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40);
        Files.write(pkg.resolve("memory.safetensors"), bytes);
        List<String> p = problems(pkg);
        assertTrue(p.get(0).startsWith("memory.safetensors: header length is 1099511627776; valid: 2 to "), p.toString());
    }

    @Test
    void aMissingOrMisshapedWeightIsNamedWithItsKey() throws IOException {
        Path pkg = copy();
        Map<String, Tensor> w = new java.util.HashMap<>(SafeTensors.read(pkg.resolve("memory.safetensors")));
        w.remove("layers.1.gate-memory.gate");
        w.put("layers.0.gate-memory.gate", Tensor.zeros(3));
        writeSafeTensors(pkg.resolve("memory.safetensors"), w);
        assertEquals(List.of("memory.safetensors: weight 'layers.0.gate-memory.gate' has shape [3]; expected [2]",
                "memory.safetensors: weight 'layers.1.gate-memory.gate' is missing; expected shape [2]"), problems(pkg));
    }

    @Test
    void corruptAndTruncatedGraphsAreErrorsNotCrashes() throws IOException {
        Path pkg = copy();
        byte[] post = Files.readAllBytes(pkg.resolve("layer_0_post.onnx"));
        Files.write(pkg.resolve("layer_0_post.onnx"), java.util.Arrays.copyOf(post, post.length / 2));
        Files.writeString(pkg.resolve("head.onnx"), "this is not a model");
        List<String> p = problems(pkg);
        assertEquals(2, p.size(), p.toString());
        assertTrue(p.get(0).startsWith("head.onnx: ONNX Runtime cannot load it (corrupt, truncated or not an ONNX model): "), p.toString());
        assertTrue(p.get(1).startsWith("layer_0_post.onnx: ONNX Runtime cannot load it"), p.toString());
    }

    @Test
    void everyProblemOfEveryKindIsReportedAtOnce() throws IOException {
        Path pkg = copy();
        Files.delete(pkg.resolve("layer_1_post.onnx"));
        Files.copy(MODELS.resolve("tiny-bad/pre_wrong_heads.onnx"), pkg.resolve("layer_0_pre.onnx"),
                StandardCopyOption.REPLACE_EXISTING);
        Map<String, Tensor> w = new java.util.HashMap<>(SafeTensors.read(pkg.resolve("memory.safetensors")));
        w.remove("layers.0.gate-memory.gate");
        writeSafeTensors(pkg.resolve("memory.safetensors"), w);
        List<String> p = problems(pkg, "layers: {default: {attention: {provider: window, window: 3}, memory: gate-memory}}\n"
                + "session: {intraOpThread: 2}\n");
        assertTrue(p.contains("layer_1_post.onnx: is missing (named by engram.json 'files.layers[1].post')"), p.toString());
        assertTrue(p.stream().anyMatch(s -> s.startsWith("layer_0_pre.onnx: output 'q' axis 1 (heads) is 3")), p.toString());
        assertTrue(p.stream().anyMatch(s -> s.contains("session: unknown key 'intraOpThread'; did you mean 'intraOpThreads'?")),
                p.toString());
        assertEquals(3, p.size(), p.toString());
    }

    @Test
    void manifestProblemsAreAllNamed() throws IOException {
        Path pkg = copy();
        String json = Files.readString(pkg.resolve("engram.json"))
                .replace("\"engram-model/1\"", "\"engram-model/9\"")
                .replace("\"heads\": 2,", "\"hedas\": 2,")
                .replace("\"segmentLength\": 4", "\"segmentLength\": 0");
        Files.writeString(pkg.resolve("engram.json"), json);
        List<String> p = problems(pkg);
        assertEquals(List.of("engram.json: 'format' is 'engram-model/9'; this runtime reads engram-model/1",
                "engram.json: unknown key 'architecture.hedas'; did you mean 'heads'?; known keys: [layers, heads, kvHeads, "
                        + "keyDim, valueDim, modelDim, vocabSize, positional, norm, mlp]",
                "engram.json: 'architecture.heads' is missing; valid: an integer in [1, 16777216]",
                "engram.json: 'segmentLength' is 0; valid: an integer in [1, 16777216]"), p);
    }

    /** The positional fields imported checkpoints use: learned positions and llama3 rope scaling, each checked by name. */
    @Test
    void learnedPositionsAndRopeScalingAreChecked() throws IOException {
        Path pkg = copy();
        String original = Files.readString(pkg.resolve("engram.json"));
        String rope = "\"positional\": \\{[^}]*\\}"; // the architecture's (the layers' own are strings)
        assertTrue(original.matches("(?s).*" + rope + ".*"), original);
        Files.writeString(pkg.resolve("engram.json"), original.replaceFirst(rope, "\"positional\": {\"type\": \"learned\"}"));
        assertEquals(List.of("engram.json: 'architecture.positional.maxPositions' is missing; valid: an integer in [1, 16777216]"),
                problems(pkg));
        Files.writeString(pkg.resolve("engram.json"), original.replaceFirst(rope, "\"positional\": {\"type\": \"rope\", "
                + "\"scaling\": {\"type\": \"yarn\", \"factor\": 0, \"lowFreqFactor\": 4, \"highFreqFactor\": 1, "
                + "\"originalMaxPositions\": 8192}}"));
        assertEquals(List.of("engram.json: 'architecture.positional.scaling.type' is 'yarn'; valid: llama3",
                "engram.json: 'architecture.positional.scaling.factor' is 0; valid: a finite number > 0",
                "engram.json: 'architecture.positional.scaling.highFreqFactor' is 1.0; valid: a number > lowFreqFactor (4.0)"),
                problems(pkg));
        Files.writeString(pkg.resolve("engram.json"), original.replaceFirst(rope, "\"positional\": {\"type\": \"alibi\", "
                + "\"maxPositions\": 8}"));
        assertEquals(List.of("engram.json: 'architecture.positional.maxPositions' is set but type is 'alibi'; valid: only with learned"),
                problems(pkg));
    }

    @Test
    void aManifestThatIsNotJsonOrAMissingDirectoryIsOneClearProblem() throws IOException {
        Path pkg = copy();
        Files.writeString(pkg.resolve("engram.json"), "{\"format\": ");
        assertTrue(problems(pkg).get(0).startsWith("engram.json: not valid JSON: "));
        assertEquals(List.of(dir.resolve("nowhere") + ": is not a directory; a model package is a directory with engram.json"),
                problems(dir.resolve("nowhere")));
    }
}
