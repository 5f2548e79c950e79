#!/usr/bin/env bash
# The draw bisection of issue 37 (docs/results.md): Conv6 x0.25, IteRand r 0.1, 3 epochs,
# K_per 50, the test accuracy at every 22nd step of the last epoch (726, 748, ..., 1056).
# One job per (cell, seed), PAR (default 2) at a time, one thread each:
#   a  the official code on its own draws
#   b  the official code on our initial weights and scores   (OURS=init)
#   c  the official code on our R coins and fresh values     (OURS=r)
#   d  the official code on our training batches             (OURS=data)
#   e  ours, all of it (our trainer)
#   w  ours with im2col in place of Winograd (--no-winograd): the rounding check
# b, c and d read the seed's dump_draws folder, written once by whichever needs it first.
#
# usage: OFFICIAL=dir DATA=dir OUT=dir PY=python BIN=target/debug BBIN=benches/official \
#            bisect_cells.sh "a b c d e w" "1 2 3 ..."
# OFFICIAL: the official checkout with config.yaml set up as in
# ../shared/reference/official-comparison/README.md and this folder's run_official_*.py and
# replay.py copied in; DATA: the folder mk_fm32.py wrote (bin/ and py/); BIN: where cifar10 and dump_draws are.
# A job whose log already ends in a test accuracy is skipped, so the script can be re-run, and a
# job that another instance has claimed (LOG.claim/) is skipped too, so that instances with
# different CELLS can share the cores. After a crash, remove the stale OUT/*/*.claim folders.
set -euo pipefail
: "${OFFICIAL:?}" "${DATA:?}" "${OUT:?}" "${PY:?}" "${BIN:?}"
CELLS=$1 SEEDS=$2
EVAL_AT=$(seq -s, 726 22 1056)
export OFFICIAL DATA OUT PY BIN EVAL_AT
mkdir -p "$OUT"

job() {
    local cell=$1 s=$2 log="$OUT/$1/s$2.log"
    mkdir -p "$OUT/$cell"
    if grep -qs 'Test Accuracy\|"test_acc"' "$log"; then return 0; fi
    mkdir "$log.claim" 2> /dev/null || return 0 # another instance of this script runs it
    case $cell in
        b | c | d) draws "$s" ;;
    esac
    case $cell in
        a) official "$s" "$log" ;;
        b) DRAWS="$OUT/draws/s$s" OURS=init official "$s" "$log" ;;
        c) DRAWS="$OUT/draws/s$s" OURS=r official "$s" "$log" ;;
        d) DRAWS="$OUT/draws/s$s" OURS=data official "$s" "$log" ;;
        e) ours "$s" "$OUT/e/s$s" > "$log" 2>&1 ;;
        w) ours "$s" "$OUT/w/s$s" --no-winograd > "$log" 2>&1 ;;
    esac
    rmdir "$log.claim"
    echo "$(date +%T) done $cell seed $s"
}

# The seed's draws (init.safetensors, x.f32, ...), dumped once under a lock.
draws() {
    local d="$OUT/draws/s$1"
    mkdir -p "$OUT/draws"
    (
        flock 9
        [ -f "$d/done" ] && exit 0
        RAYON_NUM_THREADS=1 "$BIN/examples/dump_draws" "$d" "$DATA/bin/cifar-10-batches-bin" "$1" 0.1 3 50
        touch "$d/done"
    ) 9> "$OUT/draws/s$1.lock"
}

official() {
    local out
    out=$(mktemp -d "$OUT/off.XXXXXX")
    (cd "$OFFICIAL" && OMP_NUM_THREADS=1 EVAL_AT=$EVAL_AT "$PY" run_official_curve.py train \
        config.yaml fm_conv6_ku_iterand --model.config_name=conv6x0.25 --conv_sparsity=0.5 \
        --rerand_freq=50 --rerand_lambda=0.1 --lr=0.3 --weight_decay=0.0001 --seed="$1" \
        --output_dir "$out" --force_restart) > "$2.part" 2>&1
    mv "$2.part" "$2"
    rm -rf "$out"
}

ours() {
    local s=$1 run=$2
    shift 2
    RAYON_NUM_THREADS=1 "$BIN/cifar10" --preset figure2_conv6_ku_iterand --width 0.25 --seed "$s" \
        --epochs 3 --set rerand_freq=50 --data "$DATA/bin/cifar-10-batches-bin" \
        --eval-at "$EVAL_AT" --out "$run" --resume never -q "$@"
}
export -f job draws official ours

for s in $SEEDS; do for c in $CELLS; do echo "$c $s"; done; done |
    xargs -P "${PAR:-2}" -L 1 bash -c 'job "$0" "$1"'
