#!/usr/bin/env bash
# scripts/check_layers.sh — the folders of src/ form layers, and a folder may
# include only its own headers and those of lower layers (so the folder-level
# include graph has no cycle).  Prints each offending #include and exits 1.
#
# The order, lowest first (folders on one line are peers and must not include
# each other).  src/phoenix.c, the top, wires them all.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=(
  "common"
  "json"
  "timeline"
  "registry"
  "ingest"
  "projection"
  "forget"
  "kafka export"
)
declare -A rank
for i in "${!LAYERS[@]}"; do
  for d in ${LAYERS[$i]}; do rank[$d]=$i; done
done
bad=0
for dir in src/*/; do
  d=$(basename "$dir")
  [ "$d" = sql ] && continue
  if [ -z "${rank[$d]+x}" ]; then
    echo "src/$d: not a known layer (add it to LAYERS in $0)"; bad=1; continue
  fi
  while IFS=: read -r file line inc; do
    target=${inc#*\"}; target=${target%%/*}
    [ -n "${rank[$target]+x}" ] || continue
    if [ "$target" != "$d" ] && [ "${rank[$target]}" -ge "${rank[$d]}" ]; then
      echo "$file:$line: src/$d (layer ${rank[$d]}) includes $target (layer ${rank[$target]})"
      bad=1
    fi
  done < <(grep -n '^#include "[a-z_]*/' "$dir"*.[ch] | sed 's/^\([^:]*\):\([0-9]*\):/\1:\2:/')
done
[ $bad = 0 ] && echo "layers: ok (${LAYERS[*]})"
exit $bad
