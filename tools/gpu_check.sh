#!/usr/bin/env bash
# The GPU check: one command for a machine with NVIDIA GPUs, a CUDA torch in python3, and no network.
#
#   tools/gpu_check.sh --prepare DIR           on a connected Debian 12 machine: gathers into DIR what
#                                              the build needs beyond that torch (docs/cluster.md)
#   tools/gpu_check.sh [--deps DIR] OUTDIR     on the GPU machine: builds against python3's torch, runs
#                                              the `gpu` tests, times a bf16 training step (MFU)
#
# DIR (default gpu-deps/ in the checkout; git ignores it) holds the Debian packages (.deb, as
# downloaded) of the headers and libraries the build uses: Open MPI, HDF5, spdlog, fmt,
# Boost.Program_options, nlohmann-json, oniguruma, SentencePiece, GoogleTest, Google Benchmark, and
# the shared libraries they need that are not part of every glibc system, plus pkgconf and ninja. It
# stays under 40 MB; copy it along with the checkout. The run unpacks it under OUTDIR/sysroot and
# builds from there; without --deps and without gpu-deps/ it builds from the system's packages.
# It needs on the GPU machine: bash, a C++17 g++, CMake >= 3.25, python3 with a CUDA torch >= 2.7
# (its LibTorch), and nvcc of the same CUDA major (Torch's CMake config enables CUDA) unless torch's
# own nvcc wheel is installed beside it.
#
# Each step writes its result into OUTDIR/gpu_check.json (ok, failed, skipped or none, with seconds
# and a message); steps that need a CUDA device are skipped, saying so, where there is none. Ends with
# a table. Exit 0 when no step failed; a skipped step or a missing test is never reported as passed.
set -uo pipefail
here=$PWD    # paths on the command line are relative to where it was started
cd "$(dirname "$0")/.."
repo=$PWD
abs() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
max_mb=40
hard_mb=60

