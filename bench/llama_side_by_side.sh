#!/bin/sh
# llama_side_by_side.sh — qinsbench beside llama.cpp on the same weights, interleaved in one run.
#
# usage: bench/llama_side_by_side.sh QINSBENCH LLAMA_BENCH CHECKPOINT GGUF_PREFIX OUT_CSV
#   env: ROUNDS=2 THREADS="1 2" REPS=2 PP=512 TG=32
#        PAIRS="f32:fp32 bf16:bf16 f16:qins q8_0-outf32:q8_0,qins8 q4_0-outf32:q4_0" (llama type : codecs;
#        codec specs here cannot contain commas, as the CSV fields are split on them)
# GGUF_PREFIX-<type>.gguf must hold CHECKPOINT's weights (made outside the project by the developer tools in
# ../shared/llamacpp: setup.sh builds llama.cpp and converts; see bench/README.md). For each round and
# thread count, each pair runs back to back (llama-bench, then qinsbench bench) so both see the same
# machine state; the table gives the median tok/s over rounds and the qinsbench ÷ llama.cpp ratio.
# The *-outf32 GGUFs keep output and embeddings in F32 as qinsbench does (equal bytes per token).
# Shell and awk only: adapted from ../shared/llamacpp/side_by_side.sh (the lead's developer tool), whose
# Python table step is replaced by the awk below.
set -u
[ $# -eq 5 ] || { echo "usage: $0 QINSBENCH LLAMA_BENCH CHECKPOINT GGUF_PREFIX OUT_CSV" >&2; exit 2; }
QB=$1 LB=$2 M=$3 G=$4 OUT=$5
ROUNDS=${ROUNDS:-2} THREADS=${THREADS:-"1 2"} REPS=${REPS:-2} PP=${PP:-512} TG=${TG:-32}
PAIRS=${PAIRS:-"f32:fp32 bf16:bf16 f16:qins q8_0-outf32:q8_0,qins8 q4_0-outf32:q4_0"}
[ -x "$LB" ] || { echo "$0: $LB: not an executable llama-bench" >&2; exit 2; }
[ -f "$M/config.json" ] || { echo "$0: $M: no config.json (the checkpoint the GGUFs were made from)" >&2; exit 2; }
for pair in $PAIRS; do
  [ -f "$G-${pair%%:*}.gguf" ] || { echo "$0: $G-${pair%%:*}.gguf: missing" >&2; exit 2; }
done
TMP=$(mktemp -d) || exit 2
trap 'rm -rf "$TMP"' EXIT
# One line per run: side,what,threads,test,tok/s
for r in $(seq 1 "$ROUNDS"); do
  for t in $THREADS; do
    for pair in $PAIRS; do
      lt=${pair%%:*} qc=${pair#*:}
      echo "[round $r, $t thread(s)] llama.cpp $lt, qinsbench $qc" >&2
      "$LB" -m "$G-$lt.gguf" -t "$t" -p "$PP" -n "$TG" -r "$REPS" -o csv >"$TMP/l.csv" 2>"$TMP/err" ||
        { echo "$0: llama-bench failed on $G-$lt.gguf:" >&2; cat "$TMP/err" >&2; exit 2; }
      awk -F, -v lt="$lt" 'NR == 1 { for (i = 1; i <= NF; i++) { gsub(/"/, "", $i); c[$i] = i }; next }
        { gsub(/"/, ""); test = $c["n_prompt"] > 0 ? "pp" $c["n_prompt"] : "tg" $c["n_gen"];
          print "llama," lt "," $c["n_threads"] "," test "," $c["avg_ts"] }' "$TMP/l.csv" >>"$TMP/runs"
      "$QB" bench --model "$M" --codec "$qc" --threads "$t" -p "$PP" -n "$TG" -r "$REPS" --format csv \
          >"$TMP/q.csv" 2>"$TMP/err" || { echo "$0: qinsbench bench failed:" >&2; cat "$TMP/err" >&2; exit 2; }
      awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { gsub(/"/, "") } $c["error"] == "" { print "qinsbench," $c["codec"] "," $c["n_threads"] "," $c["test"] "," $c["avg_ts"] }' \
        "$TMP/q.csv" >>"$TMP/runs"
    done
  done
done
cp "$TMP/runs" "$OUT"
# Table: median over rounds per (side, what, threads, test); pairs in PAIRS order.
echo "| test | threads | llama.cpp | tok/s | qinsbench | tok/s | qinsbench ÷ llama.cpp |"
echo "|---|---:|---|---:|---|---:|---:|"
sort -t, -k1,1 -k2,2 -k3,3n -k4,4 -k5,5g "$TMP/runs" | awk -F, -v pairs="$PAIRS" '
  { k = $1 "," $2 "," $3 "," $4; v[k, ++n[k]] = $5; keys[k] = 1; tests[$4] = 1; thr[$3] = 1 }
  function med(k,   m) { m = n[k]; if (!m) return -1; return m % 2 ? v[k, (m + 1) / 2] : (v[k, m / 2] + v[k, m / 2 + 1]) / 2 }
  END {
    np = split(pairs, P, " ")
    for (tst in tests) for (t in thr) for (i = 1; i <= np; i++) {
      split(P[i], lq, ":"); nc = split(lq[2], C, ",")
      for (j = 1; j <= nc; j++) {
        l = med("llama," lq[1] "," t "," tst); q = med("qinsbench," C[j] "," t "," tst)
        if (l < 0 && q < 0) continue
        printf "%s %s %d %d | %s | %s | %s | %s | %s | %s | %s |\n", substr(tst, 1, 2), t, i, j, tst, t, toupper(lq[1]), l < 0 ? "-" : sprintf("%.2f", l),
               C[j], q < 0 ? "-" : sprintf("%.2f", q), (l > 0 && q >= 0) ? sprintf("%.2f", q / l) : "-"
      }
    }
  }' | sort -k1,1r -k2,2n -k3,3n -k4,4n | cut -d' ' -f5-
echo
echo "Medians of $ROUNDS interleaved round(s), $REPS repetition(s) each; raw runs: $OUT."
echo "*-outf32: llama.cpp with output and embeddings in F32, as qinsbench keeps them (equal bytes per token)."
