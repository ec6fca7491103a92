#!/bin/bash
# Prints the simulator's trace hash for a fixed set of seeds in every cluster layout, the register
# and disk scenarios: run it before and after a pure refactor and diff the two outputs.
#   bash scripts/trace-hashes.sh > before.txt; …change…; bash scripts/trace-hashes.sh | diff before.txt -
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
sim() { printf '%-60s ' "$*"; node dist/src/sim/main.js "$@" 2>&1 | grep -o 'seed [0-9]* [a-z]*; trace [0-9a-f]*' || echo FAILED; }
for seed in 10 53 137 147 174 335 650 798 828 998 2786 4569; do
  sim --scenario cluster --seed "$seed"
  sim --scenario cluster --seed "$seed" --whole-threads --strict-flush
done
for layout in server-sync server-async client-sync client-async hybrid; do
  for seed in 10 34 53 174 210; do sim --scenario cluster --layout "$layout" --seed "$seed" --strict-flush; done
done
for seed in 1 2 3 335; do sim --scenario cluster --seed "$seed" --thread-deaths --strict-flush; done
for seed in 1 2 3; do sim --scenario cluster --seed "$seed" --busy-regions-max 1 --strict-flush; done
for seed in 1 2 3 1762; do sim --scenario register --seed "$seed"; done
for seed in 1 2 3; do sim --scenario disk --seed "$seed"; done
