# Sourced by ./engram and .ci/run: prints the home of a JDK >= 21, preferring JAVA_HOME, then
# /usr/lib/jvm and the usual install folders. Maven itself may run on an older JDK: the build
# finds its compiler JDK through the toolchains plugin, so this is only for running Engram.
java_major() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1; }
find_jdk_21() {
  local candidate
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/* /opt/java/* /opt/jdk* "$HOME"/.sdkman/candidates/java/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
    local major
    major="$(java_major "$candidate/bin/java")"
    if [ -n "$major" ] && [ "$major" -ge 21 ]; then
      echo "$candidate"
      return 0
    fi
  done
  echo "engram: no JDK 21 or newer found (looked at JAVA_HOME and /usr/lib/jvm). Install one, for example" >&2
  echo "        apt-get install openjdk-21-jdk, or Temurin 21/25 under /usr/lib/jvm." >&2
  return 1
}
