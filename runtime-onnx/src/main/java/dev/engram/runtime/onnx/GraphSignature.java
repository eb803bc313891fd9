package dev.engram.runtime.onnx;

import java.util.List;

/**
 * What one loaded graph takes and gives, as ONNX Runtime reports it (for {@code engram inspect}).
 *
 * @param role    embed, layer_{i}_pre, layer_{i}_post or head
 * @param file    the file inside the package
 * @param inputs  in ONNX Runtime's order
 * @param outputs in ONNX Runtime's order
 */
public record GraphSignature(String role, String file, List<Port> inputs, List<Port> outputs) {
    public GraphSignature {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
    }

    /**
     * @param type  element type (float32, int64, ...)
     * @param dims  per axis: the size, or the graph's symbolic name ("B", "N") or "?" for a dynamic axis
     */
    public record Port(String name, String type, List<String> dims) {
        public Port {
            dims = List.copyOf(dims);
        }

        @Override
        public String toString() {
            return name + " " + type + " [" + String.join(", ", dims) + "]";
        }
    }
}
