package dev.engram.runtime.config;

import java.util.Optional;

/** What one layer runs: an attention, and optionally a long-term memory beside it. */
public record LayerPlan(int layer, ProviderChoice attention, Optional<ProviderChoice> memory) {
}
