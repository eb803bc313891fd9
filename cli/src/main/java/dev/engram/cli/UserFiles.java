package dev.engram.cli;

import dev.engram.api.InvalidInputException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The files a user names on the command line, checked before any work starts: an output that cannot be written
 * is refused before the input is ingested (not after), and an input that is not there is one line, not a trace.
 */
final class UserFiles {
    private UserFiles() {
    }

    /** {@code file} (an option's value, null when not given) exists and is a readable regular file. */
    static void input(String option, Path file) {
        if (file == null) {
            return;
        }
        if (Files.isDirectory(file)) {
            throw new InvalidInputException(option, "'" + file + "' is a directory; give a file");
        }
        if (!Files.exists(file)) {
            throw new InvalidInputException(option, "'" + file + "' does not exist");
        }
        if (!Files.isReadable(file)) {
            throw new InvalidInputException(option, "'" + file + "' cannot be read (permission denied)");
        }
    }

    /**
     * {@code file} (null when not given) can be written: it is not a directory, and its folder (or the nearest one
     * above it that exists, since the writers create missing folders) accepts a new file. The folder is tried for
     * real with an empty temporary file, because permission bits do not tell (root may write anywhere but /proc).
     */
    static void output(String option, Path file) {
        if (file == null) {
            return;
        }
        if (Files.isDirectory(file)) {
            throw new InvalidInputException(option, "'" + file + "' is a directory; give a file path");
        }
        if (Files.exists(file) && !Files.isWritable(file)) {
            throw new InvalidInputException(option, "'" + file + "' exists and cannot be overwritten (permission denied)");
        }
        probeFolder(option, file, file.toAbsolutePath().getParent());
    }

    /** {@code dir} (null when not given) is, or can be created as, a folder that accepts new files. */
    static void outputFolder(String option, Path dir) {
        if (dir == null) {
            return;
        }
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new InvalidInputException(option, "'" + dir + "' is a file; give a folder");
        }
        probeFolder(option, dir, dir.toAbsolutePath());
    }

    private static void probeFolder(String option, Path given, Path folder) {
        Path existing = folder;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null || !Files.isDirectory(existing)) {
            throw new InvalidInputException(option, "'" + given + "' cannot be written: " + existing + " is not a folder");
        }
        try {
            Files.delete(Files.createTempFile(existing, ".engram-probe", ".tmp"));
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            throw new InvalidInputException(option, "'" + given + "' cannot be written: the folder " + existing
                    + " does not accept new files (" + reason(e) + ")");
        }
    }

    /** One line for a file-system failure: the path and what went wrong, without the exception's class name. */
    static String describe(Throwable e) {
        if (e instanceof UncheckedIOException u && u.getCause() != null) {
            String outer = u.getMessage();
            return outer != null && !outer.equals(u.getCause().toString()) ? outer : describe(u.getCause());
        }
        if (e instanceof NoSuchFileException n) {
            return n.getFile() + ": no such file or directory";
        }
        if (e instanceof AccessDeniedException a) {
            return a.getFile() + ": permission denied";
        }
        if (e instanceof FileSystemException f) {
            return (f.getFile() == null ? "" : f.getFile() + ": ") + (f.getReason() == null ? "file system error" : f.getReason());
        }
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }

    private static String reason(Throwable e) {
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        if (e instanceof NoSuchFileException || e instanceof AccessDeniedException) {
            return e instanceof AccessDeniedException ? "permission denied" : "no such file or directory";
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
