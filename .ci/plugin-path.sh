# Sourced by ./engram: turns ENGRAM_PLUGINS into class-path entries, refusing what would load nothing.
#   plugin_class_path "DIR:FILE.jar:..."   prints the entries ':'-joined, or says what is wrong and returns 2
# A folder with jars stands for its jars (DIR/*); a folder of classes (a plugin's target/classes, with
# META-INF or packages inside) is used as it is; a .jar file is used as it is.
plugin_class_path() {
  local entries=() p paths
  local IFS=':'
  read -r -a paths <<< "$1"
  for p in "${paths[@]}"; do
    [ -n "$p" ] || continue
    if [ -d "$p" ]; then
      if compgen -G "$p/*.jar" >/dev/null; then
        entries+=("$p/*")
      elif [ -n "$(ls -A "$p" 2>/dev/null)" ]; then
        entries+=("$p")
      else
        echo "engram: ENGRAM_PLUGINS entry '$p' is an empty folder; valid: folders of plugin jars or classes, or .jar files, ':'-separated" >&2
        return 2
      fi
    elif [ -f "$p" ] && [[ "$p" == *.jar ]]; then
      entries+=("$p")
    elif [ -e "$p" ]; then
      echo "engram: ENGRAM_PLUGINS entry '$p' is not a folder or a .jar file; valid: folders of plugin jars or classes, or .jar files, ':'-separated" >&2
      return 2
    else
      echo "engram: ENGRAM_PLUGINS entry '$p' does not exist; valid: folders of plugin jars or classes, or .jar files, ':'-separated" >&2
      return 2
    fi
  done
  echo "${entries[*]}"
}
