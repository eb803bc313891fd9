package dev.engram.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.engram.api.ConfigException;
import dev.engram.api.InvalidInputException;
import dev.engram.api.LayerSpec;
import dev.engram.api.Tensor;
import dev.engram.runtime.model.ModelManifest;
import dev.engram.runtime.model.SafeTensors;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.WeightSpec;
import dev.engram.runtime.model.WeightKey;
import dev.engram.conformance.SeededData;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "weights", mixinStandardHelpOptions = true,
        description = "Add a provider's initial weights to a model package, so that a config can give the package that"
                + " memory (or attention): every weight the provider declares for the package's layer shape, named"
                + " layers.{i}.{provider}.{weight} in the package's safetensors file. Weights already there are kept"
                + " (a different shape is an error); the file is replaced in one step.")
final class WeightsCommand implements Callable<Integer> {
    private static final Pattern RANGE = Pattern.compile("(\\d+)(?:-(\\d+))?");

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The model package (a folder with engram.json).")
    Path model;

    @Option(names = "--provider", required = true, paramLabel = "NAME", description = "The provider whose weights to add"
            + " (`engram providers` lists them with their weights).")
    String provider;

    @Option(names = "--layers", defaultValue = "all", paramLabel = "RANGE",
            description = "Layers to add them to: all, a layer (3) or a range (0-5) (default: ${DEFAULT-VALUE}).")
    String layers;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "A provider config value that changes the weights'"
            + " shapes (e.g. --set basis=128 for continuous); the same value must then be in the config that selects it.")
    List<String> settings = new ArrayList<>();

    @Option(names = "--init", defaultValue = "zeros", paramLabel = "zeros|random",
            description = "zeros (a zero gate is half open for sigmoid gates: train or set them), or random: the test kit's"
                    + " seeded normal values, to try the wiring (default: ${DEFAULT-VALUE}).")
    String init;

    @Option(names = "--seed", defaultValue = "1", description = "Seed for --init random (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--with-optional", description = "Also add the weights the provider can do without (e.g. lsh-knn's"
            + " rotations, else drawn from its seed). Off by default: a zero rotation would put every key in one bucket.")
    boolean withOptional;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (!init.equals("zeros") && !init.equals("random")) {
            throw InvalidInputException.outOfRange("--init", init, "zeros or random");
        }
        Path manifestFile = model.resolve(ModelManifest.FILE_NAME);
        if (!Files.isRegularFile(manifestFile)) {
            throw new ConfigException(model + ": not a model package (no " + ModelManifest.FILE_NAME + ")");
        }
        List<String> problems = new ArrayList<>();
        ModelManifest manifest = ModelManifest.read(manifestFile, problems);
        if (manifest == null || !problems.isEmpty()) {
            throw new ConfigException(manifestFile.toString(), problems);
        }
        int layerCount = manifest.architecture().layers();
        int[] range = range(layers, layerCount);
        Provider p = dev.engram.runtime.EngineFactory.create().registry().any(provider);
        Map<String, Object> raw = new LinkedHashMap<>();
        for (String s : settings) {
            int eq = s.indexOf('=');
            if (eq <= 0) {
                throw InvalidInputException.outOfRange("--set", s, "KEY=VALUE");
            }
            raw.put(s.substring(0, eq), s.substring(eq + 1));
        }
        ProviderConfig config = p.configSchema().parse("--set for '" + provider + "'", raw);
        LayerSpec layer = manifest.architecture().layerSpec();
        List<WeightSpec> specs = p.weights(layer, config);

        String fileName = manifest.files().weights() == null ? "memory.safetensors" : manifest.files().weights();
        Path file = model.resolve(fileName);
        Map<String, Tensor> tensors = new LinkedHashMap<>(Files.isRegularFile(file) ? SafeTensors.read(file) : Map.of());
        List<String> added = new ArrayList<>();
        List<String> kept = new ArrayList<>();
        for (int i = range[0]; i <= range[1]; i++) {
            Map<String, Tensor> initial = init.equals("random") ? SeededData.weights(specs, seed + 1_000_003L * i) : Map.of();
            for (WeightSpec w : specs) {
                if (!w.required() && !withOptional) {
                    continue;
                }
                String name = WeightKey.of(i, provider, w.name());
                Tensor existing = tensors.get(name);
                if (existing != null) {
                    if (!Arrays.equals(existing.shape(), w.shape())) {
                        throw new ConfigException(file + ": weight '" + name + "' has shape " + Arrays.toString(existing.shape())
                                + "; '" + provider + "' needs " + Arrays.toString(w.shape()) + " for this package's layers"
                                + " (heads " + layer.heads() + ", kvHeads " + layer.kvHeads() + ", head dims " + layer.keyDim()
                                + "/" + layer.valueDim() + "); nothing was written");
                    }
                    kept.add(name);
                    continue;
                }
                tensors.put(name, init.equals("random") ? initial.get(w.name()) : Tensor.zeros(w.shape()));
                added.add(name + " " + Arrays.toString(w.shape()));
            }
        }
        if (!added.isEmpty()) {
            SafeTensors.write(file, tensors);
            if (manifest.files().weights() == null) {
                addWeightsFile(manifestFile, fileName);
            }
        }
        String which = range[0] == range[1] ? "layer " + range[0] : "layers " + range[0] + "-" + range[1];
        out.printf("%s: added %d weights for '%s' on %s%s; kept %d already there%n", file, added.size(), provider, which,
                added.isEmpty() ? "" : " (" + String.join(", ", added) + ")", kept.size());
        if (specs.isEmpty()) {
            out.printf("'%s' declares no weights for this package's layer shape: nothing to add%n", provider);
        }
        out.printf("select it with a config, e.g.  layers: {default: {%s: {provider: %s}}}  and --config FILE%n",
                p instanceof dev.engram.spi.AttentionProvider ? "attention" : "memory", provider);
        out.flush();
        return 0;
    }

    private static int[] range(String text, int layerCount) {
        if (text.equals("all")) {
            return new int[] {0, layerCount - 1};
        }
        Matcher m = RANGE.matcher(text.trim());
        long from = -1;
        long to = -1;
        if (m.matches() && m.group(1).length() < 10 && (m.group(2) == null || m.group(2).length() < 10)) {
            from = Long.parseLong(m.group(1));
            to = m.group(2) == null ? from : Long.parseLong(m.group(2));
        }
        if (from < 0 || from > to || to >= layerCount) {
            throw InvalidInputException.outOfRange("--layers", text, "all, a layer or a range (low-high) within 0-" + (layerCount - 1));
        }
        return new int[] {(int) from, (int) to};
    }

    /** Names the new weights file in engram.json (replaced in one step; JSON comments in it are not kept). */
    private static void addWeightsFile(Path manifestFile, String fileName) throws IOException {
        ObjectMapper json = new ObjectMapper().enable(JsonParser.Feature.ALLOW_COMMENTS).enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = (ObjectNode) json.readTree(manifestFile.toFile());
        ((ObjectNode) root.get("files")).put("weights", fileName);
        Path tmp = Files.createTempFile(manifestFile.toAbsolutePath().getParent(), ".engram", ".json.tmp");
        try {
            json.writeValue(tmp.toFile(), root);
            Files.move(tmp, manifestFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | UncheckedIOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }
}
