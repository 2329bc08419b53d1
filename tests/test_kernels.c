/* test_kernels.c — the multi-row fast kernels (kernels.h), table-driven over every codec that has one and
 * every SIMD level this CPU has: each of the 4 outputs against decode-then-dot in double within TOL_DOT of
 * Σ|w·x| (the same tolerance as the one-row kernels), against the codec's scalar vec_dot_ref, and
 * independent of its neighbours (a row gives the same bits whichever rows share its call). Also the
 * attention kernels (attention.h): equal to their _ref bit for bit, whole or in pieces. */
#include <check.h>
#include "check_main.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "codec.h"
#include "kernels.h"

/* Tolerance against decode-then-dot, relative to Σ|w_i·x_i| (as tests/test_codec.c). */
#define TOL_DOT 1e-5
/* The small-batch product (codec_gemm_small_fn) against the exact (double) sum, relative to Σ|w_i·x_i|:
 * both it and its scalar _ref are f32 sums (16 lanes vs one sequential sum), within a few ulps × √n. */
#define TOL_GEMM 1e-5
/* The attention kernels against their _ref: none. The _ref defines the order of every addition and the
 * kernels perform the same operations (attention.h), so any difference is a bug. */
#define TOL_ATTN 0.0f
/* The _ref scores against the exact (double) dot × scale, relative to Σ|q_i·k_i|·scale: an f32 sum of 16
 * lanes and a pairwise tree, a few ulps. */
#define TOL_ATTN_EXACT 1e-6

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


/* The small-batch kernel against its scalar _ref and the exact sum, over T around its 3-row tiles and
 * GS_MAXT, weight-row counts around its 8-row tiles, lengths with 16-float tails and across its k panels,
 * and strides that are not the length (rows of a larger matrix). Each output must also have the same bits
 * when computed in a call that starts one weight row and one activation row later (other tile positions,
 * other companions). */
START_TEST(test_gemm_small_against_ref) {
    codec_gemm_small_fn gemm = codec_gemm_small_for();
    if (!gemm) {
        printf("small-batch kernel: none at this SIMD level, skipped\n");
        return;
    }
    static const int Ts[] = {2, 3, 5, 16, 17, 32, 33};
    static const int64_t nrs[] = {1, 7, 8, 9, 19};
    static const int64_t ns[] = {1, 15, 16, 17, 100, 515, 1031};
    int tested = 0;
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++)
        for (size_t ri = 0; ri < sizeof nrs / sizeof nrs[0]; ri++)
            for (size_t li = 0; li < sizeof ns / sizeof ns[0]; li++) {
                int T = Ts[ti];
                int64_t nr = nrs[ri], n = ns[li];
                size_t ws = (size_t)n + 3, xs = (size_t)n + 5, os = (size_t)nr + 2;
                float *w = malloc(sizeof(float) * ws * (size_t)nr), *x = malloc(sizeof(float) * xs * (size_t)T);
                float *o = malloc(sizeof(float) * os * (size_t)T), *oref = malloc(sizeof(float) * os * (size_t)T);
                float *o2 = malloc(sizeof(float) * os * (size_t)T);
                for (size_t i = 0; i < ws * (size_t)nr; i++) w[i] = rng_f();
                for (size_t i = 0; i < xs * (size_t)T; i++) x[i] = rng_f();
                w[n / 2] = 0.9f; /* an outlier in row 0 */
                gemm(w, ws, nr, x, xs, T, n, o, os);
                codec_gemm_small_ref(w, ws, nr, x, xs, T, n, oref, os);
                for (int t = 0; t < T; t++)
                    for (int64_t r = 0; r < nr; r++) {
                        double want = 0, mag = 0;
                        for (int64_t i = 0; i < n; i++) {
                            double p = (double)w[(size_t)r * ws + (size_t)i] * x[(size_t)t * xs + (size_t)i];
                            want += p, mag += fabs(p);
                        }
                        float got = o[(size_t)t * os + (size_t)r], ref = oref[(size_t)t * os + (size_t)r];
                        ck_assert_msg(fabs(got - want) <= TOL_GEMM * mag + 1e-30,
                                      "T %d nr %lld n %lld out[%d,%lld]: %.9g vs exact %.9g (diff %.3g > %.3g)", T,
                                      (long long)nr, (long long)n, t, (long long)r, got, want, fabs(got - want),
                                      TOL_GEMM * mag);
                        ck_assert_msg(fabs(ref - want) <= TOL_GEMM * mag + 1e-30,
                                      "T %d nr %lld n %lld out[%d,%lld]: _ref %.9g vs exact %.9g", T, (long long)nr,
                                      (long long)n, t, (long long)r, ref, want);
                    }
                if (nr > 1 && T > 1) { /* shifted by one weight row and one activation row */
                    gemm(w + ws, ws, nr - 1, x + xs, xs, T - 1, n, o2, os);
                    for (int t = 1; t < T; t++)
                        ck_assert_msg(memcmp(&o[(size_t)t * os + 1], &o2[(size_t)(t - 1) * os], sizeof(float) * (size_t)(nr - 1)) == 0,
                                      "T %d nr %lld n %lld: row %d's outputs depend on the rows sharing the call", T,
                                      (long long)nr, (long long)n, t);
                }
                free(w), free(x), free(o), free(oref), free(o2);
                tested++;
            }
    printf("small-batch kernel: %d (T, rows, length) cases\n", tested);
}
END_TEST

