"""The launcher's ENGRAM_PLUGINS handling (.ci/plugin-path.sh): what reaches the class path, and what is refused."""
import pathlib
import subprocess

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / ".ci" / "plugin-path.sh"


def class_path(value):
    r = subprocess.run(["bash", "-c", f'source "{SCRIPT}"; plugin_class_path "$1"', "_", value],
                       capture_output=True, text=True)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def test_folders_of_jars_classes_and_jar_files(tmp_path):
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "a.jar").write_bytes(b"PK")
    classes = tmp_path / "classes"
    (classes / "META-INF").mkdir(parents=True)
    single = tmp_path / "one.jar"
    single.write_bytes(b"PK")
    code, out, err = class_path(f"{jars}:{classes}::{single}")
    assert (code, err) == (0, "")
    assert out == f"{jars}/*:{classes}:{single}"


def test_a_missing_path_an_empty_folder_and_another_file_are_refused_naming_them(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("x")
    for value, words in [(str(tmp_path / "nope"), "does not exist"), (str(empty), "is an empty folder"),
                         (str(text), "is not a folder or a .jar file")]:
        code, out, err = class_path(value)
        assert code == 2 and out == ""
        assert err.startswith(f"engram: ENGRAM_PLUGINS entry '{value}' {words}; valid: "), err
