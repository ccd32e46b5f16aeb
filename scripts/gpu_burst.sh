#!/usr/bin/env bash
# scripts/gpu_burst.sh: a few minutes of training on a lent GPU machine, weights brought back (issue 24 point 5).
#
#   bash scripts/gpu_burst.sh            # the burst (on the lent machine; works unchanged on a CPU)
#   bash scripts/gpu_burst.sh prepare    # here, before the burst: fill .whl/ .gl/ .burst_data/ and check sizes
#
# The burst, in one command that must end inside the device call's 10 minutes:
#   1. installs carried wheels (.whl/*.whl -> /tmp/site on PYTHONPATH) and, on a GPU machine only,
#      the carried GL loader .debs (.gl/*.deb, unpacked to / as the device README says);
#   2. data: renders synthetic shards with `python -m trainer synth --size 256 --workers $(nproc)`
#      into a scratch folder when the renderer can run there (Anny + warp + moderngl importable and the
#      CMU clips present), else uses the pre-rendered shards carried in .burst_data/ (it says which);
#   3. trains with `python -m trainer train trainer/configs/blazepose.yaml` (the shipped model: SkeletonNet on
#      BlazePose's landmark network, which needs data/packages/blazepose/pose_landmark_full.tflite carried)
#      from the shipped float16 weights (trainer/weights/skeletonnet_blazepose.pt, `init:`), the backbone
#      at a tenth of the heads' rate and its 2D held by distillation on every crop, time_limit_s = what is
#      left of BURST_BUDGET_S minus a reserve for step 4; bf16 autocast on the GPU (the trainer's default);
#   4. writes into $OUT (what comes back: at most 8 files, 16 MB each): skeletonnet_burst.pt (slim
#      float16 weights, trainer.checkpoint.write_slim_checkpoint), train.csv, val.csv, curves.png,
#      config.yaml, burst.json (what ran, steps, timings) and burst.log.
#
# Environment: OUT (default /tmp/burst_out), BURST_BUDGET_S (whole script, default 480 s),
# BURST_RESERVE_S (kept for step 4, default 45 s), BURST_RENDER_N (images to render there, default 6000),
# BURST_BATCH (default 64 on a GPU, 16 on a CPU), BURST_TINY=1 (rehearsal: 64 images, 20 steps, batch 4),
# BURST_DATA (use this dataset folder and render nothing), BURST_NO_RENDER=1 (use .burst_data even where
# Anny is: rehearses the carried-shards path), PYTHON (default: .venv/bin/python if present,
# else python3). `prepare` takes BURST_PREPARE_N (images to pre-render into .burst_data/, default 2000; it
# stops at what fits) and copies the BlazePose landmark network the model is built from into
# data/packages/blazepose (carry that folder too).
# docs/gpu.md, "Training burst", has the device call and the sizes measured.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
LIMIT_MIB=64

tree_bytes() {  # what a device call carries: tracked + untracked-not-ignored files (+ the named folders)
  { git ls-files -z; git ls-files -z --others --exclude-standard; } | (xargs -0 stat -c %s 2>/dev/null || true) \
    | awk '{s+=$1} END {print s+0}'
}
tree_gz_bytes() {  # the same, gzip -1: the 68.7 MiB (raw) tree of the H200 check in docs/gpu.md travelled, 59 MiB so
  { git ls-files -z; git ls-files -z --others --exclude-standard; } | tar --null -T - -cf - 2>/dev/null | gzip -1 | wc -c
}
dir_bytes() { [ -e "$1" ] && du -sb "$1" | cut -f1 || echo 0; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b/1048576}'; }

