package dev.engram.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code engram} command. */
@Command(name = "engram", mixinStandardHelpOptions = true, version = "engram 0.1.0-SNAPSHOT",
        description = "Run transformer models over contexts far longer than their attention window.",
        subcommands = {DemoCommand.class, RunCommand.class, GenerateCommand.class, InspectCommand.class, ConformanceCommand.class,
                PlanCommand.class, ProvidersCommand.class, BenchCommand.class, ServeCommand.class, ImportCommand.class, TokenizeCommand.class,
                CommandLine.HelpCommand.class})
public final class Engram implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line; tests run it in-process. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Engram());
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            // Engram's own errors carry a message meant for the user; anything else is a bug worth a trace.
            // Guice wraps provisioning errors; the EngramException inside is what the user needs to see.
            for (Throwable t = ex; t != null; t = t.getCause()) {
                if (t instanceof dev.engram.api.EngramException) {
                    commandLine.getErr().println("engram: " + t.getMessage());
                    return 2;
                }
            }
            throw ex;
        });
        return cl;
    }
}
