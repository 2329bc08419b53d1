/* test_kernels.c — the multi-row fast kernels (kernels.h), table-driven over every codec that has one and
 * every SIMD level this CPU has: each of the 4 outputs against decode-then-dot in double within TOL_DOT of
 * Σ|w·x| (the same tolerance as the one-row kernels), against the codec's scalar vec_dot_ref, and
 * independent of its neighbours (a row gives the same bits whichever rows share its call). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "kernels.h"

/* Tolerance against decode-then-dot, relative to Σ|w_i·x_i| (as tests/test_codec.c). */
#define TOL_DOT 1e-5

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static float rng_f(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return ((float)(rng_state >> 40) / 16777216.0f - 0.5f) * 0.1f;
}

static const int64_t k_lens[] = {1, 15, 16, 17, 31, 32, 33, 64, 100, 688, 3072, 3077};

START_TEST(test_dot4_against_ref) {
    int top = codec_set_simd(99), tested = 0;
    for (int level = 0; level <= top; level++) {
        codec_set_simd(level);
        for (int c = 0; c < CODEC_COUNT; c++) {
            codec_vec_dot4_fn dot4 = codec_vec_dot4_for((codec_id)c);
            if (!dot4) continue;
            const codec_traits *tr = &codec_table[c];
            for (size_t li = 0; li < sizeof k_lens / sizeof k_lens[0]; li++) {
                int64_t n = (k_lens[li] + tr->block_size - 1) / tr->block_size * tr->block_size, rows = 6;
                float *w = malloc(sizeof(float) * rows * n), *x = malloc(sizeof(float) * n), *d = malloc(sizeof(float) * n);
                for (int64_t i = 0; i < rows * n; i++) w[i] = rng_f();
                for (int64_t i = 0; i < n; i++) x[i] = rng_f();
                w[n / 2] = 0.9f; /* an outlier in row 0 */
                CodedTensor t;
                ck_assert_int_eq(codec_tensor_init(&t, (codec_id)c, 0, rows, n, 0), QB_OK);
                ck_assert_int_eq(codec_encode_rows(&t, 0, rows, w), QB_OK);
                float out[4], out2[4];
                dot4(t.codes, t.row_stride, t.row_scales, x, n, out);
                /* rows 0..3 again, shifted: row 2 in slot 0 of a call over rows 2..5 */
                dot4(t.codes + 2 * t.row_stride, t.row_stride, t.row_scales ? t.row_scales + 2 : NULL, x, n, out2);
                for (int k = 0; k < 4; k++) {
                    codec_decode_row(&t, k, d);
                    double want = 0, mag = 0;
                    for (int64_t i = 0; i < n; i++) want += (double)d[i] * x[i], mag += fabs((double)d[i] * x[i]);
                    float rs = t.row_scales ? t.row_scales[k] : 0.0f;
                    float ref = tr->vec_dot_ref(t.codes + (size_t)k * t.row_stride, rs, x, n);
                    ck_assert_msg(fabs(out[k] - want) <= TOL_DOT * mag + 1e-30,
                                  "%s level %d n %lld row %d: 4-row %.9g vs decode-then-dot %.9g (diff %.3g > %.3g)",
                                  tr->name, level, (long long)n, k, out[k], want, fabs(out[k] - want), TOL_DOT * mag);
                    ck_assert_msg(fabs(out[k] - ref) <= 2 * TOL_DOT * mag + 1e-30,
                                  "%s level %d n %lld row %d: 4-row %.9g vs _ref %.9g", tr->name, level, (long long)n, k,
                                  out[k], ref);
                }
                ck_assert_msg(memcmp(&out[2], &out2[0], 2 * sizeof(float)) == 0,
                              "%s n %lld: a row's result depends on which rows share its call", tr->name, (long long)n);
                codec_tensor_free(&t);
                free(w), free(x), free(d);
                tested++;
            }
        }
    }
    codec_set_simd(99);
    printf("4-row kernels: %d (codec, level, length) cases\n", tested);
}
END_TEST

/* codec_matmul's T = 1 path uses the 4-row kernels for whole groups and the one-row kernel for the rest:
 * every output within tolerance of codec_matmul_ref for row counts around multiples of 4. */
START_TEST(test_matmul_row_groups) {
    static const int64_t rows_list[] = {1, 3, 4, 5, 7, 8, 13};
    for (int c = 0; c < CODEC_COUNT; c++) {
        if (c == CODEC_QINS_COMPUTE) continue;
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
            int64_t rows = rows_list[ri], n = 96;
            float *w = malloc(sizeof(float) * rows * n), *x = malloc(sizeof(float) * n), *d = malloc(sizeof(float) * n);
            float *o = malloc(sizeof(float) * rows), *oref = malloc(sizeof(float) * rows), *o2 = malloc(sizeof(float) * rows);
            for (int64_t i = 0; i < rows * n; i++) w[i] = rng_f();
            for (int64_t i = 0; i < n; i++) x[i] = rng_f();
            CodedTensor t;
            ck_assert_int_eq(codec_tensor_init(&t, (codec_id)c, 0, rows, n, 0), QB_OK);
            ck_assert_int_eq(codec_encode_rows(&t, 0, rows, w), QB_OK);
            codec_matmul(o, &t, x, 1, 1);
            codec_matmul(o2, &t, x, 1, 2);
            codec_matmul_ref(oref, &t, x, 1);
            ck_assert_msg(memcmp(o, o2, sizeof(float) * rows) == 0, "%s rows %lld: 1 vs 2 threads differ", codec_name(c),
                          (long long)rows);
            for (int64_t r = 0; r < rows; r++) {
                codec_decode_row(&t, r, d);
                double mag = 0;
                for (int64_t i = 0; i < n; i++) mag += fabs((double)d[i] * x[i]);
                ck_assert_msg(fabs(o[r] - oref[r]) <= 2 * TOL_DOT * mag + 1e-30, "%s rows %lld row %lld: %.9g vs ref %.9g",
                              codec_name(c), (long long)rows, (long long)r, o[r], oref[r]);
            }
            codec_tensor_free(&t);
            free(w), free(x), free(d), free(o), free(oref), free(o2);
        }
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dot4_against_ref);
    tcase_add_test(tc, test_matmul_row_groups);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
