#!/usr/bin/env bash
# Compiles native/berth-init.c into dist/berth-init (the container shim; see the file's header).
# Fails, with the compiler's message, if it does not compile cleanly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/dist"
"${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Werror -o "$root/dist/berth-init" "$root/native/berth-init.c"
