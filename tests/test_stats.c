/* test_stats.c — the statistics behind every headline number, on synthetic data with known answers:
 * quantiles as numpy computes them, the seeded bootstrap (deterministic, interval around the estimate,
 * degenerate data gives a zero-width interval), KL divergence (0 exactly for identical logits, a hand-worked
 * two-token value), the sliding-window protocol, and the strict config parser's error messages. */
#include <check.h>
#include "check_main.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell_stats.h"
#include "expconfig.h"
#include "run_cell.h"
#include "stats.h"

START_TEST(quantiles_like_numpy) {
    double x[] = {5, 1, 4, 2, 3};
    stats_sort(x, 5);
    /* numpy.quantile([1,2,3,4,5], q) */
    ck_assert_double_eq_tol(stats_quantile_sorted(x, 5, 0.5), 3.0, 1e-15);
    ck_assert_double_eq_tol(stats_quantile_sorted(x, 5, 0.9), 4.6, 1e-12);
    ck_assert_double_eq_tol(stats_quantile_sorted(x, 5, 0.99), 4.96, 1e-12);
    ck_assert_double_eq(stats_quantile_sorted(x, 5, 1.0), 5.0);
    ck_assert_double_eq(stats_quantile_sorted(x, 5, 0.0), 1.0);
    ck_assert(isnan(stats_quantile_sorted(x, 0, 0.5)));
    double one = 7;
    ck_assert_double_eq(stats_quantile_sorted(&one, 1, 0.999), 7.0);
}
END_TEST

START_TEST(bootstrap_deterministic_and_sane) {
    enum { N = 40 };
    double num[N], den[N];
    stats_rng r;
    stats_rng_seed(&r, 42);
    double s = 0;
    for (int i = 0; i < N; i++) {
        num[i] = (double)(stats_rng_next(&r) % 1000) / 1000.0;
        den[i] = 1;
        s += num[i];
    }
    stats_ratio_ctx c = {num, den};
    double lo1, hi1, lo2, hi2;
    ck_assert_int_eq(stats_bootstrap(N, 1000, 7, stats_ratio_fn, &c, &lo1, &hi1), QB_OK);
    ck_assert_int_eq(stats_bootstrap(N, 1000, 7, stats_ratio_fn, &c, &lo2, &hi2), QB_OK);
    ck_assert(lo1 == lo2 && hi1 == hi2);
    double mean = s / N;
    printf("bootstrap: mean %.4f CI [%.4f, %.4f]\n", mean, lo1, hi1);
    ck_assert(lo1 < mean && mean < hi1);
    /* about ±2 standard errors of a uniform(0,1) mean over 40 units: 2·0.289/√40 ≈ 0.09 */
    ck_assert(hi1 - lo1 > 0.1 && hi1 - lo1 < 0.3);
    /* constant data: zero width */
    for (int i = 0; i < N; i++) num[i] = 1;
    ck_assert_int_eq(stats_bootstrap(N, 200, 7, stats_ratio_fn, &c, &lo1, &hi1), QB_OK);
    ck_assert(lo1 == 1.0 && hi1 == 1.0);
    /* ΔPPL of identical NLL sums is exactly 0 in every resample */
    double a[3] = {10, 20, 30}, cnt[3] = {5, 5, 5};
    stats_dppl_ctx dc = {a, a, cnt};
    ck_assert_int_eq(stats_bootstrap(3, 200, 1, stats_dppl_fn, &dc, &lo1, &hi1), QB_OK);
    ck_assert(lo1 == 0.0 && hi1 == 0.0);
    /* no units: NaN bounds */
    ck_assert_int_eq(stats_bootstrap(0, 200, 1, stats_dppl_fn, &dc, &lo1, &hi1), QB_OK);
    ck_assert(isnan(lo1) && isnan(hi1));
}
END_TEST

