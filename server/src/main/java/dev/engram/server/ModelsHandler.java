package dev.engram.server;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code GET /v1/models} and {@code GET /v1/models/{id}}: the one served model. */
final class ModelsHandler {
    private final Engines engines;
    private final String modelName;
    private final long createdEpoch;

    ModelsHandler(Engines engines, String modelName, long createdEpoch) {
        this.engines = engines;
        this.modelName = modelName;
        this.createdEpoch = createdEpoch;
    }

    void list(Exchange ex) throws Exception {
        ex.json(200, Map.of("object", "list", "data", List.of(modelObject())));
    }

    void get(Exchange ex, String id) throws Exception {
        if (!id.equals(modelName)) {
            throw new ApiError(404, "invalid_request_error", "model", "model_not_found", "The model '" + id
                    + "' does not exist; this server serves '" + modelName + "'", null);
        }
        ex.json(200, modelObject());
    }

    private Map<String, Object> modelObject() {
        ModelWorker w = engines.defaultWorker;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", modelName);
        m.put("object", "model");
        m.put("created", createdEpoch);
        m.put("owned_by", "engram");
        m.put("vocab_size", w.engine.vocabSize());
        m.put("segment_length", w.engine.segmentLength());
        m.put("tokenizer", w.tokenizer.description());
        return m;
    }
}
