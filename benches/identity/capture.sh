#!/usr/bin/env bash
# Capture every output a refactor must leave byte-identical (issue 38's acceptance), so that
# `diff -r BEFORE AFTER` is the check. Run it once with binaries built from the old tree and
# once with the new:
#
#   cargo build -p experiments --bins && cp -r target/debug /tmp/bin_before   # old tree
#   benches/identity/capture.sh /tmp/bin_before /tmp/out_before
#   cargo build -p experiments --bins                                          # new tree
#   benches/identity/capture.sh target/debug /tmp/out_after
#   diff -r /tmp/out_before /tmp/out_after
#
# What it writes under OUT (timings and absolute paths are filtered out of printed text):
#   quickstart/  the default quickstart's table (stdout) and plots/quickstart.{csv,md}
#   sweep/       a small digits sweep's results.csv and its Figure 2 CSV and Markdown
#   quick/       `figures --quick`'s CSV and Markdown (Fashion-MNIST)
#   theory/      `theory --quick`'s CSVs and report.md
#   dry/         every cifar10 and imagenet preset's --dry-run, plain and with overrides
#   fc/          a Fashion-MNIST FC run's checkpoint and summary bytes
# PARTS="dry_runs fc_run" picks parts (the functions below). Needs Debian's dataset-fashion-mnist for quick/ and fc/.
set -euo pipefail
export RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0
BIN=$(realpath "$1")
OUT=$(realpath -m "$2")
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# printed text without the lines that carry time or the scratch folder
# a results.csv without its wall-time column (the one column a repeated sweep changes)
no_seconds() {
    python3 -c 'import csv,sys
r=list(csv.reader(open(sys.argv[1])))
i=r[0].index("seconds")
csv.writer(sys.stdout,lineterminator="\n").writerows([x[:i]+x[i+1:] for x in r])' "$1"
}
clean() { grep -vE '[0-9]+(\.[0-9]+)? ?(s|ms|min|h)\b|elapsed|took|img/s|steps/s' | sed "s#$WORK#WORK#g"; }

quickstart() {
    mkdir -p "$OUT/quickstart"
    "$BIN/quickstart" --plots "$WORK/qs_plots" --runs "$WORK/qs_runs" | clean >"$OUT/quickstart/stdout.txt"
    cp "$WORK/qs_plots/quickstart.csv" "$WORK/qs_plots/quickstart.md" "$OUT/quickstart/"
}

digits_sweep() {
    mkdir -p "$OUT/sweep"
    cat >"$WORK/digits_sweep.toml" <<'EOF'
description = "Synthetic-size check of the sweep's outputs: digits, FC, two widths, two seeds."
figure = 2

[base]
dataset = "digits"
model = "fc"
epochs = 3
batch_size = 64
sparsity = 0.5
rerand_freq = 20
rerand_lambda = 0.1

[grid]
width = [0.25, 0.5]
seed = [1, 2]

[experiments.digits_ku_sgd]
method = "sgd"
lr = 0.01
sparsity = 0.0

[experiments.digits_ku_edgepopup]
method = "edge-popup"

[experiments.digits_ku_iterand]
method = "iterand"
EOF
    "$BIN/sweep" -q --out "$WORK/sweep" --jobs 2 "$WORK/digits_sweep.toml" >/dev/null
    no_seconds "$WORK/sweep/digits_sweep/results.csv" >"$OUT/sweep/results.csv"
    "$BIN/figures" -q --results "$WORK/sweep" --out "$WORK/sweep_plots" | clean >"$OUT/sweep/figures.txt"
    find "$WORK/sweep_plots" -name '*.csv' -o -name '*.md' | while read -r f; do cp "$f" "$OUT/sweep/"; done
}

figures_quick() {
    mkdir -p "$OUT/quick"
    (cd "$WORK" && "$BIN/figures" -q --quick --results "$WORK/quick_runs" --out "$WORK/quick_plots" --jobs 2) \
        | clean >"$OUT/quick/stdout.txt"
    for f in "$WORK/quick_runs"/*/results.csv; do
        no_seconds "$f" >"$OUT/quick/$(basename "$(dirname "$f")").csv"
    done
    find "$WORK/quick_plots" -name '*.csv' -o -name '*.md' | while read -r f; do cp "$f" "$OUT/quick/"; done
}

theory_quick() {
    "$BIN/theory" --quick --out "$WORK/theory" >/dev/null
    mkdir -p "$OUT/theory"
    cp "$WORK/theory"/*.csv "$WORK/theory/report.md" "$OUT/theory/"
}

dry_runs() {
    mkdir -p "$OUT/dry"
    for bin in cifar10 imagenet; do
        "$BIN/$bin" --list-presets >"$OUT/dry/${bin}_list.txt"
        for p in $("$BIN/$bin" --list-presets | awk '$1 ~ /^[a-z0-9_]+$/ {print $1}'); do
            "$BIN/$bin" --preset "$p" --dry-run >"$OUT/dry/${bin}_$p.txt" 2>&1 || true
            "$BIN/$bin" --preset "$p" --dry-run --width 0.5 --seed 3 --set epochs=12 --set lr=0.05 \
                >"$OUT/dry/${bin}_${p}_set.txt" 2>&1 || true
        done
    done
}

fc_run() {
    mkdir -p "$OUT/fc"
    "$BIN/train" -q --dataset fashion-mnist --data "$FMNIST" --model fc --method iterand --width 0.25 \
        --sparsity 0.5 --epochs 1 --rerand-freq 100 --seed 5 --out "$WORK/fc" >/dev/null
    (cd "$WORK/fc" && find . -name '*.safetensors' -o -name 'config.toml' | sort |
        while read -r f; do sha256sum "$f"; done) >"$OUT/fc/sha256.txt"
    # the checkpoint's record without its wall-clock time
    sed -E 's/"elapsed_seconds": ?[0-9.eE+-]+,?//; s/"checksum": "[^"]*"//' "$WORK/fc/checkpoints/last.json" >"$OUT/fc/last.json"
}

# PARTS picks some of them (default: all)
for part in ${PARTS:-dry_runs theory_quick fc_run quickstart digits_sweep figures_quick}; do
    "$part"
done
echo "captured under $OUT"