START_TEST(kl_exact) {
    float a[5] = {1.5f, -2.0f, 0.25f, 3.0f, 0.0f};
    stats_token t;
    stats_compare_logits(a, a, 5, 2, &t);
    ck_assert(t.kl == 0.0);
    ck_assert(t.nll_ref == t.nll_codec);
    ck_assert_int_eq(t.top_ref, 3);
    ck_assert(t.dp_top == 0.0);
    /* two tokens: P = (0.5, 0.5), Q = softmax(0, ln 3) = (0.25, 0.75): KL = 0.5 ln 2 + 0.5 ln(2/3) */
    float p[2] = {0, 0}, q[2] = {0, (float)log(3.0)};
    stats_compare_logits(p, q, 2, 1, &t);
    double want = 0.5 * log(2.0) + 0.5 * log(2.0 / 3.0);
    printf("kl two-token: %.17g want %.17g (worst diff %.3g)\n", t.kl, want, fabs(t.kl - want));
    ck_assert_double_eq_tol(t.kl, want, 1e-7); /* ln 3 rounded to float */
    ck_assert_double_eq_tol(t.nll_ref, log(2.0), 1e-15);
    ck_assert_int_eq(t.top_ref, 0); /* tie → lowest id */
    ck_assert_int_eq(t.top_codec, 1);
    ck_assert_double_eq_tol(t.dp_top, 0.25 - 0.5, 1e-7);
    /* invariance to a shift of all logits */
    float big[3] = {1000.f, 999.f, 998.f}, small[3] = {2.f, 1.f, 0.f};
    stats_compare_logits(big, small, 3, 0, &t);
    ck_assert(fabs(t.kl) < 1e-12);
}
END_TEST

START_TEST(windows_protocol) {
    int64_t *w;
    int n;
    int64_t tok;
    /* 10 tokens, W 4, S 2: [0,4) scores 1..3; [2,6) scores 4,5; [4,8) 6,7; [6,10) 8,9 */
    ck_assert_int_eq(work_windows(10, 4, 2, &w, &n, &tok), QB_OK);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(tok, 9);
    int64_t want[4][3] = {{0, 4, 1}, {2, 6, 4}, {4, 8, 6}, {6, 10, 8}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) ck_assert_int_eq(w[3 * i + j], want[i][j]);
    free(w);
    /* stride = window: disjoint windows; a window's first token has no context in it and is never a
     * target (as in Hugging Face's recipe, where the shift drops it); [8,9) would score nothing: dropped */
    ck_assert_int_eq(work_windows(9, 4, 4, &w, &n, &tok), QB_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(tok, 6);
    ck_assert_int_eq(w[3 * 1 + 0], 4);
    ck_assert_int_eq(w[3 * 1 + 2], 5);
    free(w);
    ck_assert_int_eq(work_windows(1, 4, 4, &w, &n, &tok), QB_ERR_INPUT);
}
END_TEST

static void expect_error(const char *json, const char *needle) {
    ExpConfig c;
    qb_status st = exp_config_parse("t.json", json, &c);
    ck_assert_msg(st == QB_ERR_INPUT, "accepted: %s", json);
    ck_assert_msg(strstr(qb_last_error(), needle), "error '%s' lacks '%s'", qb_last_error(), needle);
}

START_TEST(config_strict) {
    const char *ok = "{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\",\"q4_0\"],"
                     "\"greedy\":{\"prompts\":[[1,2,3],\"hello\"],\"steps\":5},"
                     "\"perplexity\":{\"corpus_ids\":\"ids.txt\",\"window\":8}}";
    ExpConfig c;
    ck_assert_msg(exp_config_parse("t.json", ok, &c) == QB_OK, "%s", qb_last_error());
    ck_assert_str_eq(c.reference, "fp32");
    ck_assert_int_eq(c.n_kv, 1);
    ck_assert_str_eq(c.kv[0], "f32");
    ck_assert_int_eq(c.n_prompts, 2);
    ck_assert_int_eq(c.prompts[0].n_ids, 3);
    ck_assert_str_eq(c.prompts[1].text, "hello");
    ck_assert_int_eq(c.stride, 8);
    ck_assert_int_eq(c.bootstrap, 1000);
    exp_config_free(&c);
    expect_error("{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\"],"
                 "\"greedy\":{\"prompts\":[[1]],\"stepz\":5}}",
                 "greedy.stepz: unknown key");
    expect_error("{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\"],"
                 "\"greedy\":{\"prompts\":[[1]],\"steps\":\"5\"}}",
                 "greedy.steps: expected an integer");
    expect_error("{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":3}],\"codecs\":[\"fp32\"],\"speed\":{}}",
                 "models[0].path: expected a string");
    expect_error("{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\", 4],\"speed\":{}}",
                 "codecs[1]: expected a string");
    expect_error("{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\"],"
                 "\"greedy\":{\"prompts\":[[1, -2]],\"steps\":5}}",
                 "greedy.prompts[0][1]");
    expect_error("{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\"],\"color\":1,\"speed\":{}}",
                 "color: unknown key");
    expect_error("{\"name\":\"x\",\"models\":[],\"codecs\":[\"fp32\"]}", "models");
    expect_error("{\"name\":\"x\",", "not valid JSON");
    expect_error("{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\"],"
                 "\"perplexity\":{\"corpus\":\"a\",\"corpus_ids\":\"b\",\"window\":8}}",
                 "exactly one of corpus, corpus_ids");
    expect_error("{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\"],"
                 "\"perplexity\":{\"corpus\":\"a\",\"window\":8,\"stride\":9}}",
                 "perplexity.stride: 9 is out of range");
    int *ids, n;
    ck_assert_int_eq(exp_parse_ids(" 1, 2 3\n4 ", 10, &ids, &n), 0);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(ids[3], 4);
    free(ids);
    ck_assert_int_eq(exp_parse_ids("1 x", 10, &ids, &n), -1);
    ck_assert_int_eq(exp_parse_ids("11", 10, &ids, &n), -1);
}
END_TEST


