package dev.engram.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.engram.runtime.config.SessionSettings.Device;
import dev.engram.runtime.onnx.OnnxGraphs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** device: cuda. On a machine without CUDA (or with the CPU artifact) the fallback is tested; with CUDA, CPU vs GPU logits. */
class CudaTest {
    private static final String REASON = OnnxGraphs.cudaUnavailableReason(0);
    @TempDir
    Path dir;

    @Test
    void cudaRequestedWithoutCudaRunsOnCpuWithOneWarningLine() throws IOException {
        assumeTrue(REASON != null, "CUDA is available here, so the fallback path cannot be reached");
        Path config = dir.resolve("c.yaml");
        Files.writeString(config, "device: cuda\n");
        try (Engine e = new EngineLoader().config(config).systemOverrides(false).load(EngineTest.TINY)) {
            assertEquals(Device.CPU, e.device());
            assertEquals(1, e.warnings().size(), e.warnings().toString());
            String w = e.warnings().get(0);
            assertTrue(w.startsWith("device 'cuda' was requested but the CUDA execution provider is unavailable (")
                    && w.endsWith("); running on CPU") && !w.contains("\n"), w);
            assertEquals(16, e.ingest(e.newSequence(), new int[] {1, 2, 3}).length, "and it runs");
        }
    }

    @Test
    void cudaLogitsMatchCpuLogits() {
        if (REASON != null) {
            // Surefire keeps an assumption's message in its XML only; say it where people read.
            System.out.println("CudaTest.cudaLogitsMatchCpuLogits skipped: CUDA execution provider unavailable: " + REASON);
        }
        assumeTrue(REASON == null, "CUDA execution provider unavailable: " + REASON);
        int[] t = EngineTest.tokens(23, 5);
        try (Engine cpu = new EngineLoader().systemOverrides(false).device(Device.CPU).load(EngineTest.TINY);
             Engine gpu = new EngineLoader().systemOverrides(false).device(Device.CUDA).load(EngineTest.TINY)) {
            assertEquals(Device.CUDA, gpu.device());
            List<float[][]> a = cpu.ingestAll(List.of(cpu.newSequence()), List.of(t));
            List<float[][]> b = gpu.ingestAll(List.of(gpu.newSequence()), List.of(t));
            for (int i = 0; i < t.length; i++) {
                for (int v = 0; v < 16; v++) {
                    assertEquals(a.get(0)[i][v], b.get(0)[i][v], 1e-4, "token " + i + " logit " + v);
                }
            }
        }
    }
}
