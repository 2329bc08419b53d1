/* test_stats.c — the statistics behind every headline number, on synthetic data with known answers:
 * quantiles as numpy computes them, the seeded bootstrap (deterministic, interval around the estimate,
 * degenerate data gives a zero-width interval), KL divergence (0 exactly for identical logits, a hand-worked
 * two-token value), the sliding-window protocol, and the strict config parser's error messages. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static Suite *stats_suite(void) {
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, quantiles_like_numpy);
    tcase_add_test(tc, bootstrap_deterministic_and_sane);
    tcase_add_test(tc, kl_exact);
    tcase_add_test(tc, windows_protocol);
    tcase_add_test(tc, config_strict);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(stats_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
