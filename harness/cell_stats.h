/* cell_stats.h — the summary statistics of one cell: turns the raw per-prompt and per-window measurements of
 * run_cell() into the SummaryRow numbers and their confidence intervals (definitions: docs/results.md). Kept
 * apart from the passes that produce the measurements, so how a number is estimated is read in one place. */
#ifndef QB_CELL_STATS_H
#define QB_CELL_STATS_H

#include <stddef.h>
#include <stdint.h>
#include "h5_results.h"
#include "util.h"

/* Below this many resampling units a CI is reported but flagged weak (show, report): a percentile bootstrap
 * over 8 prompts can only take a handful of distinct values. */
#define CELL_WEAK_N 16

/* Greedy and teacher-forced measurements over P prompts of T steps each. */
typedef struct {
    int n_prompts, steps;
    const double *match;     /* [P] fraction of steps equal to the reference (after a divergence too) */
    const double *agree;     /* [P] teacher-forced agreement */
    const int *first_div;    /* [P] first differing step, T when none */
    const float *flip_margin; /* [n_flips] the reference's top-1 − top-2 margin at each teacher-forced flip */
    size_t n_flips;
} CellGreedy;

/* Fills n_prompts, steps, match_rate, prefix_len_mean, survival_full, tf_agreement (each with its CI: bootstrap
 * over prompts; Wilson for survival), n_flips and flip_margin_median. */
qb_status cell_greedy_stats(const CellGreedy *g, int B, uint64_t seed, SummaryRow *row);

/* Perplexity-window measurements: per-window sums (the bootstrap units) and per-token arrays in window order. */
typedef struct {
    int n_windows;
    int64_t n_tokens;
    const double *wnll, *wref, *wkl, *wcnt; /* [n_windows] Σ nll codec, Σ nll reference, Σ KL, scored tokens */
    const double *kl, *dp;                  /* [n_tokens] per-token KL and P_codec − P_ref of the ref's top */
    const int8_t *same;                     /* [n_tokens] 1 when the argmaxes agree */
    int random_ids;                         /* the corpus is random token ids: no perplexity */
} CellPpl;

/* Fills ppl_kind, n_windows, n_tokens, the KL statistics, same_top (CI over windows) and rms_dp; on a text
 * corpus also ppl, ref_ppl, delta_ppl and delta_ppl_rel with paired bootstrap CIs over windows. On random ids
 * the perplexity fields stay NaN (ppl_kind = "random_ids" says why). */
qb_status cell_ppl_stats(const CellPpl *p, int B, uint64_t seed, SummaryRow *row);

#endif
