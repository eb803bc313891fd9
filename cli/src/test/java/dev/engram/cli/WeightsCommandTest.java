package dev.engram.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.engram.api.Tensor;
import dev.engram.runtime.model.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** engram weights on a copy of the bundled window model (2 layers, 4 heads, head dims 16, no provider weights). */
class WeightsCommandTest {
    private static final Path WINDOW_MODEL = Path.of("..", "models", "passkey-window");

    @TempDir
    Path dir;

    private Path copyOfWindowModel() throws IOException {
        Path pkg = dir.resolve("pkg");
        Files.createDirectories(pkg);
        try (Stream<Path> files = Files.list(WINDOW_MODEL)) {
            for (Path f : files.toList()) {
                Files.copy(f, pkg.resolve(f.getFileName()));
            }
        }
        return pkg;
    }

    @Test
    void addsEveryDeclaredWeightOnceAndTheMemoryThenLoadsFromAConfig() throws IOException {
        Path pkg = copyOfWindowModel();
        CliRun add = CliRun.of("weights", "--model", pkg.toString(), "--provider", "infini");
        assertEquals(0, add.exit(), add.all());
        assertTrue(add.out().contains("added 2 weights for 'infini' on layers 0-1 (layers.0.infini.beta [4], layers.1.infini.beta [4]);"
                + " kept 0 already there"), add.out());
        // infini's gate is beta [H] (docs/schemes.md); the package has 4 heads
        Map<String, Tensor> w = SafeTensors.read(pkg.resolve("memory.safetensors"));
        assertEquals(2, w.size(), w.keySet().toString());
        assertArrayEquals(new int[] {4}, w.get("layers.1.infini.beta").shape());
        assertArrayEquals(new float[4], w.get("layers.1.infini.beta").toArray());

        CliRun again = CliRun.of("weights", "--model", pkg.toString(), "--provider", "infini", "--layers", "1");
        assertTrue(again.out().contains("added 0 weights for 'infini' on layer 1; kept 1 already there"), again.out());

        Path config = dir.resolve("infini.yaml");
        Files.writeString(config, "layers: {default: {memory: {provider: infini}}}\n");
        CliRun run = CliRun.of("run", "--model", pkg.toString(), "--config", config.toString(), "--tokens", "10,15,16,17,18");
        assertEquals(0, run.exit(), run.all());
        assertTrue(run.out().contains("ingested 5 tokens"), run.all());
    }

    @Test
    void randomValuesAreSeededAndAShapeClashWritesNothing() throws IOException {
        Path pkg = copyOfWindowModel();
        // by default only the required gate: lsh-knn draws its rotations from its seed, and zero rotations would hash
        // every key into one bucket
        Path gateOnly = dir.resolve("gate-only");
        Files.createDirectories(gateOnly);
        for (Path f : Files.list(pkg).toList()) {
            Files.copy(f, gateOnly.resolve(f.getFileName()));
        }
        assertEquals(0, CliRun.of("weights", "--model", gateOnly.toString(), "--provider", "lsh-knn").exit());
        assertEquals(java.util.Set.of("layers.0.lsh-knn.gate", "layers.1.lsh-knn.gate"),
                SafeTensors.read(gateOnly.resolve("memory.safetensors")).keySet());

        assertEquals(0, CliRun.of("weights", "--model", pkg.toString(), "--provider", "lsh-knn", "--init", "random",
                "--seed", "7", "--layers", "0", "--with-optional").exit());
        Map<String, Tensor> first = SafeTensors.read(pkg.resolve("memory.safetensors"));
        Path other = dir.resolve("other");
        Files.createDirectories(other);
        Path pkg2 = Files.move(pkg, other.resolve("pkg"));
        Path fresh = copyOfWindowModel();
        assertEquals(0, CliRun.of("weights", "--model", fresh.toString(), "--provider", "lsh-knn", "--init", "random",
                "--seed", "7", "--layers", "0", "--with-optional").exit());
        Map<String, Tensor> second = SafeTensors.read(fresh.resolve("memory.safetensors"));
        assertEquals(first.keySet(), second.keySet());
        first.forEach((k, t) -> assertTrue(t.bitEquals(second.get(k)), k + ": the same seed gives the same values"));

        byte[] before = Files.readAllBytes(pkg2.resolve("memory.safetensors"));
        CliRun clash = CliRun.of("weights", "--model", pkg2.toString(), "--provider", "lsh-knn", "--set", "buckets=32",
                "--layers", "0", "--with-optional");
        assertEquals(2, clash.exit(), clash.all());
        assertTrue(clash.err().contains("has shape") && clash.err().contains("nothing was written"), clash.all());
        assertArrayEquals(before, Files.readAllBytes(pkg2.resolve("memory.safetensors")));
    }

    @Test
    void badArgumentsAreOneLineNamingTheOption() throws IOException {
        Path pkg = copyOfWindowModel();
        CliRun layers = CliRun.of("weights", "--model", pkg.toString(), "--provider", "infini", "--layers", "1-5");
        assertEquals(2, layers.exit(), layers.all());
        assertTrue(layers.err().contains("--layers") && layers.err().contains("0-1"), layers.all());
        CliRun huge = CliRun.of("weights", "--model", pkg.toString(), "--provider", "infini", "--layers", "99999999999");
        assertEquals(2, huge.exit(), huge.all());
        assertTrue(huge.err().contains("--layers"), huge.all());
        CliRun name = CliRun.of("weights", "--model", pkg.toString(), "--provider", "infiny");
        assertEquals(2, name.exit(), name.all());
        assertTrue(name.err().contains("did you mean 'infini'?"), name.all());
    }
}