/* codec_matmul with 2 ≤ T ≤ 33 (the small-batch kernel up to its threshold, sgemm above) for every codec
 * that has f32 activations, odd row counts and column counts with partial blocks: within tolerance of
 * codec_matmul_ref; the same bits with 1 and 2 threads; and, in the small-batch range, a token's outputs
 * have the same bits whichever other tokens share the batch (here: the batch without its first token). */
START_TEST(test_matmul_small_batch) {
    static const int Ts[] = {2, 3, 5, 16, 17, CODEC_GEMM_SMALL_T_MAX, CODEC_GEMM_SMALL_T_MAX + 1};
    static const int64_t shapes[][2] = {{37, 100}, {5, 67}, {16, 64}};
    for (int c = 0; c < CODEC_COUNT; c++) {
        if (codec_table[c].codes_activations) continue; /* qins-compute: its own coded-operand product */
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int64_t rows = shapes[si][0], n = shapes[si][1];
            CodedTensor t;
            float *w = malloc(sizeof(float) * (size_t)(rows * n)), *d = malloc(sizeof(float) * (size_t)n);
            for (int64_t i = 0; i < rows * n; i++) w[i] = rng_f();
            ck_assert_int_eq(codec_tensor_init(&t, (codec_id)c, 0, rows, n, 0), QB_OK);
            ck_assert_int_eq(codec_encode_rows(&t, 0, rows, w), QB_OK);
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
                int T = Ts[ti];
                size_t on = (size_t)T * (size_t)rows;
                float *x = malloc(sizeof(float) * (size_t)T * (size_t)n);
                float *o1 = malloc(sizeof(float) * on), *o2 = malloc(sizeof(float) * on);
                float *oref = malloc(sizeof(float) * on), *osub = malloc(sizeof(float) * on);
                for (int64_t i = 0; i < T * n; i++) x[i] = rng_f();
                codec_matmul(o1, &t, x, T, 1);
                codec_matmul(o2, &t, x, T, 2);
                codec_matmul_ref(oref, &t, x, T);
                ck_assert_msg(memcmp(o1, o2, sizeof(float) * on) == 0, "%s %lldx%lld T %d: 1 vs 2 threads differ",
                              codec_name(c), (long long)rows, (long long)n, T);
                for (int64_t r = 0; r < rows; r++) {
                    codec_decode_row(&t, r, d);
                    for (int tk = 0; tk < T; tk++) {
                        double mag = 0;
                        for (int64_t i = 0; i < n; i++) mag += fabs((double)d[i] * x[(size_t)tk * (size_t)n + (size_t)i]);
                        size_t k = (size_t)tk * (size_t)rows + (size_t)r;
                        /* both the kernel and the scalar ref round in f32, each up to TOL_GEMM from the exact sum */
                        ck_assert_msg(fabs(o1[k] - oref[k]) <= 2 * TOL_GEMM * mag + 1e-30,
                                      "%s %lldx%lld T %d out[%d,%lld]: %.9g vs ref %.9g", codec_name(c), (long long)rows,
                                      (long long)n, T, tk, (long long)r, o1[k], oref[k]);
                    }
                }
                if (T - 1 >= 2 && T <= CODEC_GEMM_SMALL_T_MAX && codec_gemm_small_for()) {
                    codec_matmul(osub, &t, x + n, T - 1, 2);
                    ck_assert_msg(memcmp(o1 + rows, osub, sizeof(float) * (size_t)(T - 1) * (size_t)rows) == 0,
                                  "%s %lldx%lld T %d: a token's outputs depend on its batch companions", codec_name(c),
                                  (long long)rows, (long long)n, T);
                }
                free(x), free(o1), free(o2), free(oref), free(osub);
            }
            codec_tensor_free(&t);
            free(w), free(d);
        }
    }
}
END_TEST

