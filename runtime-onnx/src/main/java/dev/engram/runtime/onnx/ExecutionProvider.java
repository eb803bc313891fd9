package dev.engram.runtime.onnx;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.engram.runtime.config.SessionSettings;
import dev.engram.runtime.config.SessionSettings.Device;
import java.util.function.Consumer;

/**
 * The ONNX Runtime execution provider the model's graphs run on: which device a config gets, and what that adds to
 * the session options. Bound in {@link dev.engram.runtime.EngramModule} to {@link #CPU_OR_CUDA}; bind another
 * (TensorRT, DirectML, a test's recording one) with {@code Modules.override} to change it for every engine the
 * injector builds ({@link dev.engram.runtime.EngineFactory}).
 */
public interface ExecutionProvider {
    /**
     * The device the graphs will run on for {@code settings}; a request that cannot be met falls back and reports one
     * line to {@code warnings}.
     *
     * @param probeGraph a graph of the package, for a provider that must load one to know whether the device works
     */
    Device select(SessionSettings settings, String probeGraph, Consumer<String> warnings);

    /** Adds the provider for {@code device} to {@code options} (the thread and optimisation settings are already there). */
    void addTo(OrtSession.SessionOptions options, SessionSettings settings, Device device) throws OrtException;

    /** ONNX Runtime's CPU provider, or its CUDA provider on {@code device: cuda} (CPU with a warning when CUDA cannot run). */
    ExecutionProvider CPU_OR_CUDA = new ExecutionProvider() {
        @Override
        public Device select(SessionSettings settings, String probeGraph, Consumer<String> warnings) {
            if (settings.device() != Device.CUDA) {
                return settings.device();
            }
            String reason = OnnxGraphs.cudaUnavailableReason(settings, probeGraph, this);
            if (reason == null) {
                return Device.CUDA;
            }
            // one channel: the caller shows it (the CLI on stderr, the server in its log)
            warnings.accept("device 'cuda' was requested but the CUDA execution provider is unavailable (" + reason
                    + "); running on CPU");
            return Device.CPU;
        }

        @Override
        public void addTo(OrtSession.SessionOptions options, SessionSettings settings, Device device) throws OrtException {
            if (device == Device.CUDA) {
                options.addCUDA(settings.cudaDevice());
            }
        }

        @Override
        public String toString() {
            return "CPU or CUDA";
        }
    };
}
