#!/usr/bin/env bash
# The H200 runs behind docs/bench-vllm.md (issues 16 and 22), one step per device call:
#   bench/h200_session.sh install   # after the vLLM wheelhouse parts are staged in /tmp/stage (../shared/gpu/README.md)
#   bench/h200_session.sh native    # 51 CUAD contracts that fit 32k: pipeline vs raw vLLM (warm engine)
#   bench/h200_session.sh native-fresh  # the same, and raw vLLM on a new engine
#   bench/h200_session.sh nightly   # 200 documents (the 51 and page-rotated copies), summary, clauses and a user task:
#                                   # the pipeline alone, starts included
#   bench/h200_session.sh nightly-raw  # then raw vLLM on them in a process of its own (import, start, LLM.chat)
#   bench/h200_session.sh yarn      # the 9 that need YaRN: pipeline vs raw vLLM
#   bench/h200_session.sh sigint    # docpipe run on the native folder, SIGINT to its process group after 5 results
#   bench/h200_session.sh row-8b | row-14b | row-fp8 | row-fp8kv   # configuration rows, raw vLLM on the native
#                                   # folder: Qwen3-8B bf16; Qwen3-14B bf16; Qwen3-14B fp8 weights; Qwen3-14B bf16
#                                   # with an fp8 KV cache (fp8 rows: one repeat)
#   bench/h200_session.sh row-8b-real | row-14b-real | row-fp8-real | row-fp8kv-real   # the same rows, every reply
#                                   # decoding exactly its room (real lengths)
#   bench/h200_session.sh native-real | yarn-real   # pipeline vs raw vLLM with every reply decoding its room; the
#                                   # pipeline parses and cites the model-free engine's reply text in its place
# Carried: bench/.cache (cuad60/{native,yarn}: the 60 contracts of cuad-dev split by route; qwen3-14b.config.json)
# and .gpu/extra (docpipe's own dependencies as cp312 wheels). Output: JSON under $OUT.
# Production configuration: CUDA graphs on (no --enforce-eager), reply room as for real replies (summary 800,
# clauses 2,500 tokens: the most a reply may decode; dummy weights under the grammar mostly stop far sooner),
# Qwen3-14B bf16.
set -euo pipefail
steps="install | native | native-fresh | nightly | nightly-raw | yarn | sigint"
steps+=" | row-8b | row-14b | row-fp8 | row-fp8kv | row-8b-real | row-14b-real | row-fp8-real | row-fp8kv-real"
steps+=" | native-real | yarn-real"
step=${1:?$steps}
out=${OUT:-/tmp/out}
export PYTHONPATH=/tmp/site:$PWD VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
model=/tmp/m14
room=summary=800,clauses=2500
# --per-request-seeds: the pipeline's and raw vLLM's passes decode the same replies (gpu_vllm.py, KeptEngine)
dummy=(--load-format dummy --reply-room $room --per-request-seeds)
common=(--model "$model" "${dummy[@]}" --docs bench/.cache/cuad60)
row=("${dummy[@]}" --docs bench/.cache/cuad60/native)
# The nightly batch also runs a user task (prompts/tasks/contract_terms.toml: typed fields, one item per contract),
# on Qwen3-8B: with the 14B its 600 requests did not fit the device's 10-minute call (164 of 200 in 540 s).
nightly=(--load-format dummy --reply-room $room,contract_terms=500 --tasks summary,clauses,contract_terms
         --per-request-seeds)
case $step in
  install)
    cat /tmp/stage/p* > /tmp/wh.tar && mkdir -p /tmp/wh && tar xf /tmp/wh.tar -C /tmp/wh
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/wh/*.whl .gpu/extra/*.whl
    python3 bench/dummy_model.py bench/.cache/qwen3-14b.config.json "$model"
    python3 bench/dummy_model.py bench/.cache/qwen3-8b.config.json /tmp/m8
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv" ;;
  native)
    python3 bench/gpu_vllm.py run "${common[@]}" --out /tmp/res-native --json "$out/native.json" --groups native \
      --steps raw ;;
  native-fresh)  # as native, and raw vLLM on a new engine too (step 5)
    python3 bench/gpu_vllm.py run "${common[@]}" --out /tmp/res-native --json "$out/native.json" --groups native \
      --steps raw --fresh-raw ;;
  native-real | yarn-real)  # replies exactly as long as their room (gpu_vllm.py --force-reply-lengths)
    g=${step%-real}
    python3 bench/gpu_vllm.py run "${common[@]}" --out "/tmp/res-$step" --json "$out/$step.json" --groups "$g" \
      --steps raw,summary_only --force-reply-lengths ;;
  nightly)
    python3 bench/gpu_vllm.py nightly-docs bench/.cache/cuad60/native /tmp/nightly/nightly --count 200
    python3 bench/gpu_vllm.py run --model /tmp/m8 "${nightly[@]}" --docs /tmp/nightly --out /tmp/res-nightly \
      --json "$out/nightly-pipeline.json" --groups nightly --steps none
    cp "$out/nightly-pipeline.json" /tmp/ ;;
  nightly-raw)
    python3 bench/gpu_vllm.py raw --model /tmp/m8 "${nightly[@]}" --docs /tmp/nightly/nightly \
      --json "$out/nightly-raw.json" --pipeline /tmp/nightly-pipeline.json ;;
  yarn)
    python3 bench/gpu_vllm.py run "${common[@]}" --out /tmp/res-yarn --json "$out/yarn.json" --groups yarn \
      --steps raw ;;
  sigint)
    python3 bench/gpu_stream.py bench/.cache/cuad60/native /tmp/res-sigint --json "$out/sigint.json" --interrupt-after 5 \
      -- --engine vllm --model "$model" --load-format dummy ;;
  row-*)  # raw vLLM rows; with -real every reply decodes exactly its room (800 / 2,500): no grammar, EOS ignored
    real=(); [[ $step == *-real ]] && real=(--force-reply-lengths)
    case ${step%-real} in
      row-8b) shape=(--model /tmp/m8 --repeat 2) ;;
      row-14b) shape=(--model "$model" --repeat 2) ;;
      row-fp8) shape=(--model "$model" --repeat 1 --quantization fp8) ;;
      row-fp8kv) shape=(--model "$model" --repeat 1 --kv-cache-dtype fp8) ;;
      *) echo "no such step: $step ($steps)" >&2; exit 2 ;;
    esac
    python3 bench/gpu_vllm.py rows "${shape[@]}" "${row[@]}" "${real[@]}" --json "$out/$step.json" ;;
  *) echo "no such step: $step ($steps)" >&2; exit 2 ;;
esac
