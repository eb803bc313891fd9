package dev.engram.runtime.model;

import dev.engram.api.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model package directory read from disk: the manifest, the paths of its graphs, and its memory
 * weights parsed from safetensors. {@link #read} collects problems instead of throwing, so that the
 * loader can report the graphs' and the configuration's problems in the same list.
 */
public final class ModelPackage {

    private final Path directory;
    private final ModelManifest manifest;
    /** layer -> provider -> weight name -> tensor */
    private final Map<Integer, Map<String, Map<String, Tensor>>> weights;
    private final boolean refusedPaths;

    private ModelPackage(Path directory, ModelManifest manifest, Map<Integer, Map<String, Map<String, Tensor>>> weights,
                         boolean refusedPaths) {
        this.directory = directory;
        this.manifest = manifest;
        this.weights = weights;
        this.refusedPaths = refusedPaths;
    }

    /**
     * Reads {@code directory}; returns null when the manifest itself is unusable. Every problem found
     * (manifest fields, missing files, safetensors) is added to {@code problems}, each naming the file and field.
     */
    public static ModelPackage read(Path directory, List<String> problems) {
        if (!Files.isDirectory(directory)) {
            problems.add(directory + ": is not a directory; a model package is a directory with " + ModelManifest.FILE_NAME);
            return null;
        }
        Path manifestFile = directory.resolve(ModelManifest.FILE_NAME);
        if (!Files.isRegularFile(manifestFile)) {
            problems.add(ModelManifest.FILE_NAME + ": is missing from " + directory);
            return null;
        }
        ModelManifest manifest = ModelManifest.read(manifestFile, problems);
        if (manifest == null) {
            return null;
        }
        ModelManifest.PackageFiles f = manifest.files();
        // Every path is checked before any file is read: a refused one (outside the package) stops the load
        // before the tokenizer, the weights or ONNX Runtime open anything (refusedPaths()).
        boolean refused = false;
        List<String> names = new ArrayList<>(List.of(nullToEmpty(f.embedding()), nullToEmpty(f.head())));
        f.layers().forEach(l -> {
            names.add(nullToEmpty(l.pre()));
            names.add(nullToEmpty(l.post()));
        });
        f.tokenizer().ifPresent(names::add);
        f.tokenizerConfig().ifPresent(names::add);
        if (f.weights() != null) {
            names.add(f.weights());
        }
        for (String n : names) {
            refused |= !inside(directory, n);
        }
        exists(directory, f.embedding(), "files.embedding", problems);
        exists(directory, f.head(), "files.head", problems);
        for (int i = 0; i < f.layers().size(); i++) {
            exists(directory, f.layers().get(i).pre(), "files.layers[" + i + "].pre", problems);
            exists(directory, f.layers().get(i).post(), "files.layers[" + i + "].post", problems);
        }
        f.tokenizer().ifPresent(t -> exists(directory, t, "files.tokenizer", problems));
        f.tokenizerConfig().ifPresent(t -> exists(directory, t, "files.tokenizerConfig", problems));
        Map<Integer, Map<String, Map<String, Tensor>>> weights = new LinkedHashMap<>();
        if (!refused && f.weights() != null && exists(directory, f.weights(), "files.weights", problems)) {
            Map<String, Tensor> all = SafeTensors.read(directory.resolve(f.weights()), f.weights(), problems);
            for (Map.Entry<String, Tensor> e : all.entrySet()) {
                WeightKey key = WeightKey.parse(e.getKey()).orElse(null);
                if (key == null) {
                    problems.add(f.weights() + ": tensor '" + e.getKey() + "' is not named " + WeightKey.FORM);
                    continue;
                }
                int layer = key.layer();
                if (layer >= manifest.architecture().layers()) {
                    problems.add(f.weights() + ": tensor '" + e.getKey() + "' names layer " + layer + "; the model has layers 0 to "
                            + (manifest.architecture().layers() - 1));
                    continue;
                }
                weights.computeIfAbsent(layer, k -> new LinkedHashMap<>())
                        .computeIfAbsent(key.provider(), k -> new LinkedHashMap<>()).put(key.weight(), e.getValue());
            }
        }
        return new ModelPackage(directory, manifest, weights, refused);
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }

    private static boolean inside(Path dir, String name) {
        return dir.resolve(name).normalize().startsWith(dir.normalize());
    }

    /**
     * Whether the manifest names a file outside the package (reported in the problems). Such a package must not be
     * opened any further: nothing it names is read, not even to report more problems.
     */
    public boolean refusedPaths() {
        return refusedPaths;
    }

    private static boolean exists(Path dir, String name, String field, List<String> problems) {
        if (name == null) {
            return false; // the manifest check reported it
        }
        Path p = dir.resolve(name).normalize();
        if (!inside(dir, name)) {
            problems.add(ModelManifest.FILE_NAME + ": '" + field + "' is '" + name + "'; valid: a path inside the package directory");
            return false;
        }
        if (!Files.isRegularFile(p)) {
            problems.add(name + ": is missing (named by " + ModelManifest.FILE_NAME + " '" + field + "')");
            return false;
        }
        return true;
    }

    public Path directory() {
        return directory;
    }

    public ModelManifest manifest() {
        return manifest;
    }

    public Path resolve(String file) {
        return directory.resolve(file);
    }

    /** The Hugging Face tokenizer_config.json (chat template, special tokens), when the manifest names one. */
    public Optional<Path> tokenizerConfig() {
        return manifest.files().tokenizerConfig().map(directory::resolve);
    }

    public Optional<Path> tokenizer() {
        return manifest.files().tokenizer().map(directory::resolve);
    }

    /** Weights by (layer, provider), from the keys {@code layers.{layer}.{provider}.{weight}}. */
    public WeightSource weightSource() {
        return (layer, provider) -> weights.getOrDefault(layer, Map.of()).getOrDefault(provider, Map.of());
    }

    /** Name of the weights file, for messages ("memory.safetensors", or "(no weights file)"). */
    public String weightsFileName() {
        return manifest.files().weights() == null ? "(no weights file)" : manifest.files().weights();
    }

    /** Every weight name the package holds, for {@code engram inspect}. */
    public List<String> weightNames() {
        List<String> names = new ArrayList<>();
        weights.forEach((l, byProvider) -> byProvider.forEach((p, byName) -> byName.keySet()
                .forEach(n -> names.add(WeightKey.of(l, p, n)))));
        return names;
    }
}
