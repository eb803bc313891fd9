package dev.engram.spi;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.LayerSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.MalformedURLException;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * Plugin folders built the way a third party builds a jar: sources compiled with javac against this
 * module's classes, plus a {@code META-INF/services} file, then loaded through a {@link URLClassLoader}.
 * Deleting a class file afterwards, or compiling against a stand-in for an older SPI, makes the
 * "built against another Engram" failures real ones.
 */
final class PluginDirs {
    private PluginDirs() {
    }

    /** A complete memory provider {@code pkg.cls} named {@code name}, reporting {@code spiVersion}, optionally extending {@code superclass}. */
    static String memoryProvider(String pkg, String cls, String name, int spiVersion, String superclass) {
        return "package " + pkg + ";\n"
                + "import dev.engram.api.*;\nimport dev.engram.spi.*;\nimport java.util.List;\n"
                + "public class " + cls + (superclass == null ? "" : " extends " + superclass) + " implements LongTermMemoryProvider {\n"
                + "  public String name() { return \"" + name + "\"; }\n"
                + "  public int spiVersion() { return " + spiVersion + "; }\n"
                + "  public int stateVersion() { return 1; }\n"
                + "  public ConfigSchema configSchema() { return ConfigSchema.of(); }\n"
                + "  public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) { return List.of(); }\n"
                + "  public boolean supports(Capability c, ProviderConfig config) { return false; }\n"
                + "  public LongTermMemory create(LayerContext context) { throw new UnsupportedOperationException(); }\n"
                + "}\n";
    }

    /** Compiles {@code sources} (class name -> source) into {@code dir}, against api + memory-spi if {@code againstEngram}. */
    static void compile(Path dir, Map<String, String> sources, boolean againstEngram) {
        try {
            Path src = Files.createTempDirectory(dir.getParent(), "src");
            List<String> args = new ArrayList<>(List.of("-d", dir.toString(), "-proc:none", "-Xlint:none"));
            if (againstEngram) {
                args.addAll(List.of("-classpath", location(LayerSpec.class) + java.io.File.pathSeparator + location(Provider.class)));
            }
            for (Map.Entry<String, String> e : sources.entrySet()) {
                Path file = src.resolve(e.getKey().replace('.', '/') + ".java");
                Files.createDirectories(file.getParent());
                Files.writeString(file, e.getValue());
                args.add(file.toString());
            }
            JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int rc = javac.run(null, err, err, args.toArray(String[]::new));
            assertTrue(rc == 0, "javac failed: " + err.toString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes {@code META-INF/services/<kind>} in {@code dir} listing {@code classes}. */
    static void register(Path dir, Class<?> kind, String... classes) {
        try {
            Path file = dir.resolve("META-INF/services/" + kind.getName());
            Files.createDirectories(file.getParent());
            Files.writeString(file, "# written by PluginDirs\n" + String.join("\n", classes) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static URLClassLoader loader(Path... dirs) {
        URL[] urls = new URL[dirs.length];
        try {
            for (int i = 0; i < dirs.length; i++) {
                urls[i] = dirs[i].toUri().toURL();
            }
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
        return new URLClassLoader(urls, PluginDirs.class.getClassLoader());
    }

    private static String location(Class<?> c) {
        try {
            return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
