package dev.engram.server;

import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.GenerationParams;
import dev.engram.runtime.ModelSequence;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The runtime's tiny package (2 layers, V=16, S=4, window attention) with its layer-1 memory switched
 * to the real {@code infini} provider: the ONNX files are copied from runtime-onnx's test resources, the
 * manifest and {@code memory.safetensors} (layers.1.infini.beta) are written here.
 */
final class TestModel {
    static final Path TINY = Path.of("../runtime-onnx/src/test/resources/models/tiny");
    static final int VOCAB = 16;

    private TestModel() {
    }

    static Path create(Path dir) {
        try {
            Path m = dir.resolve("model");
            Files.createDirectories(m);
            for (String f : new String[] {"embed.onnx", "head.onnx", "layer_0_pre.onnx", "layer_0_post.onnx", "layer_1_pre.onnx",
                    "layer_1_post.onnx"}) {
                Files.copy(TINY.resolve(f), m.resolve(f));
            }
            String manifest = Files.readString(TINY.resolve("engram.json"))
                    .replace("\"name\": \"tiny\"", "\"name\": \"tiny-infini\"")
                    .replace("\"provider\": \"gate-memory\"", "\"provider\": \"infini\", \"update\": \"delta\"");
            if (!manifest.contains("infini")) {
                throw new IllegalStateException("the tiny manifest changed; update TestModel");
            }
            Files.writeString(m.resolve("engram.json"), manifest);
            Files.write(m.resolve("memory.safetensors"), safetensors("layers.1.infini.beta", new float[] {0.5f, -0.25f}));
            return m;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The 16 words of {@link #withTokenizer}'s WordLevel tokenizer, id = index. */
    static final String[] WORDS = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "the", "key", "is", "what", ".", "<unk>"};

    /**
     * The same model with a Hugging Face {@code tokenizer.json} (WordLevel over {@link #WORDS}, split on
     * whitespace, no decoder: ids decode to their words joined by single spaces).
     */
    static Path withTokenizer(Path dir) {
        Path m = create(dir);
        try {
            StringBuilder vocab = new StringBuilder();
            for (int i = 0; i < WORDS.length; i++) {
                vocab.append(i == 0 ? "" : ", ").append('"').append(WORDS[i]).append("\": ").append(i);
            }
            Files.writeString(m.resolve("tokenizer.json"), "{\"version\": \"1.0\", \"added_tokens\": [], \"normalizer\": null, "
                    + "\"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}, \"post_processor\": null, \"decoder\": null, "
                    + "\"model\": {\"type\": \"WordLevel\", \"vocab\": {" + vocab + "}, \"unk_token\": \"<unk>\"}}");
            String manifest = Files.readString(m.resolve("engram.json"));
            String withFile = manifest.replace("\"files\": {", "\"files\": {\"tokenizer\": \"tokenizer.json\", ");
            if (withFile.equals(manifest)) {
                throw new IllegalStateException("the tiny manifest has no \"files\": { to extend; update TestModel");
            }
            Files.writeString(m.resolve("engram.json"), withFile);
            return m;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] safetensors(String name, float[] values) {
        String header = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + values.length + "],\"data_offsets\":[0,"
                + 4 * values.length + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    /** Text as the documented byte fallback tokenizes it: UTF-8 bytes mod vocabulary size (computed here independently). */
    static int[] bytesModVocab(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            ids[i] = Byte.toUnsignedInt(b[i]) % VOCAB;
        }
        return ids;
    }

    /** Sampled reference straight on the runtime (temperature, top-p 1, seed). */
    static int[] sampled(Path model, int maxTokens, int[] prompt, double temperature, long seed) {
        try (Engine e = new EngineLoader().systemOverrides(false).load(model)) {
            return e.generate(e.newSequence(), prompt, GenerationParams.sampled(maxTokens, temperature, 1, seed), null);
        }
    }

    /** Greedy reference straight on the runtime: ingest each context piece, then generate. */
    static int[] greedy(Path model, int maxTokens, int[] prompt, int[]... context) {
        try (Engine e = new EngineLoader().systemOverrides(false).load(model)) {
            ModelSequence s = e.newSequence();
            for (int[] c : context) {
                e.ingest(s, c);
            }
            return e.generate(s, prompt, GenerationParams.greedy(maxTokens), null);
        }
    }
}
