/* gate.h — the regression gate: checks a results file against a thresholds file (per model, codec and KV
 * mode: minimum greedy match and teacher-forced agreement, maximum KL mean and ΔPPL, exact losslessness
 * where the codec is the reference, and bits/weight exactly as the codec defines them). */
#ifndef QB_GATE_H
#define QB_GATE_H

#include <stdio.h>
#include "report_data.h"

typedef struct {
    char *model, *codec, *kv;
    int exact;                 /* fp32 vs fp32: match 1, agreement 1, KL 0, ΔPPL 0 exactly */
    double min_match_rate, min_tf_agreement, max_kl_mean, max_delta_ppl; /* NaN = no such check */
} GateCell;

typedef struct {
    GateCell *cells;
    int n;
} GateSpec;

/* Reads a thresholds file (strict: unknown keys and wrong types are errors naming the key path). */
qb_status gate_load(const char *path, GateSpec *g);
void gate_free(GateSpec *g);

/* Runs every check, printing one line each to `out` (PASS/FAIL, cell, check, value, threshold). Cells of the
 * results that have no thresholds fail too (a new codec must get thresholds). *n_fail counts failures. */
qb_status gate_check(const RdFile *f, const GateSpec *g, FILE *out, int *n_checks, int *n_fail);

/* Bits per weight of the attention + MLP projections of the model in `model_dir` under `codec_spec`, from
 * the codecs' definitions (bits per code, per-row f32 scale, block padding) — independent of the engine's
 * storage code, which is what it checks. */
qb_status gate_expected_bits_linear(const char *model_dir, const char *codec_spec, double *bits);

/* Writes a thresholds file derived from measured results with the margins stated in its _comment. */
qb_status gate_suggest(const RdFile *f, FILE *out);

#endif
