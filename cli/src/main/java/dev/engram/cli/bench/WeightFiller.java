package dev.engram.cli.bench;

import dev.engram.cli.strategy.MemoryStrategy;
import dev.engram.runtime.model.WeightKey;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.api.ConfigException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.runtime.model.SafeTensors;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.WeightSpec;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Gives a package the provider weights every benchmarked strategy needs: the package's own weights are kept,
 * each missing one (required or optional, so the PyTorch peer reads exactly what Engram uses) is drawn from a
 * seeded normal distribution (std 1/sqrt(last dim); gates, betas and biases 0). The result is a speed-test model:
 * random memory weights say nothing about quality.
 */
public final class WeightFiller {
    static final String FILE = "memory.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();

    private WeightFiller() {
    }

    /** The weight keys ({@link WeightKey} -> shape) that {@code strategies} need for this architecture. */
    public static Map<String, int[]> needed(ProviderRegistry registry, ModelManifest.Architecture arch,
                                            List<String> strategies, int segment) {
        Map<String, int[]> out = new TreeMap<>();
        LayerSpec spec = arch.layerSpec();
        for (String s : strategies) {
            Map<String, Object> layer = MemoryStrategy.layer(s, segment);
            for (String kind : List.of("attention", "memory")) {
                if (!(layer.get(kind) instanceof Map<?, ?> section)) {
                    continue;
                }
                Map<String, Object> raw = new TreeMap<>();
                section.forEach((k, v) -> raw.put(String.valueOf(k), v));
                String name = String.valueOf(raw.remove("provider"));
                Provider p = kind.equals("attention") ? registry.attention(name) : registry.memory(name);
                List<WeightSpec> specs;
                try {
                    specs = p.weights(spec, p.configSchema().parse("strategy " + s, raw));
                } catch (ConfigException e) {
                    continue; // the run of this strategy reports the problem
                }
                for (int l = 0; l < arch.layers(); l++) {
                    for (WeightSpec w : specs) {
                        out.put(WeightKey.of(l, name, w.name()), w.shape());
                    }
                }
            }
        }
        return out;
    }

    /**
     * Returns a package directory with every weight in {@code needed}: {@code source} itself when nothing is
     * missing; otherwise {@code target} (a copy of {@code source}, or {@code source} itself when they are equal)
     * with the weights file rewritten.
     */
    public static Path fill(Path source, Path target, Map<String, int[]> needed, long seed) throws IOException {
        Path manifestFile = source.resolve(ModelManifest.FILE_NAME);
        List<String> problems = new ArrayList<>();
        ModelManifest m = ModelManifest.read(manifestFile, problems);
        if (m == null) {
            throw new ConfigException(manifestFile.toString(), problems);
        }
        String weightsName = m.files().weights();
        Map<String, Tensor> have = new TreeMap<>();
        if (weightsName != null && Files.exists(source.resolve(weightsName))) {
            have.putAll(SafeTensors.read(source.resolve(weightsName)));
        }
        Map<String, Tensor> all = new TreeMap<>(have);
        for (Map.Entry<String, int[]> e : needed.entrySet()) {
            Tensor t = all.get(e.getKey());
            if (t == null || !java.util.Arrays.equals(t.shape(), e.getValue())) {
                all.put(e.getKey(), random(e.getKey(), e.getValue(), seed));
            }
        }
        if (all.size() == have.size() && all.equals(have)) {
            return source;
        }
        if (!target.toAbsolutePath().normalize().equals(source.toAbsolutePath().normalize())) {
            copyTree(source, target);
        }
        String name = weightsName == null ? FILE : weightsName;
        write(target.resolve(name), all);
        if (weightsName == null) {
            ObjectNode root = (ObjectNode) JSON.readTree(Files.readString(manifestFile));
            ((ObjectNode) root.get("files")).put("weights", name);
            Files.writeString(target.resolve(ModelManifest.FILE_NAME), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        }
        return target;
    }

    static Tensor random(String key, int[] shape, long seed) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        float[] data = new float[n];
        String leaf = key.substring(key.lastIndexOf('.') + 1);
        boolean zero = leaf.equals("beta") || leaf.equals("gate") || leaf.equals("bias");
        if (!zero) {
            double std = 1.0 / Math.sqrt(shape.length == 0 ? 1 : Math.max(1, shape[shape.length - 1]));
            SplittableRandom r = new SplittableRandom(seed ^ key.hashCode());
            for (int i = 0; i < n; i++) {
                data[i] = (float) (gaussian(r) * std);
            }
        }
        return Tensor.of(data, shape);
    }

    private static double gaussian(SplittableRandom r) {
        double u = 1.0 - r.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    /** safetensors, F32, names sorted, header padded with spaces to 8 bytes. */
    static void write(Path file, Map<String, Tensor> tensors) throws IOException {
        Map<String, Object> header = new TreeMap<>();
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            long bytes = 4L * e.getValue().size();
            header.put(e.getKey(), Map.of("dtype", "F32", "shape", e.getValue().shape(), "data_offsets", new long[] {offset, offset + bytes}));
            offset += bytes;
        }
        byte[] h = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int pad = (8 - h.length % 8) % 8;
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp))) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length + pad);
            out.write(len.array());
            out.write(h);
            out.write(" ".repeat(pad).getBytes(StandardCharsets.US_ASCII));
            for (Tensor t : tensors.values()) {
                ByteBuffer b = ByteBuffer.allocate(4 * t.size()).order(ByteOrder.LITTLE_ENDIAN);
                float[] a = t.array();
                for (int i = 0; i < t.size(); i++) {
                    b.putFloat(a[t.offset() + i]);
                }
                out.write(b.array());
            }
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static void copyTree(Path source, Path target) throws IOException {
        try (Stream<Path> walk = Files.walk(source)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path dst = target.resolve(source.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(dst);
                } else {
                    Files.copy(p, dst, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