if [ "${1:-}" = "prepare" ]; then
  # ---------------------------------------------------------------- prepare (here, with network and Anny)
  for d in /.whl/ /.gl/ /.burst_data/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
  N=${BURST_PREPARE_N:-2000}
  WHL=/tmp/burst_wheels; rm -rf "$WHL"; mkdir -p "$WHL"
  PIPDL="--no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
         --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
         --platform manylinux1_x86_64 --platform any"
  # what rendering there needs beyond the GPU image (KINDS.md lists torch, numpy, opencv, skimage, ...):
  # Anny and its needs (warp-lang, roma, trimesh), the renderer (moderngl, glcontext, pygltflib + 3 needs)
  for p in anny==0.6.2 warp-lang==1.19.0 roma==1.8.0 trimesh==5.2.0 moderngl==5.13.0 glcontext==3.1.0 \
           pygltflib==1.16.5 dataclasses-json==0.6.7 deprecated==1.2.18 marshmallow==3.26.1; do
    $PY -m pip download -q $PIPDL -d "$WHL" "$p" 2>/dev/null || echo "prepare: could not download $p"
  done
  GLD=/tmp/burst_gl; rm -rf "$GLD" /tmp/amd64; mkdir -p "$GLD" /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  (apt-get $o update -qq >/dev/null 2>&1 && cd "$GLD" && apt-get $o download -qq libegl1 libglvnd0 libopengl0 libgl1 \
     libglx0 libgles2 assimp-testmodels >/dev/null 2>&1) || echo "prepare: apt-get download failed"
  # the landmark network the model is built from (6.1 MiB; fetched and sha256-checked once)
  $PY -c "from trainer.blazepose import tflite_path; print('prepare: BlazePose landmark network', tflite_path('full'))"
  TFL=$(dir_bytes data/packages/blazepose/pose_landmark_full.tflite)
  tree=$(( $(tree_gz_bytes) + TFL )); whl=$(dir_bytes "$WHL"); gl=$(dir_bytes "$GLD")
  echo "prepare: working tree $(mib "$(tree_bytes)") MiB raw, $(mib "$tree") MiB gzipped (counted below); render-there wheels $(mib "$whl") MiB" \
       "($(cd "$WHL" && ls -S | head -2 | tr '\n' ' ')largest); GL + CMU-clip debs $(mib "$gl") MiB; limit $LIMIT_MIB MiB"
  if [ $((tree + whl + gl)) -lt $((LIMIT_MIB * 1048576 - 4194304)) ]; then
    rm -rf .whl .gl; mv "$WHL" .whl; mv "$GLD" .gl
    echo "prepare: the renderer travels (.whl, .gl): the burst renders there; carry .whl and .gl"
  else
    echo "prepare: tree + wheels + debs do not fit in $LIMIT_MIB MiB: carrying pre-rendered shards instead"
    rm -rf .whl .gl .burst_data
    # 256 px renders, as the shipped model's data (trainer/configs/blazepose.yaml); about 14.5 KB an image (16 counted)
    ROOM=$(( (LIMIT_MIB * 1048576 - tree - 2097152) / 16384 ))
    if [ "$N" -gt "$ROOM" ]; then echo "prepare: $N images do not fit; rendering $ROOM"; N=$ROOM; fi
    if [ "$N" -lt 32 ]; then echo "prepare: no room for shards ($(mib "$tree") MiB before any)" >&2; exit 2; fi
    nice -n 10 $PY -m trainer synth --out .burst_data --train "$N" --val $((N / 10 > 16 ? N / 10 : 16)) --test 0 \
      --size 256 --workers "${BURST_PREPARE_WORKERS:-1}" --no-card 2>&1 | tr '\r' '\n' | grep -v "^rendering" | tail -2
    data=$(dir_bytes .burst_data)
    total=$((tree + data))
    echo "prepare: .burst_data $(mib "$data") MiB for $N + val images; tree + carried = $(mib "$total") MiB of $LIMIT_MIB"
    if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then
      echo "prepare: OVER the $LIMIT_MIB MiB limit by $(mib $((total - LIMIT_MIB * 1048576))) MiB: the device call would be" \
           "refused (the tree alone: $(mib "$tree") MiB gzipped, $(mib "$(tree_bytes)") MiB raw); see docs/gpu.md, Training burst"
      exit 2
    fi
    echo "prepare: carry .burst_data and data/packages/blazepose"
  fi
  exit 0
fi

# -------------------------------------------------------------------------------------------- the burst
OUT=${OUT:-/tmp/burst_out}
mkdir -p "$OUT"
exec > >(tee "$OUT/burst.log") 2>&1
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
BUDGET=${BURST_BUDGET_S:-480}
RESERVE=${BURST_RESERVE_S:-45}
SCRATCH=${BURST_SCRATCH:-/tmp/burst_scratch}
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH"
echo "burst: $(date -u +%FT%TZ) on $(uname -n), $(nproc) cores, budget ${BUDGET}s, python $PY"

# 1. carried wheels and debs
if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  echo "burst: installed $(ls .whl/*.whl | wc -l) carried wheels into /tmp/site"
fi
GPU=$($PY -c "import torch; print(int(torch.cuda.is_available()))")
if [ "$GPU" = 1 ] && compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  echo "burst: unpacked $(ls .gl/*.deb | wc -l) carried debs"
fi
$PY -c "import torch; print('burst: torch', torch.__version__, 'GPU:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none (CPU)')"

# 2. data
TINY=${BURST_TINY:-0}
if [ -n "${BURST_DATA:-}" ]; then
  DATA=$BURST_DATA; SOURCE="given folder $DATA"
