/* stats.h — the statistics of a run: quantiles (numpy's default linear interpolation), a seeded RNG, paired
 * percentile bootstrap confidence intervals, and the per-token comparison of two logit vectors
 * (KL divergence over the full vocabulary, accumulated in FP64). All deterministic for a given seed. */
#ifndef QB_STATS_H
#define QB_STATS_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* xoshiro256** seeded through splitmix64: same seed, same stream, on every platform. */
typedef qb_rng stats_rng; /* engine/util.h */
void stats_rng_seed(stats_rng *r, uint64_t seed);
uint64_t stats_rng_next(stats_rng *r);
/* Uniform integer in [0, n) (n > 0), without modulo bias. */
uint64_t stats_rng_below(stats_rng *r, uint64_t n);

/* Quantile q in [0,1] of sorted x[0..n) with linear interpolation (numpy.quantile's default); NaN if n == 0. */
double stats_quantile_sorted(const double *x, size_t n, double q);
/* Sorts x in place (ascending; NaNs are not expected). */
void stats_sort(double *x, size_t n);
double stats_mean(const double *x, size_t n);

/* Paired percentile bootstrap: B resamples of n units drawn with replacement; for each, fn receives the
 * multiplicity of every unit (counts[0..n)) and returns the statistic. The 95% interval is the 2.5 and 97.5
 * percentiles of the B statistics. n == 0 → NaN bounds. Resamples whose statistic is NaN are skipped. */
typedef double (*stats_boot_fn)(const uint32_t *counts, size_t n, void *ctx);
qb_status stats_bootstrap(size_t n, int B, uint64_t seed, stats_boot_fn fn, void *ctx, double *lo, double *hi);

/* Σ counts·num / Σ counts·den over units — the ratio-of-sums statistic (a mean per token, per step, …). */
typedef struct { const double *num, *den; } stats_ratio_ctx;
double stats_ratio_fn(const uint32_t *counts, size_t n, void *ctx);
/* exp(Σc·a/Σc·n) − exp(Σc·b/Σc·n): ΔPPL from per-window NLL sums a (codec), b (reference) and counts n. */
typedef struct { const double *a, *b, *cnt; } stats_dppl_ctx;
double stats_dppl_fn(const uint32_t *counts, size_t n, void *ctx);
/* exp((Σc·a − Σc·b)/Σc·n) − 1: the relative perplexity change (a fraction; ×100 for percent) as one statistic,
 * same context as stats_dppl_fn. Both perplexities come from the same resampled windows, so every resample is
 * a ratio of two positive numbers minus 1: the interval is > −1 by construction. (Dividing the bounds of the
 * absolute change by the full-sample reference PPL is not: a resample heavy in hard windows has a large
 * negative absolute change and a large reference PPL of its own — the report showed [−110%, −15%].) */
double stats_dppl_rel_fn(const uint32_t *counts, size_t n, void *ctx);

/* Wilson score interval (95%, z = 1.96) for k successes in n trials; NaN bounds when n == 0. Used for a
 * proportion over few units (survival over 8 prompts) where the bootstrap's interval collapses to a point
 * when every unit agrees. */
void stats_wilson(int64_t k, int64_t n, double *lo, double *hi);

/* One scored token: the reference and the codec logits over the vocabulary, the true next token. */
typedef struct {
    double kl;        /* KL(P_ref ‖ P_codec) in nats, FP64 accumulation */
    double nll_ref;   /* −log P_ref(target) */
    double nll_codec; /* −log P_codec(target) */
    int top_ref, top_codec;
    double dp_top;    /* P_codec(top_ref) − P_ref(top_ref) */
} stats_token;
void stats_compare_logits(const float *ref, const float *codec, int vocab, int target, stats_token *out);
/* −log softmax(logits)[target] in FP64. */
double stats_nll(const float *logits, int vocab, int target);

#endif