/* Windows whose reference perplexity differs by e^9 between easy and hard ones, the codec better on both (by
 * 0.1 nat/token on easy windows, 1 nat/token on hard ones): a resample heavy in hard windows has a large
 * negative absolute ΔPPL and a large reference PPL of its own. The old interval (absolute bounds divided by
 * the full-sample reference PPL) then crosses −100%; the relative statistic bootstrapped as itself cannot. */
START_TEST(relative_dppl_interval_valid) {
    enum { NW = 20, TOK = 10 };
    double a[NW], b[NW], cnt[NW];
    for (int i = 0; i < NW; i++) {
        int hard = i % 2;
        b[i] = TOK * (hard ? 10.0 : 1.0);
        a[i] = TOK * (hard ? 9.0 : 0.9);
        cnt[i] = TOK;
    }
    double sa = 0, sb = 0, sn = 0;
    for (int i = 0; i < NW; i++) sa += a[i], sb += b[i], sn += cnt[i];
    double est = expm1((sa - sb) / sn), ref_ppl = exp(sb / sn);
    stats_dppl_ctx dc = {a, b, cnt};
    uint32_t all1[NW];
    for (int i = 0; i < NW; i++) all1[i] = 1;
    ck_assert_double_eq_tol(stats_dppl_rel_fn(all1, NW, &dc), est, 1e-15);
    double lo, hi, alo, ahi;
    ck_assert_int_eq(stats_bootstrap(NW, 2000, 11, stats_dppl_rel_fn, &dc, &lo, &hi), QB_OK);
    ck_assert_int_eq(stats_bootstrap(NW, 2000, 11, stats_dppl_fn, &dc, &alo, &ahi), QB_OK);
    printf("relative ΔPPL %.2f%% [%.2f%%, %.2f%%]; old method [%.2f%%, %.2f%%]\n", 100 * est, 100 * lo, 100 * hi,
           100 * alo / ref_ppl, 100 * ahi / ref_ppl);
    ck_assert(lo > -1.0 && lo <= est && est <= hi && hi < 0);
    /* the data is a real test: the old interval is impossible on it */
    ck_assert(alo / ref_ppl < -1.0);
    /* every resample lies between the easy and the hard windows' own changes */
    ck_assert(lo >= expm1(-1.0) && hi <= expm1(-0.1));
}
END_TEST

START_TEST(wilson_interval) {
    double lo, hi;
    /* 8 of 8: the lower bound is n / (n + z²) exactly */
    stats_wilson(8, 8, &lo, &hi);
    ck_assert_double_eq_tol(lo, 8 / (8 + 1.959963984540054 * 1.959963984540054), 1e-12);
    ck_assert(hi == 1.0);
    stats_wilson(0, 8, &lo, &hi);
    ck_assert(lo == 0.0);
    ck_assert_double_eq_tol(hi, 1 - 8 / (8 + 1.959963984540054 * 1.959963984540054), 1e-12);
    /* 5 of 10: symmetric around 0.5, Wilson's 0.2366..0.7634 */
    stats_wilson(5, 10, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.23659309, 1e-6);
    ck_assert_double_eq_tol(hi, 0.76340691, 1e-6);
    stats_wilson(0, 0, &lo, &hi);
    ck_assert(isnan(lo) && isnan(hi));
}
END_TEST

