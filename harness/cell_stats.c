/* cell_stats.c — SummaryRow statistics of one cell (see cell_stats.h, definitions in docs/results.md). */
#include "cell_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static int cmp_f32(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double median_f32(const float *x, size_t n, qb_status *st) {
    if (!n) return NAN;
    float *c = qb_malloc(n * sizeof *c, "flip margins");
    if (!c) {
        *st = QB_ERR_NOMEM;
        return NAN;
    }
    memcpy(c, x, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_f32);
    double m = n % 2 ? c[n / 2] : 0.5 * ((double)c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

qb_status cell_greedy_stats(const CellGreedy *g, int B, uint64_t seed, SummaryRow *row) {
    int P = g->n_prompts, T = g->steps;
    row->n_prompts = P;
    row->steps = T;
    row->n_flips = (int64_t)g->n_flips;
    if (P <= 0) return QB_OK;
    double *one = qb_malloc((size_t)P * sizeof *one, "greedy stats"), *fd = qb_malloc((size_t)P * sizeof *fd, "greedy stats");
    qb_status st = QB_OK;
    if (!one || !fd) {
        st = QB_ERR_NOMEM;
        goto out;
    }
    int64_t survived = 0;
    for (int p = 0; p < P; p++) {
        one[p] = 1.0;
        fd[p] = g->first_div[p];
        survived += g->first_div[p] >= T;
    }
    /* Every prompt has T steps: the mean of per-prompt fractions is the pooled fraction. */
    row->match_rate = stats_mean(g->match, (size_t)P);
    row->tf_agreement = stats_mean(g->agree, (size_t)P);
    row->prefix_len_mean = stats_mean(fd, (size_t)P);
    row->survival_full = (double)survived / P;
    stats_wilson(survived, P, &row->survival_full_lo, &row->survival_full_hi);
    /* One seed for the three: the same resampled prompts for every greedy CI. */
    stats_ratio_ctx rc = {g->match, one};
    if ((st = stats_bootstrap((size_t)P, B, seed, stats_ratio_fn, &rc, &row->match_rate_lo, &row->match_rate_hi)))
        goto out;
    rc.num = g->agree;
    if ((st = stats_bootstrap((size_t)P, B, seed, stats_ratio_fn, &rc, &row->tf_agreement_lo, &row->tf_agreement_hi)))
        goto out;
    rc.num = fd;
    if ((st = stats_bootstrap((size_t)P, B, seed, stats_ratio_fn, &rc, &row->prefix_len_mean_lo,
                              &row->prefix_len_mean_hi)))
        goto out;
    row->flip_margin_median = median_f32(g->flip_margin, g->n_flips, &st);
out:
    free(one);
    free(fd);
    return st;
}

qb_status cell_ppl_stats(const CellPpl *p, int B, uint64_t seed, SummaryRow *row) {
    int NW = p->n_windows;
    int64_t N = p->n_tokens;
    snprintf(row->ppl_kind, sizeof row->ppl_kind, "%s", p->random_ids ? "random_ids" : "text");
    row->n_windows = NW;
    row->n_tokens = N;
    if (NW <= 0 || N <= 0) return QB_OK;
    qb_status st = QB_OK;
    double *wsame = qb_calloc((size_t)NW, sizeof *wsame, "window same_top"),
           *sorted = qb_malloc((size_t)N * sizeof *sorted, "kl sorted");
    if (!wsame || !sorted) {
        st = QB_ERR_NOMEM;
        goto out;
    }
    double skl = 0, ssame = 0, sdp2 = 0, snll = 0, sref = 0;
    int64_t j = 0;
    for (int k = 0; k < NW; k++) {
        for (int64_t e = j + (int64_t)p->wcnt[k]; j < e && j < N; j++) wsame[k] += p->same[j];
        skl += p->wkl[k];
        ssame += wsame[k];
        snll += p->wnll[k];
        sref += p->wref[k];
    }
    if (j != N) {
        st = qb_errorf(QB_ERR_INTERNAL, "perplexity: windows count %lld tokens, expected %lld", (long long)j, (long long)N);
        goto out;
    }
    for (int64_t t = 0; t < N; t++) sdp2 += p->dp[t] * p->dp[t];
    row->kl_mean = skl / N;
    row->same_top = ssame / N;
    row->rms_dp = sqrt(sdp2 / N);
    /* One seed for every window statistic: the same resampled windows (paired codec/reference, too). */
    stats_ratio_ctx rc = {p->wkl, p->wcnt};
    if ((st = stats_bootstrap((size_t)NW, B, seed, stats_ratio_fn, &rc, &row->kl_mean_lo, &row->kl_mean_hi))) goto out;
    rc.num = wsame;
    if ((st = stats_bootstrap((size_t)NW, B, seed, stats_ratio_fn, &rc, &row->same_top_lo, &row->same_top_hi))) goto out;
    memcpy(sorted, p->kl, (size_t)N * sizeof *sorted);
    stats_sort(sorted, (size_t)N);
    row->kl_median = stats_quantile_sorted(sorted, (size_t)N, 0.5);
    row->kl_p90 = stats_quantile_sorted(sorted, (size_t)N, 0.9);
    row->kl_p99 = stats_quantile_sorted(sorted, (size_t)N, 0.99);
    row->kl_p999 = stats_quantile_sorted(sorted, (size_t)N, 0.999);
    row->kl_max = sorted[N - 1];
    /* A trained model on random ids scores ~2x a uniform guess: noise in the weights flattens its confident
     * wrong guesses and "improves" perplexity (qins −39% on the gate). Such a perplexity measures nothing. */
    if (!p->random_ids) {
        row->ppl = exp(snll / N);
        row->ref_ppl = exp(sref / N);
        row->delta_ppl = row->ppl - row->ref_ppl;
        row->delta_ppl_rel = expm1((snll - sref) / N);
        stats_dppl_ctx dc = {p->wnll, p->wref, p->wcnt};
        if ((st = stats_bootstrap((size_t)NW, B, seed, stats_dppl_fn, &dc, &row->delta_ppl_lo, &row->delta_ppl_hi)))
            goto out;
        if ((st = stats_bootstrap((size_t)NW, B, seed, stats_dppl_rel_fn, &dc, &row->delta_ppl_rel_lo,
                                  &row->delta_ppl_rel_hi)))
            goto out;
    }
out:
    free(wsame);
    free(sorted);
    return st;
}