/* bf16's 4-row kernel prefetches each row ahead and, near a row's end, into the next group's rows: the T = 1
 * product at the long rows of the real shapes (lengths past the prefetch distance, and not a multiple of 32),
 * row counts that leave a last partial group: within tolerance of codec_matmul_ref, the same bits at 1 and 2
 * threads, and a group's results the same when it is the matrix's last group (prefetching past the end). */
START_TEST(test_bf16_matvec_long_rows) {
    static const int64_t ns[] = {700, 3072, 3077, 8192};
    static const int64_t rows_l[] = {4, 9, 13};
    for (size_t li = 0; li < sizeof ns / sizeof ns[0]; li++)
        for (size_t ri = 0; ri < sizeof rows_l / sizeof rows_l[0]; ri++) {
            const int64_t n = ns[li], rows = rows_l[ri];
            float *w = malloc(sizeof(float) * rows * n), *x = malloc(sizeof(float) * n), *d = malloc(sizeof(float) * n);
            float *o1 = malloc(sizeof(float) * rows), *o2 = malloc(sizeof(float) * rows), *oref = malloc(sizeof(float) * rows);
            double mags[16];
            for (int64_t i = 0; i < rows * n; i++) w[i] = rng_f();
            for (int64_t i = 0; i < n; i++) x[i] = rng_f();
            w[n - 1] = 0.9f; /* an outlier at row 0's end */
            CodedTensor t;
            ck_assert_int_eq(codec_tensor_init(&t, CODEC_BF16, 0, rows, n, 0), QB_OK);
            ck_assert_int_eq(codec_encode_rows(&t, 0, rows, w), QB_OK);
            codec_matmul(o1, &t, x, 1, 1);
            codec_matmul(o2, &t, x, 1, 2);
            codec_matmul_ref(oref, &t, x, 1);
            ck_assert_msg(memcmp(o1, o2, sizeof(float) * rows) == 0, "bf16 %lldx%lld: 1 vs 2 threads differ",
                          (long long)rows, (long long)n);
            for (int64_t r = 0; r < rows; r++) {
                codec_decode_row(&t, r, d);
                double mag = 0;
                for (int64_t i = 0; i < n; i++) mag += fabs((double)d[i] * x[i]);
                mags[r] = mag;
                ck_assert_msg(fabs(o1[r] - oref[r]) <= 2 * TOL_DOT * mag + 1e-30, "bf16 %lldx%lld row %lld: %.9g vs ref %.9g",
                              (long long)rows, (long long)n, (long long)r, o1[r], oref[r]);
            }
            codec_vec_dot4_fn dot4 = codec_vec_dot4_for(CODEC_BF16);
            if (dot4) { /* the last 4 rows as one group: the prefetch runs past the matrix */
                float out[4];
                dot4(t.codes + (size_t)(rows - 4) * t.row_stride, t.row_stride, NULL, x, n, out);
                if ((rows - 4) % 4 == 0) /* codec_matmul grouped them the same way */
                    ck_assert(memcmp(out, o1 + rows - 4, sizeof out) == 0);
                for (int k = 0; k < 4; k++)
                    ck_assert_msg(fabs(out[k] - oref[rows - 4 + k]) <= 2 * TOL_DOT * mags[rows - 4 + k] + 1e-30,
                                  "bf16 %lldx%lld last group row %d: %.9g vs ref %.9g", (long long)rows, (long long)n, k,
                                  out[k], oref[rows - 4 + k]);
            }
            codec_tensor_free(&t);
            free(w), free(x), free(d), free(o1), free(o2), free(oref);
        }
}
END_TEST