elif [ "${BURST_NO_RENDER:-0}" != 1 ] && $PY -c "import anny, warp, roma, moderngl" 2>/dev/null && [ -d /usr/share/assimp/models/BVH ]; then
  N=${BURST_RENDER_N:-6000}; [ "$TINY" = 1 ] && N=64
  NV=$((N / 10 > 16 ? N / 10 : 16))
  echo "burst: rendering $N + $NV images with $(nproc) workers (Anny is here)"
  t=$(date +%s)
  $PY -m trainer synth --out "$SCRATCH/data" --train "$N" --val "$NV" --test 0 --size 256 \
    --workers "$(nproc)" --no-card 2>&1 | tr '\r' '\n' | grep -v "^rendering" | tail -3
  DATA=$SCRATCH/data; SOURCE="rendered here: $N train + $NV val in $(( $(date +%s) - t )) s"
elif [ -d .burst_data/train ]; then
  DATA=.burst_data; SOURCE="carried pre-rendered shards (.burst_data: Anny or the renderer is not here)"
else
  echo "burst: no data: Anny/warp/moderngl or the CMU clips are missing and no .burst_data was carried" >&2
  exit 3
fi
echo "burst: data = $SOURCE"

# 3. train from the shipped float16 weights, inside what is left of the budget
LEFT=$(( BUDGET - $(elapsed) - RESERVE ))
if [ "$LEFT" -lt 10 ]; then echo "burst: only ${LEFT}s left for training" >&2; exit 4; fi
if [ "$GPU" = 1 ]; then BATCH=${BURST_BATCH:-64}; else BATCH=${BURST_BATCH:-16}; fi
STEPS=200000; VAL_EVERY=500; VAL_N=400; LOG=20
if [ "$TINY" = 1 ]; then BATCH=${BURST_BATCH:-4}; STEPS=20; VAL_EVERY=10; VAL_N=16; LOG=5; fi
echo "burst: training ${LEFT}s at most (batch $BATCH, $STEPS steps at most)"
set +e
if [ ! -f data/packages/blazepose/pose_landmark_full.tflite ]; then
  echo "burst: data/packages/blazepose/pose_landmark_full.tflite not carried (run prepare here; carry data/packages/blazepose)" >&2
  exit 2
fi
# the shipped model's recipe (trainer/configs/blazepose.yaml), fine-tuned: no frozen phase, a constant rate,
# distillation on every crop (the carried data has no real frames)
$PY -m trainer train trainer/configs/blazepose.yaml --set out="$SCRATCH/run" \
  --set init=trainer/weights/skeletonnet_blazepose.pt \
  --set "data=[{kind: synth, root: $DATA, weight: 1.0}]" --set "val={kind: synth, root: $DATA, split: val, max_samples: $VAL_N}" \
  --set freeze_backbone_steps=0 --set distill_on=all \
  --set batch_size=$BATCH --set steps=$STEPS --set lr=2.0e-4 --set schedule=const --set val_every=$VAL_EVERY \
  --set ckpt_every=$VAL_EVERY --set log_every=$LOG --set time_limit_s=$LEFT --set export=false 2>&1 \
  | tr '\r' '\n' | grep -v "^training:" | tail -15
RC=${PIPESTATUS[0]}
set -e
echo "burst: trainer exit $RC after $(elapsed) s"

# 4. the slim float16 weights and the curves into $OUT
$PY - "$SCRATCH/run" "$OUT" "$SOURCE" "$(elapsed)" <<'EOF'
import csv, json, shutil, sys
from pathlib import Path
from trainer.checkpoint import read_checkpoint, write_slim_checkpoint
run, out, source, secs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ck = read_checkpoint(run / "last.pt")
w = write_slim_checkpoint(ck, out / "skeletonnet_burst.pt")
for f in ("train.csv", "val.csv", "curves.png", "config.yaml"):
    if (run / f).exists():
        shutil.copy(run / f, out / f)
tr = list(csv.DictReader(open(run / "train.csv"))) if (run / "train.csv").exists() else []
va = list(csv.DictReader(open(run / "val.csv"))) if (run / "val.csv").exists() else []
info = {"data": source, "steps": int(ck["step"]), "seconds_before_writing": secs,
        "last_img_per_s": float(tr[-1]["img_per_s"]) if tr else None,
        "last_val": {k: float(v) for k, v in va[-1].items()} if va else None,
        "weights": w.name, "weights_mb": round(w.stat().st_size / 2**20, 2)}
(out / "burst.json").write_text(json.dumps(info, indent=2))
print("burst:", json.dumps(info))
EOF
echo "burst: done in $(elapsed) s; in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit "$RC"
