package dev.engram.cli;

import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.ProviderRegistry;
import dev.engram.spi.WeightSpec;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "providers", mixinStandardHelpOptions = true,
        description = "List the attention and memory providers on the class path: where each comes from (jar, version),"
                + " its configuration keys with defaults, its capabilities and weights (with default config), and any plugin"
                + " that failed to load, with the reason. Plugins reach ./engram through ENGRAM_PLUGINS (folders of jars"
                + " or classes, or jars).")
final class ProvidersCommand implements Runnable {
    /** The shape the weight list is shown for: weight shapes depend on the layer. */
    static final LayerSpec EXAMPLE_LAYER = new LayerSpec(4, 4, 16, 16, 64);

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        // the registry every engine is built with (EngramModule: the context loader), so what an embedding application put there is listed too
        ProviderRegistry registry = dev.engram.runtime.EngineFactory.create().registry();
        print(out, "attention", registry.attentionNames().stream().map(n -> (Provider) registry.attention(n)).toList());
        print(out, "memory", registry.memoryNames().stream().map(n -> (Provider) registry.memory(n)).toList());
        for (ProviderRegistry.BrokenPlugin b : registry.broken()) {
            out.printf("broken %s  (%s)%n    %s%n", b.name() == null ? "?" : b.name(), b.what(), b.problem());
        }
        out.flush();
    }

    private static void print(PrintWriter out, String kind, List<Provider> providers) {
        for (Provider p : providers) {
            out.printf("%s %s  (%s, %s)%n", kind, p.name(), p.getClass().getName(), origin(p.getClass()));
            for (ConfigKey<?> k : p.configSchema().keys()) {
                Object shown = k.defaultValue() instanceof Enum<?> e ? e.name().toLowerCase(Locale.ROOT) : k.defaultValue();
                out.printf("    %-12s default %-16s valid: %s%s%n", k.name(), shown, k.valid(),
                        k.description().isEmpty() ? "" : "  - " + k.description());
            }
            ProviderConfig defaults = p.configSchema().defaults();
            List<String> caps = new ArrayList<>();
            try {
                for (Capability c : Capability.values()) {
                    if (ProviderRegistry.declares(p, c, defaults)) {
                        caps.add(c.name().toLowerCase(Locale.ROOT));
                    }
                }
                out.printf("    capabilities: %s%n", caps.isEmpty() ? "none" : String.join(", ", caps));
            } catch (RuntimeException e) {
                out.printf("    capabilities: not listed (%s)%n", e.getMessage());
            }
            List<String> weights = new ArrayList<>();
            try {
                for (WeightSpec w : p.weights(EXAMPLE_LAYER, defaults)) {
                    weights.add(w.name() + " " + Arrays.toString(w.shape()) + (w.required() ? "" : " (optional)"));
                }
                out.printf("    weights (heads 4, kvHeads 4, head dims 16, model dim 64; in a package layers.{i}.%s.NAME): %s%n",
                        p.name(), weights.isEmpty() ? "none" : String.join(", ", weights));
            } catch (RuntimeException e) {
                out.printf("    weights: not listed for the example layer (%s)%n", e.getMessage());
            }
        }
    }

    /** "jar NAME VERSION" or "classes DIR": where a provider class was loaded from. */
    static String origin(Class<?> c) {
        CodeSource source = c.getProtectionDomain().getCodeSource();
        String version = c.getPackage() == null ? null : c.getPackage().getImplementationVersion();
        if (source == null || source.getLocation() == null) {
            return "built in";
        }
        try {
            Path path = Path.of(source.getLocation().toURI());
            String name = path.getFileName() == null ? path.toString() : path.getFileName().toString();
            if (name.endsWith(".jar")) {
                return "jar " + name + (version != null ? ", version " + version : "");
            }
            return "classes " + path + (version != null ? ", version " + version : "");
        } catch (URISyntaxException | IllegalArgumentException e) {
            return source.getLocation().toString();
        }
    }
}