/* The attention kernels at every SIMD level this CPU has, over head sizes with and without an AVX-512 kernel
 * (multiples of 16 or not, above 128 = more than one register block), 1 to ATTN_ROWS rows, position counts
 * around the key groups (16, 8 and 4 per group for 1, 2 and 4 rows), and strides that are not the head size
 * (keys of one head inside a cache row of several heads):
 * - scores and mix equal to attn_scores_ref / attn_mix_ref within TOL_ATTN (bit for bit);
 * - the _ref scores within TOL_ATTN_EXACT of the exact dot;
 * - a row's scores and mix the same whichever rows share the call (each row alone gives the same bits), and
 *   a score the same when its keys are passed in another grouping (from position 3 on; 16 at a time, as
 *   model.c passes converted f16 caches); the mix the same when done in pieces of 16 positions. */
START_TEST(test_attention_kernels_against_ref) {
    static const int hds[] = {8, 16, 24, 96, 128, 144, 256};
    static const int ns[] = {1, 3, 5, 15, 16, 17, 33, 100};
    int top = codec_set_simd(99), fast = 0, cases = 0;
    for (int level = 0; level <= top; level++) {
        codec_set_simd(level);
        for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                for (int R = 1; R <= ATTN_ROWS; R++) {
                    int hd = hds[hi], n = ns[ni];
                    attn_scores_fn sf = attn_scores_for(hd);
                    attn_mix_fn mf = attn_mix_for(hd);
                    fast += sf != attn_scores_ref, cases++;
                    size_t ks = (size_t)hd * 3 + 16, qs = (size_t)hd + 5; /* three heads per position, padding */
                    size_t ss = (size_t)n + 7, as = (size_t)hd + 3, nss = (size_t)R * ss, nas = (size_t)R * as;
                    float *q = malloc(sizeof(float) * qs * (size_t)R), *k = malloc(sizeof(float) * ks * (size_t)n);
                    float *v = malloc(sizeof(float) * ks * (size_t)n), *p = malloc(sizeof(float) * nss);
                    float *s = malloc(sizeof(float) * nss), *sref = malloc(sizeof(float) * nss);
                    float *s2 = malloc(sizeof(float) * nss), *acc = malloc(sizeof(float) * nas);
                    float *aref = malloc(sizeof(float) * nas), *a2 = malloc(sizeof(float) * nas);
                    for (size_t i = 0; i < qs * (size_t)R; i++) q[i] = rng_f() * 20.0f;
                    for (size_t i = 0; i < ks * (size_t)n; i++) k[i] = rng_f() * 20.0f, v[i] = rng_f() * 20.0f;
                    for (size_t i = 0; i < nss; i++) p[i] = rng_f() + 0.06f;
                    k[(size_t)(n - 1) * ks] = 7.5f; /* an outlier in the last key */
                    const float scale = 1.0f / sqrtf((float)hd);
                    sf(s, ss, q, qs, R, k, ks, n, hd, scale);
                    attn_scores_ref(sref, ss, q, qs, R, k, ks, n, hd, scale);
                    for (int r = 0; r < R; r++)
                        for (int j = 0; j < n; j++) {
                            float got = s[(size_t)r * ss + (size_t)j], ref = sref[(size_t)r * ss + (size_t)j];
                            ck_assert_msg(fabsf(got - ref) <= TOL_ATTN, "level %d hd %d n %d R %d score %d,%d: %.9g vs ref %.9g",
                                          level, hd, n, R, r, j, got, ref);
                            double want = 0, mag = 0;
                            for (int i = 0; i < hd; i++) {
                                double xq = (double)q[(size_t)r * qs + (size_t)i] * k[(size_t)j * ks + (size_t)i];
                                want += xq, mag += fabs(xq);
                            }
                            ck_assert_msg(fabs(ref - want * scale) <= TOL_ATTN_EXACT * mag * scale + 1e-30,
                                          "hd %d n %d: _ref score %d %.9g vs exact %.9g", hd, n, j, ref, want * scale);
                        }
                    for (int r = 0; r < R; r++) { /* each row alone, then from position 3 on, then 16 at a time */
                        sf(s2, ss, q + (size_t)r * qs, qs, 1, k, ks, n, hd, scale);
                        ck_assert_msg(memcmp(s2, s + (size_t)r * ss, sizeof(float) * (size_t)n) == 0,
                                      "level %d hd %d n %d: row %d's scores depend on the %d rows sharing the call", level,
                                      hd, n, r, R);
                    }
                    if (n > 3) {
                        sf(s2, ss, q, qs, R, k + 3 * ks, ks, n - 3, hd, scale);
                        for (int r = 0; r < R; r++)
                            ck_assert_msg(memcmp(s2 + (size_t)r * ss, s + (size_t)r * ss + 3, sizeof(float) * (size_t)(n - 3)) == 0,
                                          "level %d hd %d n %d R %d: scores depend on the keys' grouping", level, hd, n, R);
                    }
                    for (int j0 = 0; j0 < n; j0 += 16)
                        sf(s2 + j0, ss, q, qs, R, k + (size_t)j0 * ks, ks, n - j0 < 16 ? n - j0 : 16, hd, scale);
                    for (int r = 0; r < R; r++)
                        ck_assert_msg(memcmp(s2 + (size_t)r * ss, s + (size_t)r * ss, sizeof(float) * (size_t)n) == 0,
                                      "level %d hd %d n %d R %d: scores in groups of 16 differ", level, hd, n, R);
                    for (size_t i = 0; i < nas; i++) acc[i] = aref[i] = a2[i] = 0.25f * (float)(i % 97);
                    mf(acc, as, p, ss, R, v, ks, n, hd);
                    attn_mix_ref(aref, as, p, ss, R, v, ks, n, hd);
                    for (int j0 = 0; j0 < n; j0 += 16)
                        mf(a2, as, p + j0, ss, R, v + (size_t)j0 * ks, ks, n - j0 < 16 ? n - j0 : 16, hd);
                    for (int r = 0; r < R; r++)
                        for (int i = 0; i < hd; i++)
                            ck_assert_msg(fabsf(acc[(size_t)r * as + (size_t)i] - aref[(size_t)r * as + (size_t)i]) <= TOL_ATTN,
                                          "level %d hd %d n %d R %d mix[%d][%d]: %.9g vs ref %.9g", level, hd, n, R, r, i,
                                          acc[(size_t)r * as + (size_t)i], aref[(size_t)r * as + (size_t)i]);
                    ck_assert_msg(memcmp(a2, acc, sizeof(float) * nas) == 0,
                                  "level %d hd %d n %d R %d: the mix in pieces of 16 differs", level, hd, n, R);
                    for (int r = 0; r < R; r++) { /* each row alone */
                        for (int i = 0; i < hd; i++) a2[i] = 0.25f * (float)(((size_t)r * as + (size_t)i) % 97);
                        mf(a2, as, p + (size_t)r * ss, ss, 1, v, ks, n, hd);
                        ck_assert_msg(memcmp(a2, acc + (size_t)r * as, sizeof(float) * (size_t)hd) == 0,
                                      "level %d hd %d n %d: row %d's mix depends on the %d rows sharing the call", level,
                                      hd, n, r, R);
                    }
                    free(q), free(k), free(v), free(p), free(s), free(sref), free(s2), free(acc), free(aref), free(a2);
                }
    }
    codec_set_simd(top);
    printf("attention kernels: %d of %d (level, hd, n, rows) cases ran a fast kernel\n", fast, cases);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dot4_against_ref);
    tcase_add_test(tc, test_matmul_row_groups);
    tcase_add_test(tc, test_gemm_small_against_ref);
    tcase_add_test(tc, test_matmul_small_batch);
    tcase_add_test(tc, test_bf16_matvec_long_rows);
    tcase_add_test(tc, test_attention_kernels_against_ref);
    tcase_set_timeout(tc, 120); /* 2-thread products on a loaded 2-core machine, and ASan builds */
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return qb_check_run(suite());
}