/* The cell statistics on hand-made measurements: first divergence and survival (8 prompts of 10 steps, 3 of
 * them never diverge), and a random-id corpus leaving perplexity NaN while KL and same-top are measured. */
START_TEST(cell_stats_greedy_and_ids) {
    enum { P = 8, T = 10 };
    int fd[P] = {10, 2, 10, 5, 0, 10, 7, 1};
    double match[P], agree[P];
    for (int p = 0; p < P; p++) match[p] = agree[p] = fd[p] / (double)T;
    float mg[3] = {0.5f, 0.1f, 0.3f};
    CellGreedy g = {P, T, match, agree, fd, mg, 3};
    SummaryRow r;
    h5r_row_init(&r, "m", "c", "f32", 0);
    ck_assert_int_eq(cell_greedy_stats(&g, 500, 3, &r), QB_OK);
    ck_assert_double_eq_tol(r.prefix_len_mean, 45.0 / 8, 1e-15);
    ck_assert(r.prefix_len_mean_lo < r.prefix_len_mean && r.prefix_len_mean < r.prefix_len_mean_hi);
    ck_assert(r.prefix_len_mean_lo >= 0 && r.prefix_len_mean_hi <= T);
    ck_assert_double_eq(r.survival_full, 3.0 / 8);
    ck_assert(r.survival_full_lo > 0 && r.survival_full_lo < 3.0 / 8 && r.survival_full_hi > 3.0 / 8);
    ck_assert_double_eq_tol(r.flip_margin_median, 0.3, 1e-7);
    ck_assert_int_eq(r.n_flips, 3);

    enum { NW = 4, N = 12 };
    double wnll[NW] = {3, 4, 5, 6}, wref[NW] = {3, 3, 3, 3}, wkl[NW] = {0.3, 0.0, 0.6, 0.3}, wcnt[NW] = {3, 3, 3, 3};
    double kl[N] = {0.1, 0.1, 0.1, 0, 0, 0, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1}, dp[N] = {0};
    int8_t same[N] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0};
    CellPpl pp = {NW, N, wnll, wref, wkl, wcnt, kl, dp, same, 1};
    ck_assert_int_eq(cell_ppl_stats(&pp, 500, 3, &r), QB_OK);
    ck_assert_str_eq(r.ppl_kind, "random_ids");
    ck_assert(isnan(r.ppl) && isnan(r.ref_ppl) && isnan(r.delta_ppl) && isnan(r.delta_ppl_rel) &&
              isnan(r.delta_ppl_rel_lo) && isnan(r.delta_ppl_lo));
    ck_assert_double_eq_tol(r.kl_mean, 1.2 / 12, 1e-15);
    ck_assert_double_eq_tol(r.same_top, 8.0 / 12, 1e-15);
    ck_assert(r.same_top_lo < r.same_top && r.same_top < r.same_top_hi);
    pp.random_ids = 0;
    ck_assert_int_eq(cell_ppl_stats(&pp, 500, 3, &r), QB_OK);
    ck_assert_str_eq(r.ppl_kind, "text");
    ck_assert_double_eq_tol(r.delta_ppl_rel, expm1(6.0 / 12), 1e-12);
    ck_assert_double_eq_tol(r.ppl / r.ref_ppl - 1, r.delta_ppl_rel, 1e-12);
    ck_assert(r.delta_ppl_rel_lo <= r.delta_ppl_rel && r.delta_ppl_rel <= r.delta_ppl_rel_hi);
}
END_TEST

static Suite *stats_suite(void) {
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, quantiles_like_numpy);
    tcase_add_test(tc, bootstrap_deterministic_and_sane);
    tcase_add_test(tc, kl_exact);
    tcase_add_test(tc, windows_protocol);
    tcase_add_test(tc, config_strict);
    tcase_add_test(tc, relative_dppl_interval_valid);
    tcase_add_test(tc, wilson_interval);
    tcase_add_test(tc, cell_stats_greedy_and_ids);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return qb_check_run(stats_suite());
}
