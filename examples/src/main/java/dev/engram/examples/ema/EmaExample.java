package dev.engram.examples.ema;

import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.api.Readout;
import dev.engram.api.Segment;
import dev.engram.api.Tensor;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.WeightSpec;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;

/**
 * Selects a memory provider BY NAME from a small config and runs a few random segments through it,
 * the way the runtime does for one layer: read, combine with the local attention output, write.
 *
 * <pre>
 *   EmaExample [CONFIG.properties] [key=value ...]
 * </pre>
 * Keys: {@code memory.provider} (default ema), {@code memory.<key>} for the provider's own config
 * (for ema: {@code memory.decay}), {@code segments} (default 4), {@code tokens} (default 8),
 * {@code seed} (default 1). A properties file keeps the example free of dependencies; Engram's own
 * config file is YAML with the same provider/keys structure (see examples/README.md).
 */
public final class EmaExample {
    private EmaExample() {
    }

    public static void main(String[] args) throws IOException {
        Properties settings = new Properties();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq > 0) {
                settings.setProperty(arg.substring(0, eq).trim(), arg.substring(eq + 1).trim());
            } else {
                try (Reader in = Files.newBufferedReader(Path.of(arg), StandardCharsets.UTF_8)) {
                    Properties file = new Properties();
                    file.load(in);
                    file.forEach((k, v) -> settings.putIfAbsent(k, v));
                }
            }
        }
        String name = settings.getProperty("memory.provider", EmaMemoryProvider.NAME);
        Map<String, Object> config = new LinkedHashMap<>();
        for (String key : settings.stringPropertyNames()) {
            if (key.startsWith("memory.") && !key.equals("memory.provider")) {
                config.put(key.substring("memory.".length()), settings.getProperty(key)); // strings: the typed keys parse them
            }
        }
        int segments = Integer.parseInt(settings.getProperty("segments", "4"));
        int tokens = Integer.parseInt(settings.getProperty("tokens", "8"));
        long seed = Long.parseLong(settings.getProperty("seed", "1"));

        // 1. Find the provider by name among every jar on the class path (META-INF/services).
        ProviderRegistry registry = ProviderRegistry.load();
        System.out.println("memory providers on the class path: " + registry.memoryNames());
        LongTermMemoryProvider provider = registry.memory(name);

        // 2. Weights: a real model ships them; here every declared weight gets small random values.
        LayerSpec spec = new LayerSpec(4, 2, 16, 16, 64);
        ProviderConfig parsed = provider.configSchema().parse("example config", config);
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, Tensor> weights = new LinkedHashMap<>();
        for (WeightSpec w : provider.weights(spec, parsed)) {
            weights.put(w.name(), randomTensor(random, w.shape()));
        }

        // 3. One memory per (sequence, layer); the registry validates config and weights first.
        LongTermMemory memory = registry.newMemory(name, 0, spec, config, weights);
        System.out.println("provider '" + name + "' config " + parsed + ", layer " + spec);

        long position = 0;
        for (int s = 0; s < segments; s++) {
            Tensor q = randomTensor(random, spec.heads(), tokens, spec.keyDim());
            Tensor k = randomTensor(random, spec.kvHeads(), tokens, spec.keyDim());
            Tensor v = randomTensor(random, spec.kvHeads(), tokens, spec.valueDim());
            Tensor h = randomTensor(random, tokens, spec.modelDim());
            Tensor local = randomTensor(random, spec.heads(), tokens, spec.valueDim());
            Segment segment = new Segment(position, q, k, v, h, null);

            Readout readout = memory.read(segment);          // only what earlier segments wrote
            Tensor out = memory.combine(local, readout);     // mixed with the local attention output
            double readNorm = switch (readout) {
                case Readout.PerHead p -> norm(p.values());
                case Readout.ModelSpace m -> norm(m.addend());
            };
            System.out.printf("segment %d: |memory readout| = %.4f  |output| = %.4f  |local| = %.4f%n",
                    s, readNorm, norm(out), norm(local));
            memory.write(segment);                           // then this segment goes into memory
            position += tokens;
        }
        System.out.println("state: " + memory.stateBytes() + " bytes; snapshot: " + memory.snapshot().toBytes().length + " bytes");
    }

    private static Tensor randomTensor(SplittableRandom random, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] a = t.array();
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return t;
    }

    private static double norm(Tensor t) {
        double sum = 0;
        for (float x : t.toArray()) {
            sum += (double) x * x;
        }
        return Math.sqrt(sum);
    }
}