die() { echo "gpu_check: error: $*" >&2; exit 1; }
usage() { sed -n '2,8p' "$0" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------------
# --prepare: the Debian packages, by name (the -dev packages of tools/install_deps.sh the build uses)
# and by need (the owners of every shared library those libraries and Open MPI's plugins load).
dev_pkgs=(libopenmpi-dev libhdf5-dev libspdlog-dev libfmt-dev libboost-program-options-dev
  libboost-program-options1.74-dev libboost1.74-dev nlohmann-json3-dev libonig-dev
  libsentencepiece-dev libgtest-dev libgmock-dev libbenchmark-dev)
tool_pkgs=(openmpi-bin openmpi-common ninja-build pkgconf pkgconf-bin libpkgconf3)
# Every glibc system with a C++ compiler has these: never shipped.
base_pkgs=" libc6 libstdc++6 libgcc-s1 zlib1g libgomp1 libatomic1 "

prepare() {
  local dir=$1
  command -v apt-get >/dev/null && command -v dpkg-query >/dev/null || die "--prepare runs on Debian 12 (apt)"
  bash tools/install_deps.sh >&2 || die "tools/install_deps.sh failed"
  mkdir -p "$dir/debs"
  dir=$(realpath "$dir")
  local libs=() f
  for p in "${dev_pkgs[@]}" "${tool_pkgs[@]}"; do
    while IFS= read -r f; do
      case "$f" in *.so|*.so.[0-9]*|*/bin/*) [ -f "$f" ] && libs+=("$f") ;; esac
    done < <(dpkg -L "$p")
  done
  # The owners of those files (a -dev package's libX.so points into the runtime package) and of
  # everything they load (ldd follows the whole closure).
  local needed
  needed=$(for f in "${libs[@]}"; do echo "$f"; ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'; done | sort -u |
    while read -r f; do dpkg -S "$(realpath "$f")" 2>/dev/null || dpkg -S "$f" 2>/dev/null; done |
    cut -d: -f1 | sort -u)
  local pkgs=() p
  for p in "${dev_pkgs[@]}" "${tool_pkgs[@]}" $needed; do
    case "$base_pkgs" in *" $p "*) continue ;; esac
    case " ${pkgs[*]} " in *" $p "*) continue ;; esac
    pkgs+=("$p")
  done
  rm -f "$dir"/debs/*.deb
  # The archive's current Debian 12 version of each (the installed one may be gone from it).
  (cd "$dir/debs" && apt-get download -q "${pkgs[@]}" >&2 2>/dev/null) ||
    (cd "$dir/debs" && apt-get update -q >&2 && apt-get download -q "${pkgs[@]}" >&2) ||
    die "apt-get download failed"
  {
    echo "# Debian packages for tools/gpu_check.sh (made by --prepare on $(date -u +%F), $(. /etc/os-release; echo "$PRETTY_NAME"))"
    (cd "$dir/debs" && sha256sum -- *.deb)
  } > "$dir/MANIFEST"
  local kb mb
  kb=$(du -sk "$dir" | cut -f1); mb=$(( (kb + 1023) / 1024 ))
  echo "gpu_check: $dir: ${#pkgs[@]} packages, $mb MB" >&2
  [ "$mb" -le "$hard_mb" ] || die "$dir is $mb MB, over the $hard_mb MB limit"
  [ "$mb" -le "$max_mb" ] || echo "gpu_check: warning: $dir is $mb MB, over the $max_mb MB target" >&2
}

# ---------------------------------------------------------------------------------------------------
# The run: steps recorded as JSON lines, then one JSON file and a table.
steps_file=""
record() {  # record NAME STATUS SECONDS MESSAGE
  python3 - "$steps_file" "$@" <<'EOF'
import json, sys
path, name, status, seconds, message = sys.argv[1:6]
with open(path, "a") as f:
    f.write(json.dumps({"step": name, "status": status, "seconds": float(seconds), "message": message}) + "\n")
EOF
  printf 'gpu_check: %-12s %-7s %s\n' "$1" "$2" "$4" >&2
}

# unpack DIR/debs into SYSROOT; the libraries this machine lacks get a folder for LD_LIBRARY_PATH.
unpack_deps() {
  local deps=$1 sysroot=$2 d
  rm -rf "$sysroot"; mkdir -p "$sysroot/gap-libs"
  for d in "$deps"/debs/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$d" "$sysroot" || return 1
    else ar p "$d" data.tar.xz | tar -xJ -C "$sysroot" || return 1   # no dpkg: Debian 12's layout
    fi
  done
  # A library the node has (by SONAME) is taken from the node; the others from the sysroot.
  local have f so
  have=$(ldconfig -p 2>/dev/null | awk '{print $1}')
  for f in "$sysroot"/usr/lib/x86_64-linux-gnu/*.so* "$sysroot"/usr/lib/x86_64-linux-gnu/openmpi/lib/*.so* \
           "$sysroot"/lib/x86_64-linux-gnu/*.so*; do
    [ -f "$f" ] || continue
    so=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ -n "$so" ] && [ ! -e "$sysroot/gap-libs/$so" ] || continue
    grep -qxF "$so" <<<"$have" || ln -s "$f" "$sysroot/gap-libs/$so"
  done
}

run_check() {
  local out=$1 deps=$2
  mkdir -p "$out" || die "cannot make $out"
  out=$(realpath "$out")
  steps_file=$out/steps.jsonl; : > "$steps_file"
  local log=$out/logs; mkdir -p "$log"
  local t0 msg

  # 1. python3's torch and the devices it sees.
  t0=$SECONDS
  local info
  if ! info=$(python3 - <<'EOF' 2>"$log/torch.err"
import json, os, torch
d = {"torch": torch.__version__, "cuda": torch.version.cuda, "dir": os.path.dirname(torch.__file__),
     "abi": int(torch._C._GLIBCXX_USE_CXX11_ABI), "devices": []}
if torch.cuda.is_available():
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        d["devices"].append({"name": p.name, "memory_gb": round(p.total_memory / 2**30, 1),
                             "capability": f"{p.major}.{p.minor}"})
print(json.dumps(d))
EOF
  ); then
    record torch failed $((SECONDS - t0)) "python3 cannot import torch (logs/torch.err)"
    finish "$out"; return
  fi
  echo "$info" > "$out/torch.json"
  local torch_dir torch_version torch_cuda ndev gpu_name
  torch_dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["dir"])' <<<"$info")
  torch_version=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["torch"])' <<<"$info")
  torch_cuda=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["cuda"])' <<<"$info")
  ndev=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["devices"]))' <<<"$info")
  gpu_name=$(python3 -c 'import json,sys; d=json.load(sys.stdin)["devices"]; print(d[0]["name"] if d else "")' <<<"$info")
  if [ "$torch_cuda" = None ]; then
    record torch failed $((SECONDS - t0)) "torch $torch_version is a CPU build: the check needs a CUDA torch"
    finish "$out"; return
  fi
  if [ "$ndev" -gt 0 ]; then msg="torch $torch_version (CUDA $torch_cuda), $ndev GPU(s): $gpu_name"
  else msg="torch $torch_version (CUDA $torch_cuda), no CUDA device: device steps are skipped"; fi
  record torch ok $((SECONDS - t0)) "$msg"

  # 2. the Debian packages from --prepare (else the system's).
  t0=$SECONDS
  local cmake_args=() sysroot=""
  if [ -n "$deps" ]; then
    sysroot=$out/sysroot
    if unpack_deps "$deps" "$sysroot" > "$log/deps.log" 2>&1; then
      record deps ok $((SECONDS - t0)) "unpacked $(ls "$deps"/debs/*.deb | wc -l) packages from $deps"
    else
      record deps failed $((SECONDS - t0)) "cannot unpack $deps (logs/deps.log)"; finish "$out"; return
    fi
    local L=$sysroot/usr/lib/x86_64-linux-gnu
    export PATH=$PATH:$sysroot/usr/bin    # the node's own tools first (cmake, ninja), then Debian's
    export LD_LIBRARY_PATH=$sysroot/gap-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export OPAL_PREFIX=$sysroot/usr    # Open MPI's relocation: its tools and plugins under the sysroot
    export PKG_CONFIG_SYSROOT_DIR=$sysroot PKG_CONFIG_LIBDIR=$L/pkgconfig:$sysroot/usr/share/pkgconfig
    # Unpacked packages have no alternatives links (mpicc, libmpi.so): name the files themselves.
    cmake_args+=(-DCMAKE_PREFIX_PATH="$torch_dir;$sysroot/usr"
      -DPKG_CONFIG_EXECUTABLE="$sysroot/usr/bin/pkgconf"
      -DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_C_HEADER_DIR="$L/openmpi/include" -DMPI_C_LIB_NAMES=mpi
      -DMPI_mpi_LIBRARY="$L/openmpi/lib/libmpi.so" -DMPIEXEC_EXECUTABLE="$sysroot/usr/bin/mpiexec.openmpi"
      -DHDF5_C_COMPILER_EXECUTABLE=/bin/false -DHDF5_C_INCLUDE_DIR="$sysroot/usr/include/hdf5/serial"
      -DHDF5_C_LIBRARY_hdf5="$L/hdf5/serial/libhdf5.so")
  else
    record deps ok 0 "no --deps and no gpu-deps/: the system's packages"
    cmake_args+=(-DCMAKE_PREFIX_PATH="$torch_dir")
  fi

  # 3. build against python3's torch.
  t0=$SECONDS
  local build=$out/build
  if cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPROSPECT_PYTHON="$(command -v python3)" \
       "${cmake_args[@]}" > "$log/configure.log" 2>&1 &&
     cmake --build "$build" -j"$(nproc)" > "$log/build.log" 2>&1; then
    record build ok $((SECONDS - t0)) "$(grep -m1 'prospect: LibTorch' "$log/configure.log" | sed 's/^-- prospect: //')"
  else
    record build failed $((SECONDS - t0)) "configure or build failed (logs/configure.log, logs/build.log)"
    finish "$out"; return
  fi

  # 4. on the CPU: the programs load the unpacked libraries and Open MPI starts two ranks.
  t0=$SECONDS
  if (cd "$build" && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
        ctest -R '^(Config|Rng)[.]|^test_mpi_comm_np2$' --output-on-failure) > "$log/cpu-smoke.log" 2>&1; then
    record cpu-smoke ok $((SECONDS - t0)) "$(grep -m1 'tests passed' "$log/cpu-smoke.log")"
  else
    record cpu-smoke failed $((SECONDS - t0)) "config, rng or 2-rank MPI tests failed (logs/cpu-smoke.log)"
  fi

  # 5. the tests labelled gpu (registered only where configure found a device).
  t0=$SECONDS
  local ngpu
  ngpu=$(cd "$build" && ctest -N -L gpu 2>/dev/null | sed -n 's/^Total Tests: //p')
  if [ "${ngpu:-0}" -eq 0 ]; then
    if [ "$ndev" -gt 0 ]; then
      record gpu-tests none $((SECONDS - t0)) "no test carries the gpu label yet: nothing was checked on the GPU"
    else
      record gpu-tests skipped $((SECONDS - t0)) "no CUDA device: the gpu tests are not registered"
    fi
  elif (cd "$build" && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
          ctest -L gpu -E '^GpuDemo[.]' --output-on-failure) > "$log/gpu-tests.log" 2>&1; then
    record gpu-tests ok $((SECONDS - t0)) "$((ngpu - 1)) gpu tests passed (GpuDemo.* left out: see gpu-demo)"
  else
    record gpu-tests failed $((SECONDS - t0)) "$(grep -m1 'tests passed' "$log/gpu-tests.log") (logs/gpu-tests.log)"
  fi
  # The demo-model GPU test needs the demo model trained on the CPU first (the demo_model fixture: two
  # CPU ranks, longer than this whole check's 5 minutes): it is not part of this check.
  if [ "${ngpu:-0}" -gt 0 ]; then
    record gpu-demo skipped 0 "GpuDemo.StreamingDecisionsEqualTheCpus needs the CPU-trained demo model (over this check's 5 min): run 'ctest -L gpu -R GpuDemo' in $build"
  fi

  # 5b. training through the NCCL data plane: one step on one GPU (its log line checked), and with two
  # GPUs or more, -n 2 against -n 1 --data.virtual_ranks=2 (fp32, within 1e-4: the GPUs' reduction order
  # differs from the CPU's; bitwise equality is the CPU/MPI tests' claim).
  t0=$SECONDS
  if [ "$ndev" -eq 0 ]; then
    record nccl-train skipped 0 "no CUDA device"
  else
    nccl_train "$build" "$out/nccl" "$ndev" > "$log/nccl-train.log" 2>&1
    case $? in
      0) record nccl-train ok $((SECONDS - t0)) "$(tail -n 1 "$log/nccl-train.log")" ;;
      *) record nccl-train failed $((SECONDS - t0)) "$(tail -n 1 "$log/nccl-train.log") (logs/nccl-train.log)" ;;
    esac
  fi

  # 6. the GPU's dense bf16 peak, measured: an 8192^3 matmul through python3's torch.
  t0=$SECONDS
  if [ "$ndev" -eq 0 ]; then
    record peak skipped 0 "no CUDA device"
  elif python3 - > "$out/peak.json" 2> "$log/peak.err" <<'EOF'
import json, torch
n, reps = 8192, 20
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(3):
    a @ b
torch.cuda.synchronize()
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
start.record()
for _ in range(reps):
    a @ b
end.record()
torch.cuda.synchronize()
s = start.elapsed_time(end) / 1e3 / reps
print(json.dumps({"n": n, "seconds": s, "tflops": 2 * n**3 / s / 1e12, "device": torch.cuda.get_device_name()}))
EOF
  then
    record peak ok $((SECONDS - t0)) "$(python3 -c 'import json,sys; print("%.0f TFLOP/s bf16 (8192^3 matmul)" % json.load(sys.stdin)["tflops"])' < "$out/peak.json")"
  else
    record peak failed $((SECONDS - t0)) "matmul failed (logs/peak.err)"
  fi

  # 7. the bf16 training step of the 1B-shaped model (bench_train_step's llama1b_layers shape at the
  # full 16 layers, batch 4 x 512 tokens): tokens/s, and MFU = model FLOPs per second over the dense
  # bf16 peak measured in step 6. The bench also records its own at::mm peak on the device.
  t0=$SECONDS
  local bench=$build/bench/bench_train_step rc
  if [ ! -x "$bench" ]; then
    record train-step failed 0 "no $bench (Google Benchmark missing from the build? logs/configure.log)"
  elif [ "$ndev" -eq 0 ]; then
    # The CPU side of the step: the bench takes the device options and refuses a device it cannot
    # have with exit status 2.
    "$bench" --device cuda --dtype bf16 --only llama1b_layers --out "$out/train_step.json" > "$log/train-step.log" 2>&1
    rc=$?
    if [ $rc -eq 2 ] && grep -q 'no CUDA device' "$log/train-step.log"; then
      record train-step skipped $((SECONDS - t0)) "no CUDA device (bench_train_step --device cuda refuses it: exit 2)"
    else
      record train-step failed $((SECONDS - t0)) "bench_train_step --device cuda without a device: exit $rc (logs/train-step.log)"
    fi
  elif ! [ -f "$out/peak.json" ]; then
    record train-step skipped 0 "no measured bf16 peak (step peak failed): no MFU"
  elif "$bench" --device cuda --dtype bf16 --only llama1b_layers --layers1b 16 --batch1b 4 --warmup 2 --steps 5 \
         --no-python --out "$out/train_step.json" > "$log/train-step.log" 2>&1 &&
       msg=$(python3 - "$out/train_step.json" "$out/peak.json" 2>>"$log/train-step.log" <<'EOF'
import json, sys
r, peak = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
s = r["llama1b_layers"]
tflops = s["gflop_per_step"] / s["cpp"]["best_s"] / 1e3
s["model_tflop_per_s"] = tflops
s["mfu"] = tflops / peak["tflops"]
r["peak_tflops_bf16"] = peak["tflops"]
json.dump(r, open(sys.argv[1], "w"), indent=2)
print("%d layers, %d x %d tokens: %.0f tokens/s, %.1f model TFLOP/s, MFU %.1f %% of %.0f TFLOP/s"
      % (s["num_hidden_layers"], s["batch"], s["seq_len"], s["cpp"]["tokens_per_s"], tflops,
         100 * s["mfu"], peak["tflops"]))
EOF
       ); then
    record train-step ok $((SECONDS - t0)) "$msg"
  else
    record train-step failed $((SECONDS - t0)) "bench_train_step failed (logs/train-step.log)"
  fi
  finish "$out"
}

# nccl_train BUILD WORK NDEV: prints what it checked; the last line is the summary.
nccl_train() {
  local build=$1 work=$2 ndev=$3 data=$2/data
  # unpacked packages have no alternatives link named mpirun
  local mpi
  mpi=$(command -v mpiexec.openmpi || command -v mpirun) || { echo "no mpiexec.openmpi or mpirun"; return 1; }
  local mpirun=("$mpi" --allow-run-as-root --oversubscribe --bind-to none)
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
  rm -rf "$work" && mkdir -p "$work"
  "$build/prospect_data" synth --out "$data" --videos 20 --dim 16 || { echo "prospect_data synth failed"; return 1; }
  local common=(--data.train="$data/train.h5" --data.val="$data/val.h5" --data.test="$data/test.h5"
    --data.tokenizer="$data/tokenizer.model" --data.max_seq_len=256 --model.hidden_size=64
    --model.intermediate_size=128 --model.num_hidden_layers=2 --model.num_attention_heads=2
    --model.num_key_value_heads=1 --train.micro_batch_size=2 --train.val_every=0 --train.log_every=1
    --optim.warmup_steps=3 --model.device=cuda --model.dtype=fp32 --dist.backend=nccl)
  "${mpirun[@]}" -n 1 "$build/prospect_train" "${common[@]}" --run-dir "$work/one" --train.max_steps=1 \
    > "$work/one.log" 2>&1 || { cat "$work/one.log"; echo "one NCCL training step failed"; return 1; }
  grep -q 'data plane: NCCL [0-9.]* on cuda:0' "$work/one.log" ||
    { cat "$work/one.log"; echo "no 'data plane: NCCL ... on cuda:0' line in the log"; return 1; }
  local line
  line=$(grep -m1 'data plane: NCCL' "$work/one.log" | sed 's/.*data plane: /data plane: /')
  if [ "$ndev" -lt 2 ]; then
    echo "one step through the NCCL data plane ($line); one GPU: no -n 2 equivalence"
    return 0
  fi
  "${mpirun[@]}" -n 2 "$build/prospect_train" "${common[@]}" --run-dir "$work/np2" --train.max_steps=5 \
    > "$work/np2.log" 2>&1 || { tail -n 30 "$work/np2.log"; echo "-n 2 over NCCL failed"; return 1; }
  "${mpirun[@]}" -n 1 "$build/prospect_train" "${common[@]}" --run-dir "$work/np1" --train.max_steps=5 \
    --data.virtual_ranks=2 > "$work/np1.log" 2>&1 || { tail -n 30 "$work/np1.log"; echo "-n 1 failed"; return 1; }
  "$build/tests/disttrain/compare_checkpoints" "$work/np2/checkpoints/latest" "$work/np1/checkpoints/latest" 1e-4 ||
    { echo "-n 2 over NCCL and -n 1 --data.virtual_ranks=2 differ by more than 1e-4 after 5 steps"; return 1; }
  echo "one step through the NCCL data plane ($line); -n 2 = -n 1 --data.virtual_ranks=2 within 1e-4 after 5 steps"
}

finish() {
  local out=$1
  python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
steps = [json.loads(l) for l in open(os.path.join(out, "steps.jsonl"))]
torch_info = {}
if os.path.exists(os.path.join(out, "torch.json")):
    torch_info = json.load(open(os.path.join(out, "torch.json")))
complete = all(s["status"] == "ok" for s in steps)
json.dump({"check": "gpu_check", "complete": complete, "torch": torch_info, "steps": steps},
          open(os.path.join(out, "gpu_check.json"), "w"), indent=2)
print()
print(f"{'step':<12} {'status':<8} {'s':>6}  message")
for s in steps:
    print(f"{s['step']:<12} {s['status']:<8} {s['seconds']:>6.0f}  {s['message']}")
print(f"\n{os.path.join(out, 'gpu_check.json')}: " +
      ("complete" if complete else "NOT a complete GPU check (a step was skipped, failed or found no test)"))
EOF
  grep -q '"status": "failed"' "$out/steps.jsonl" && exit 1
  exit 0
}

# ---------------------------------------------------------------------------------------------------
[ $# -ge 1 ] || usage
case "$1" in
  --prepare) [ $# -le 2 ] || usage; prepare "$(if [ $# -eq 2 ]; then abs "$2"; else echo "$repo/gpu-deps"; fi)" ;;
  --deps) [ $# -eq 3 ] || usage; [ -f "$(abs "$2")/MANIFEST" ] || die "$2 is no folder made by --prepare"
          run_check "$(abs "$3")" "$(abs "$2")" ;;
  -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
  -*) usage ;;
  *) [ $# -eq 1 ] || usage
     deps=""; [ -f gpu-deps/MANIFEST ] && deps=$repo/gpu-deps
     run_check "$(abs "$1")" "$deps" ;;
esac
