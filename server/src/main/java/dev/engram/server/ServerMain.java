package dev.engram.server;

import picocli.CommandLine;

/**
 * The server on its own, without the CLI's other commands:
 * {@code java -cp ... dev.engram.server.ServerMain --model DIR --port N (--data-dir DIR | --session-store DIR|redis://...) ...}.
 * It runs {@link ServeCommand}, the command {@code engram serve} runs, so both take the same options and check them
 * the same way ({@code --help} lists them).
 */
public final class ServerMain {
    private ServerMain() {
    }

    public static void main(String[] args) {
        CommandLine cl = new CommandLine(new ServeCommand());
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            // a problem of the model package or the config carries a message meant for the user (as in the CLI)
            for (Throwable t = ex; t != null; t = t.getCause()) {
                if (t instanceof dev.engram.api.EngramException) {
                    commandLine.getErr().println("engram serve: " + t.getMessage());
                    return 2;
                }
            }
            throw ex;
        });
        int code = cl.execute(args);
        cl.getErr().flush();
        System.exit(code);
    }
}
