package dev.engram.runtime.onnx;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * Where ONNX Runtime's native libraries come from.
 *
 * <p>Left alone, ONNX Runtime's Java binding copies its shared libraries (about 20 MB) into a new
 * {@code onnxruntime-java*} folder in the temporary directory at every start and deletes it only when the JVM exits
 * normally; a killed process leaves the folder behind, and a day of use left dozens. Instead, the libraries of the
 * jar on the class path are extracted once into a cache folder named after their content, and ONNX Runtime is told
 * to load them from there ({@code onnxruntime.native.path}). ONNX Runtime still makes its own temporary folder at
 * start, but leaves it empty; {@link #removeStale} deletes such folders (and full ones from before this cache) once
 * no running process maps them.
 *
 * <p>Cache: {@code -Dengram.nativeCache=DIR}, else {@code $XDG_CACHE_HOME/engram/native}, else
 * {@code ~/.cache/engram/native}. A user who sets {@code onnxruntime.native.path} keeps it. Where the cache cannot
 * be written, ONNX Runtime's own extraction runs as before, after one warning.
 */
public final class NativeLibraries {
    private static final System.Logger LOG = System.getLogger(NativeLibraries.class.getName());
    static final String ORT_NATIVE_PATH = "onnxruntime.native.path";
    static final String CACHE_PROPERTY = "engram.nativeCache";
    static final String ORT_TEMP_PREFIX = "onnxruntime-java";
    /** ONNX Runtime makes its folder and fills it within its start-up; an older empty one is abandoned. */
    static final Duration STALE_AFTER = Duration.ofMinutes(10);

    private static boolean prepared;

    private NativeLibraries() {
    }

    /** Points ONNX Runtime at the cached libraries; call before any ONNX Runtime class is used. Idempotent. */
    public static synchronized void prepare() {
        if (prepared) {
            return;
        }
        prepared = true;
        if (System.getProperty(ORT_NATIVE_PATH) != null) {
            return;
        }
        try {
            String platform = platform();
            Path dir;
            try (JarFile jar = ortJar(platform)) {
                if (jar == null) {
                    return; // libraries come from java.library.path or an exploded class path: nothing to copy
                }
                dir = extract(jar, "ai/onnxruntime/native/" + platform + "/", cacheRoot());
            }
            System.setProperty(ORT_NATIVE_PATH, dir.toString());
            removeStale(Path.of(System.getProperty("java.io.tmpdir")), Instant.now());
        } catch (IOException | UncheckedIOException | IllegalStateException e) {
            LOG.log(System.Logger.Level.WARNING, "ONNX Runtime's native libraries are not cached (" + e.getMessage()
                    + "); ONNX Runtime extracts them to a temporary folder at each start. Set -D" + CACHE_PROPERTY
                    + "=DIR to a writable folder");
        }
    }

    static Path cacheRoot() {
        String configured = System.getProperty(CACHE_PROPERTY);
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("engram").resolve("native");
    }

    /** ONNX Runtime's name for this OS and architecture (the folder inside its jar). */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.contains("mac") || os.contains("darwin") ? "osx" : os.contains("win") ? "win" : "linux";
        String a = arch.startsWith("amd64") || arch.startsWith("x86_64") ? "x64" : arch;
        return o + "-" + a;
    }

    private static JarFile ortJar(String platform) throws IOException {
        String library = System.mapLibraryName("onnxruntime");
        URL url = NativeLibraries.class.getClassLoader()
                .getResource("ai/onnxruntime/native/" + platform + "/" + library);
        if (url == null || !"jar".equals(url.getProtocol())) {
            return null;
        }
        JarURLConnection connection = (JarURLConnection) url.openConnection();
        connection.setUseCaches(false);
        return connection.getJarFile();
    }

    /**
     * Copies the files under {@code prefix} in {@code jar} into {@code cacheRoot/onnxruntime-<digest>} unless that
     * folder is already complete, and returns the folder. The digest covers each file's name, size and CRC, so
     * another ONNX Runtime version or build gets its own folder. The copy is made in a private folder and moved
     * into place in one step, so a concurrent or killed start never sees half a library.
     */
    static Path extract(JarFile jar, String prefix, Path cacheRoot) throws IOException {
        List<JarEntry> entries = new ArrayList<>();
        jar.stream().filter(e -> !e.isDirectory() && e.getName().startsWith(prefix)
                        && e.getName().indexOf('/', prefix.length()) < 0 && !e.getName().endsWith(".pdb"))
                .forEach(entries::add);
        if (entries.isEmpty()) {
            throw new IllegalStateException(jar.getName() + " has no files under " + prefix);
        }
        Path target = cacheRoot.resolve("onnxruntime-" + digest(entries, prefix));
        if (complete(target, entries, prefix)) {
            return target;
        }
        Files.createDirectories(cacheRoot);
        removeAbandonedStaging(cacheRoot, Instant.now());
        Path staging = Files.createTempDirectory(cacheRoot, ".extracting-");
        try {
            for (JarEntry e : entries) {
                try (InputStream in = jar.getInputStream(e)) {
                    Files.copy(in, staging.resolve(e.getName().substring(prefix.length())));
                }
            }
            if (complete(target, entries, prefix)) {
                return target; // another start finished its copy while this one was copying
            }
            if (Files.exists(target)) {
                deleteTree(target); // incomplete: a file was truncated or removed
            }
            try {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileSystemException raced) { // another start moved its copy in first
                if (!complete(target, entries, prefix)) {
                    throw raced;
                }
            }
        } finally {
            if (Files.exists(staging)) {
                deleteTree(staging);
            }
        }
        return target;
    }

    /** Staging folders of extractions killed before their move: older than {@link #STALE_AFTER}, no start is still copying. */
    static void removeAbandonedStaging(Path cacheRoot, Instant now) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(cacheRoot, ".extracting-*")) {
            for (Path p : s) {
                if (Files.getLastModifiedTime(p).toInstant().isBefore(now.minus(STALE_AFTER))) {
                    deleteTree(p);
                }
            }
        } catch (IOException | UncheckedIOException ignored) {
            // another start is cleaning up too, or the cache is not ours to clean
        }
    }

    private static boolean complete(Path dir, List<JarEntry> entries, String prefix) throws IOException {
        for (JarEntry e : entries) {
            Path f = dir.resolve(e.getName().substring(prefix.length()));
            if (!Files.isRegularFile(f) || Files.size(f) != e.getSize()) {
                return false;
            }
        }
        return true;
    }

    private static String digest(List<JarEntry> entries, String prefix) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (JarEntry e : entries) {
                String line = e.getName().substring(prefix.length()) + ' ' + e.getSize() + ' ' + e.getCrc() + '\n';
                sha.update(line.getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Deletes the {@code onnxruntime-java*} folders in {@code tmp} that no running process needs: older than
     * {@link #STALE_AFTER}, and either empty or (where /proc shows what processes map) mapped by none. Returns how
     * many were deleted. Errors are ignored: another process may be deleting the same folder.
     */
    static int removeStale(Path tmp, Instant now) {
        List<Path> candidates = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(tmp, ORT_TEMP_PREFIX + "*")) {
            for (Path p : s) {
                if (Files.isDirectory(p) && Files.getLastModifiedTime(p).toInstant().isBefore(now.minus(STALE_AFTER))) {
                    candidates.add(p);
                }
            }
        } catch (IOException | UncheckedIOException e) {
            return 0;
        }
        if (candidates.isEmpty()) {
            return 0;
        }
        String mapped = mappedFiles();
        int removed = 0;
        for (Path p : candidates) {
            boolean empty = isEmpty(p);
            boolean inUse = mapped == null ? !empty : mapped.contains(p.toAbsolutePath().toString());
            if (!inUse) {
                try {
                    deleteTree(p);
                    removed++;
                } catch (IOException | UncheckedIOException ignored) {
                    // another process got there first, or the folder is not ours to delete
                }
            }
        }
        return removed;
    }

    private static boolean isEmpty(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException | UncheckedIOException e) {
            return false;
        }
    }

    /** The files mapped by every process this user can see (Linux /proc/PID/maps), or null where unknown. */
    static String mappedFiles() {
        Path proc = Path.of("/proc");
        if (!Files.isReadable(proc.resolve("self").resolve("maps"))) {
            return null;
        }
        StringBuilder all = new StringBuilder();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(proc, "[0-9]*")) {
            for (Path pid : s) {
                try {
                    all.append(Files.readString(pid.resolve("maps"), StandardCharsets.ISO_8859_1));
                } catch (IOException | UncheckedIOException ignored) {
                    // a process that ended, or one we may not read: a process we may not read cannot use our folder
                }
            }
        } catch (IOException | UncheckedIOException e) {
            return null;
        }
        return all.toString();
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
