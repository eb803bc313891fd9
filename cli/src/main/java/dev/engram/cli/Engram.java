package dev.engram.cli;

import dev.engram.server.ServeCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code engram} command. */
@Command(name = "engram", mixinStandardHelpOptions = true, version = "engram 0.1.0-SNAPSHOT",
        description = "Run transformer models over contexts far longer than their attention window.",
        subcommands = {DemoCommand.class, RunCommand.class, EvalCommand.class, GenerateCommand.class, InspectCommand.class,
                ConformanceCommand.class, PlanCommand.class, ProvidersCommand.class, WeightsCommand.class, BenchCommand.class,
                ServeCommand.class, ImportCommand.class, QuantizeCommand.class, TokenizeCommand.class,
                CommandLine.HelpCommand.class})
public final class Engram implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(commandLine(), args));
    }

    /**
     * Runs {@code args} and flushes both writers: picocli's writers flush on println but not on print, and the
     * {@code System.exit} in {@link #main} would lose what a command printed without a line end.
     */
    static int execute(CommandLine cl, String... args) {
        int code = cl.execute(args);
        cl.getOut().flush();
        cl.getErr().flush();
        return code;
    }

    /** The configured command line; tests run it in-process. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Engram());
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            // Engram's own errors carry a message meant for the user; so do file-system errors (a missing or unwritable
            // file). Guice wraps provisioning errors; the EngramException inside is what the user needs to see.
            for (Throwable t = ex; t != null; t = t.getCause()) {
                if (t instanceof dev.engram.api.EngramException) {
                    commandLine.getErr().println("engram: " + t.getMessage());
                    return 2;
                }
            }
            for (Throwable t = ex; t != null; t = t.getCause()) {
                if (t instanceof java.io.IOException || t instanceof java.io.UncheckedIOException) {
                    commandLine.getErr().println("engram: " + UserFiles.describe(t));
                    return 2;
                }
            }
            // Anything else is a bug: the trace is what a report needs.
            commandLine.getErr().println("engram: internal error (a bug; please report it with what follows): " + ex);
            ex.printStackTrace(commandLine.getErr());
            return 70;
        });
        // A mistyped option is one line naming it, with picocli's suggestions, not the whole usage text.
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            String name = c.getCommandSpec().qualifiedName();
            StringBuilder line = new StringBuilder(name).append(": ").append(ex.getMessage().strip());
            if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
                line.append("; did you mean ").append(String.join(" or ", u.getSuggestions())).append('?');
            }
            line.append(" (").append(name).append(" --help lists the options)");
            c.getErr().println(line.toString().replace('\n', ' '));
            return 2;
        });
        return cl;
    }
}
