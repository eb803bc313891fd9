package dev.engram.cli;

import dev.engram.api.ConfigException;
import dev.engram.runtime.model.ModelPackage;
import dev.engram.runtime.text.Tokenizer;
import dev.engram.runtime.text.Tokenizers;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code engram tokenize}: a text file's token ids under a package's tokenizer, as an int32 .npy (for
 * tools/engram_import/finetune.py --ids, whose Python side has no tokenizer library). Loads only the manifest and
 * tokenizer.json, no graphs.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Write the token ids of UTF-8 text files, under a package's tokenizer, as one int32 .npy array"
                + " (the files one after another, each with the tokenizer's leading special tokens if --special).")
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The model package.")
    Path model;

    @Option(names = "--input", required = true, paramLabel = "FILE", arity = "1..*", description = "UTF-8 text files.")
    List<Path> inputs;

    @Option(names = "--ids-out", required = true, paramLabel = "FILE", description = "The .npy file to write.")
    Path out;

    @Option(names = "--special", description = "Add the tokenizer's special tokens (e.g. <s>) to each file's start.")
    boolean special;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        UserFiles.output("--ids-out", out); // before any file is tokenized
        for (Path input : inputs) {
            UserFiles.input("--input", input);
        }
        List<String> problems = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        ModelPackage pkg = ModelPackage.read(model, problems);
        Tokenizer tokenizer = pkg == null ? null : Tokenizers.forPackage(pkg.tokenizer(),
                pkg.manifest().files().tokenizer().orElse(null), pkg.manifest().architecture().vocabSize(), problems, warnings);
        if (tokenizer == null || !problems.isEmpty()) {
            throw new ConfigException(model.toString(), problems);
        }
        warnings.forEach(w -> spec.commandLine().getErr().println("warning: " + w));
        int[] all = new int[0];
        for (Path input : inputs) {
            int[] ids = tokenizer.encode(Files.readString(input, StandardCharsets.UTF_8), special);
            int[] joined = java.util.Arrays.copyOf(all, all.length + ids.length);
            System.arraycopy(ids, 0, joined, all.length, ids.length);
            all = joined;
        }
        Npy.writeInt32(out, all);
        spec.commandLine().getOut().printf("%d tokens from %d files (%s) written to %s%n", all.length, inputs.size(),
                tokenizer.description(), out);
        return 0;
    }
}
