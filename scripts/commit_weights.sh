#!/usr/bin/env bash
# Commit the slim float16 weights of a running training job every INTERVAL seconds (default 2700), so a
# lost machine loses at most that much training. Usage:
#   scripts/commit_weights.sh RUN_DIR WEIGHTS_OUT "RESUME COMMAND" [INTERVAL]
# Each commit holds WEIGHTS_OUT (trainer.checkpoint.write_slim_checkpoint of RUN_DIR/last.pt) and
# WEIGHTS_OUT with .md: the step it reached, the time, and the command that resumes the run from it.
set -u
run=$1; out=$2; resume=$3; every=${4:-2700}
py=${PYTHON:-.venv/bin/python}
while true; do
  sleep "$every"
  [ -f "$run/last.pt" ] || continue
  step=$($py - "$run/last.pt" "$out" <<'PY'
import sys
from trainer.checkpoint import read_checkpoint, write_slim_checkpoint
ck = read_checkpoint(sys.argv[1])
write_slim_checkpoint(ck, sys.argv[2])
print(ck["step"])
PY
) || continue
  cat > "${out%.pt}.md" <<MD
# Work in progress: \`$(basename "$out")\`

Slim float16 weights of the training run \`$run\` at step $step ($(date -u '+%Y-%m-%d %H:%M UTC')),
committed by \`scripts/commit_weights.sh\` so that a lost machine loses at most $((every / 60)) minutes of training.

To go on from here on a fresh machine (the run's own \`last.pt\`, with its optimizer state, is lost with
the machine; these weights restart it at this step's weights with a fresh optimizer):

    $resume
MD
  for i in 1 2 3 4 5; do
    git commit -q -m "WIP weights of $run at step $step (scripts/commit_weights.sh)" -- "$out" "${out%.pt}.md" 2>/dev/null && break
    git add -- "$out" "${out%.pt}.md" 2>/dev/null; sleep 5
  done
done
