package dev.engram.cli;

import dev.engram.spi.ConfigKey;
import dev.engram.spi.Provider;
import dev.engram.spi.ProviderRegistry;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "providers", mixinStandardHelpOptions = true,
        description = "List the attention and memory providers on the class path with their configuration keys.")
final class ProvidersCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        ProviderRegistry registry = ProviderRegistry.load();
        print(out, "attention", registry.attentionNames().stream().map(n -> (Provider) registry.attention(n)).toList());
        print(out, "memory", registry.memoryNames().stream().map(n -> (Provider) registry.memory(n)).toList());
    }

    private static void print(PrintWriter out, String kind, List<Provider> providers) {
        for (Provider p : providers) {
            out.printf("%s %s  (%s)%n", kind, p.name(), p.getClass().getName());
            for (ConfigKey<?> k : p.configSchema().keys()) {
                Object shown = k.defaultValue() instanceof Enum<?> e ? e.name().toLowerCase(java.util.Locale.ROOT) : k.defaultValue();
                out.printf("    %-12s default %-16s valid: %s%s%n", k.name(), shown, k.valid(),
                        k.description().isEmpty() ? "" : "  - " + k.description());
            }
        }
    }
}
