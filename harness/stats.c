/* stats.c — quantiles, RNG, bootstrap and logit comparison (see stats.h). Plain loops in a fixed order:
 * results never depend on threads or scheduling. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

void stats_rng_seed(stats_rng *r, uint64_t seed) { qb_rng_seed(r, seed); }
uint64_t stats_rng_next(stats_rng *r) { return qb_rng_next(r); }

uint64_t stats_rng_below(stats_rng *r, uint64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do x = stats_rng_next(r);
    while (x >= lim);
    return x % n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void stats_sort(double *x, size_t n) { qsort(x, n, sizeof *x, cmp_double); }

double stats_quantile_sorted(const double *x, size_t n, double q) {
    if (!n) return NAN;
    double h = q * (double)(n - 1);
    size_t i = (size_t)floor(h);
    if (i >= n - 1) return x[n - 1];
    return x[i] + (h - (double)i) * (x[i + 1] - x[i]);
}

double stats_mean(const double *x, size_t n) {
    if (!n) return NAN;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

qb_status stats_bootstrap(size_t n, int B, uint64_t seed, stats_boot_fn fn, void *ctx, double *lo, double *hi) {
    *lo = *hi = NAN;
    if (!n || B <= 0) return QB_OK;
    uint32_t *counts = qb_malloc(n * sizeof *counts, "bootstrap counts");
    double *stat = qb_malloc((size_t)B * sizeof *stat, "bootstrap statistics");
    if (!counts || !stat) {
        free(counts);
        free(stat);
        return QB_ERR_NOMEM;
    }
    stats_rng r;
    stats_rng_seed(&r, seed);
    size_t m = 0;
    for (int b = 0; b < B; b++) {
        for (size_t i = 0; i < n; i++) counts[i] = 0;
        for (size_t i = 0; i < n; i++) counts[stats_rng_below(&r, n)]++;
        double v = fn(counts, n, ctx);
        if (!isnan(v)) stat[m++] = v;
    }
    stats_sort(stat, m);
    *lo = stats_quantile_sorted(stat, m, 0.025);
    *hi = stats_quantile_sorted(stat, m, 0.975);
    free(counts);
    free(stat);
    return QB_OK;
}

double stats_ratio_fn(const uint32_t *counts, size_t n, void *ctx) {
    const stats_ratio_ctx *c = ctx;
    double a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        a += counts[i] * c->num[i];
        b += counts[i] * c->den[i];
    }
    return b > 0 ? a / b : NAN;
}

/* The resample's Σ nll_codec (*a), Σ nll_ref (*b) and Σ tokens (*k): each window counted as often as drawn. */
static void dppl_sums(const uint32_t *counts, size_t n, const stats_dppl_ctx *c, double *a, double *b, double *k) {
    *a = *b = *k = 0;
    for (size_t i = 0; i < n; i++) {
        *a += counts[i] * c->a[i];
        *b += counts[i] * c->b[i];
        *k += counts[i] * c->cnt[i];
    }
}

double stats_dppl_fn(const uint32_t *counts, size_t n, void *ctx) {
    double a, b, k;
    dppl_sums(counts, n, ctx, &a, &b, &k);
    return k > 0 ? exp(a / k) - exp(b / k) : NAN;
}

double stats_dppl_rel_fn(const uint32_t *counts, size_t n, void *ctx) {
    double a, b, k;
    dppl_sums(counts, n, ctx, &a, &b, &k);
    return k > 0 ? expm1((a - b) / k) : NAN;
}

void stats_wilson(int64_t k, int64_t n, double *lo, double *hi) {
    if (n <= 0) {
        *lo = *hi = NAN;
        return;
    }
    const double z = 1.959963984540054;
    double p = (double)k / (double)n, z2n = z * z / (double)n;
    double c = (p + z2n / 2) / (1 + z2n), h = z * sqrt(p * (1 - p) / (double)n + z2n / (4 * (double)n)) / (1 + z2n);
    *lo = k == 0 ? 0.0 : fmax(0.0, c - h); /* exact ends: the formula gives them up to rounding */
    *hi = k == n ? 1.0 : fmin(1.0, c + h);
}

/* max and log Σ exp(x − max) in FP64; argmax with ties to the lowest id (torch.argmax). */
static double log_sum_exp(const float *x, int n, int *arg) {
    double mx = x[0];
    int a = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > mx) {
            mx = x[i];
            a = i;
        }
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    if (arg) *arg = a;
    return mx + log(s);
}

double stats_nll(const float *logits, int vocab, int target) {
    return log_sum_exp(logits, vocab, NULL) - (double)logits[target];
}

void stats_compare_logits(const float *ref, const float *codec, int vocab, int target, stats_token *out) {
    int tr, tc;
    double lr = log_sum_exp(ref, vocab, &tr), lc = log_sum_exp(codec, vocab, &tc);
    double kl = 0;
    for (int i = 0; i < vocab; i++) {
        double a = (double)ref[i] - lr, b = (double)codec[i] - lc;
        kl += exp(a) * (a - b);
    }
    out->kl = kl;
    out->nll_ref = lr - (double)ref[target];
    out->nll_codec = lc - (double)codec[target];
    out->top_ref = tr;
    out->top_codec = tc;
    out->dp_top = exp((double)codec[tr] - lc) - exp((double)ref[tr] - lr);
}
