package dev.engram.runtime.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibrariesTest {
    private static final String PREFIX = "ai/onnxruntime/native/linux-x64/";

    @TempDir
    Path tmp;

    private Path jar(String name, Map<String, String> files) throws IOException {
        Path jar = tmp.resolve(name);
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out)) {
            for (var e : files.entrySet()) {
                j.putNextEntry(new JarEntry(e.getKey()));
                j.write(e.getValue().getBytes(StandardCharsets.UTF_8));
                j.closeEntry();
            }
        }
        return jar;
    }

    private static String listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList().toString();
        }
    }

    @Test
    void extractsThePlatformsLibrariesOnceAndRepairsAnIncompleteCopy() throws IOException {
        Path jarPath = jar("ort.jar", Map.of(PREFIX + "libonnxruntime.so", "core library",
                PREFIX + "libonnxruntime4j_jni.so", "jni", PREFIX + "onnxruntime.pdb", "debug symbols",
                PREFIX + "sub/other.so", "not this folder", "ai/onnxruntime/native/osx-x64/libonnxruntime.dylib", "mac"));
        Path cache = tmp.resolve("cache");
        Path dir;
        try (JarFile jar = new JarFile(jarPath.toFile())) {
            dir = NativeLibraries.extract(jar, PREFIX, cache);
        }
        assertEquals("[libonnxruntime.so, libonnxruntime4j_jni.so]", listing(dir));
        assertArrayEquals("core library".getBytes(StandardCharsets.UTF_8), Files.readAllBytes(dir.resolve("libonnxruntime.so")));
        assertEquals("[" + dir.getFileName() + "]", listing(cache), "no staging folder left behind");

        // a second start reuses the copy: the file is not written again
        FileTime old = FileTime.from(Instant.parse("2020-01-01T00:00:00Z"));
        Files.setLastModifiedTime(dir.resolve("libonnxruntime.so"), old);
        try (JarFile jar = new JarFile(jarPath.toFile())) {
            assertEquals(dir, NativeLibraries.extract(jar, PREFIX, cache));
        }
        assertEquals(old, Files.getLastModifiedTime(dir.resolve("libonnxruntime.so")));

        // a truncated library (a start killed before this cache existed, a full disk) is replaced
        Files.writeString(dir.resolve("libonnxruntime4j_jni.so"), "j");
        try (JarFile jar = new JarFile(jarPath.toFile())) {
            assertEquals(dir, NativeLibraries.extract(jar, PREFIX, cache));
        }
        assertEquals("jni", Files.readString(dir.resolve("libonnxruntime4j_jni.so")));
    }

    @Test
    void aStagingFolderLeftByAKilledExtractionIsRemovedOnceStale() throws IOException {
        Path cache = Files.createDirectories(tmp.resolve("cache"));
        Path old = Files.createDirectory(cache.resolve(".extracting-123"));
        Files.writeString(old.resolve("libonnxruntime.so"), "half a library");
        Files.setLastModifiedTime(old, FileTime.from(Instant.now().minus(NativeLibraries.STALE_AFTER).minus(Duration.ofMinutes(1))));
        Path young = Files.createDirectory(cache.resolve(".extracting-456"));
        NativeLibraries.removeAbandonedStaging(cache, Instant.now());
        assertFalse(Files.exists(old));
        assertTrue(Files.exists(young), "a copy in progress");
    }

    @Test
    void anotherBuildOfTheLibrariesGetsItsOwnFolder() throws IOException {
        Path cache = tmp.resolve("cache");
        Path a;
        Path b;
        try (JarFile jar = new JarFile(jar("a.jar", Map.of(PREFIX + "libonnxruntime.so", "version 1")).toFile())) {
            a = NativeLibraries.extract(jar, PREFIX, cache);
        }
        try (JarFile jar = new JarFile(jar("b.jar", Map.of(PREFIX + "libonnxruntime.so", "version 2")).toFile())) {
            b = NativeLibraries.extract(jar, PREFIX, cache);
        }
        assertNotEquals(a, b);
        assertEquals("version 1", Files.readString(a.resolve("libonnxruntime.so")));
        assertEquals("version 2", Files.readString(b.resolve("libonnxruntime.so")));
    }

    @Test
    void removesAbandonedTemporaryFoldersOnly() throws IOException {
        Instant now = Instant.now();
        FileTime old = FileTime.from(now.minus(NativeLibraries.STALE_AFTER).minus(Duration.ofMinutes(1)));
        Path oldEmpty = Files.createDirectory(tmp.resolve("onnxruntime-java111"));
        Path freshEmpty = Files.createDirectory(tmp.resolve("onnxruntime-java222"));
        Path oldFull = Files.createDirectory(tmp.resolve("onnxruntime-java333"));
        Files.writeString(oldFull.resolve("libonnxruntime.so"), "left by a killed process");
        Path inUse = Files.createDirectory(tmp.resolve("onnxruntime-java444"));
        Path mappedLibrary = inUse.resolve("libonnxruntime.so");
        Files.writeString(mappedLibrary, "loaded by a running process");
        Path unrelated = Files.createDirectory(tmp.resolve("something-else"));
        for (Path p : new Path[] {oldEmpty, oldFull, inUse, unrelated}) {
            Files.setLastModifiedTime(p, old);
        }
        boolean procKnown = NativeLibraries.mappedFiles() != null;
        try (FileChannel ch = FileChannel.open(mappedLibrary, StandardOpenOption.READ)) {
            MappedByteBuffer mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()); // as a loaded .so is
            int removed = NativeLibraries.removeStale(tmp, now);
            assertTrue(mapped.get(0) == 'l');
            assertFalse(Files.exists(oldEmpty), "an old empty folder is ONNX Runtime's abandoned one");
            assertTrue(Files.exists(freshEmpty), "a young folder may belong to a start in progress");
            assertTrue(Files.exists(inUse), "a folder whose library a process maps is in use");
            assertTrue(Files.exists(unrelated), "only onnxruntime-java* folders are touched");
            assertEquals(!procKnown, Files.exists(oldFull), "an unmapped full folder goes where /proc tells");
            assertEquals(procKnown ? 2 : 1, removed);
        }
    }

    @Test
    void onnxRuntimeLoadsItsLibrariesFromTheCache() {
        OnnxGraphs.environment();
        String path = System.getProperty(NativeLibraries.ORT_NATIVE_PATH);
        assertTrue(path != null && Files.isRegularFile(Path.of(path, System.mapLibraryName("onnxruntime"))),
                "onnxruntime.native.path = " + path);
        String maps = NativeLibraries.mappedFiles();
        if (maps != null) {
            assertTrue(maps.contains(Path.of(path, System.mapLibraryName("onnxruntime")).toString()),
                    "the process maps the cached library, not a temporary copy");
        }
    }
}
