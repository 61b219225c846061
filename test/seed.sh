# test/seed.sh — one seed convention for every randomized test (sourced).
#   phoenix_seed DEFAULT   sets PHOENIX_SEED_VALUE and prints it:
#     PHOENIX_SEED unset      -> DEFAULT (fixed: a run is reproducible)
#     PHOENIX_SEED=random     -> a fresh random seed (printed, to replay it)
#     PHOENIX_SEED=N          -> N
# The older per-test PHOENIX_FUZZ_SEED is still honoured when PHOENIX_SEED is unset.
phoenix_seed() {
  local s=${PHOENIX_SEED:-${PHOENIX_FUZZ_SEED:-$1}}
  if [ "$s" = random ]; then s=$(( (RANDOM << 15 | RANDOM) % 1000000000 )); fi
  PHOENIX_SEED_VALUE=$s
  echo "seed=$s (rerun with PHOENIX_SEED=$s)"
}
