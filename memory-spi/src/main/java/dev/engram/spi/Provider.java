package dev.engram.spi;

import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import java.util.List;

/** What every provider, attention or memory, tells the registry about itself. */
public interface Provider {
    /** The short name users write in configuration: lower case letters, digits and '-', starting with a letter. */
    String name();

    /** Return {@link SpiVersion#CURRENT}, written literally so the compiled value is the one you built against. */
    int spiVersion();

    /** Version of this provider's snapshot payload layout; bump it when the layout changes. */
    int stateVersion();

    /** Every configuration key with its default and check. Defaults live here, next to the code. */
    ConfigSchema configSchema();

    /** The learned weights one layer needs under {@code config}, with their shapes. */
    List<WeightSpec> weights(LayerSpec spec, ProviderConfig config);

    /** Whether this provider, configured as {@code config}, has {@code capability}. */
    boolean supports(Capability capability, ProviderConfig config);
}
