package dev.engram.cli;

import dev.engram.api.InvalidInputException;
import dev.engram.runtime.Engine;
import dev.engram.runtime.EngineLoader;
import dev.engram.runtime.config.SessionSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** Options shared by the commands that load a model package. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The model package (a folder with engram.json).")
    Path model;

    @Option(names = "--config", paramLabel = "FILE", description = "An Engram YAML config; default: the package's own memory config.")
    Path config;

    @Option(names = "--memory", paramLabel = "NAME",
            description = "Use this memory provider on every layer the default section covers (or 'none').")
    String memory;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda (falls back to cpu with a warning).")
    String device;

    @Option(names = "--tokens", paramLabel = "IDS", split = ",", description = "Input as comma-separated token ids.")
    List<Integer> tokens;

    @Option(names = "--file", paramLabel = "FILE", description = "Input as a file of whitespace-separated token ids.")
    Path tokenFile;

    @Option(names = "--random", paramLabel = "N", description = "Input as N seeded random token ids (a smoke or speed test).")
    Integer random;

    Engine load() {
        EngineLoader loader = new EngineLoader();
        if (config != null) {
            loader.config(config);
        }
        if (memory != null) {
            Map<List<String>, String> overrides = new LinkedHashMap<>();
            overrides.put(List.of("layers", "default", "memory"), memory);
            loader.overrides(overrides);
        }
        loader.device(switch (device.toLowerCase(java.util.Locale.ROOT)) {
            case "cpu" -> SessionSettings.Device.CPU;
            case "cuda" -> SessionSettings.Device.CUDA;
            default -> throw InvalidInputException.outOfRange("--device", device, "cpu or cuda");
        });
        return loader.load(model);
    }

    int[] input(int vocabSize) throws IOException {
        int given = (tokens != null ? 1 : 0) + (tokenFile != null ? 1 : 0) + (random != null ? 1 : 0);
        if (given != 1) {
            throw new InvalidInputException("input", "give exactly one of --tokens, --file, --random");
        }
        List<Integer> ids = new ArrayList<>();
        if (tokens != null) {
            ids.addAll(tokens);
        } else if (tokenFile != null) {
            for (String part : Files.readString(tokenFile).trim().split("\\s+")) {
                if (!part.isEmpty()) {
                    try {
                        ids.add(Integer.parseInt(part));
                    } catch (NumberFormatException e) {
                        throw new InvalidInputException("--file", "holds '" + part + "'; valid: whitespace-separated token ids");
                    }
                }
            }
        } else {
            if (random < 1) {
                throw InvalidInputException.outOfRange("--random", random, ">= 1");
            }
            java.util.SplittableRandom r = new java.util.SplittableRandom(7);
            for (int i = 0; i < random; i++) {
                ids.add(r.nextInt(vocabSize));
            }
        }
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            int id = ids.get(i);
            if (id < 0 || id >= vocabSize) {
                throw InvalidInputException.outOfRange("token[" + i + "]", id, "[0, " + (vocabSize - 1) + "] (the model's vocabulary)");
            }
            out[i] = id;
        }
        if (out.length == 0) {
            throw new InvalidInputException("input", "is empty; give at least one token");
        }
        return out;
    }
}
