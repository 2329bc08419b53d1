/* test_codec_act.c — act=q8 and act=bf16 (engine/codec_act.c): the references on hand-computed cases
 * (ggml's numerics: roundf, d = amax/127 as f16, the per-block integer sum, the f32 order), the AVX-512 VNNI
 * act=q8 product bit-exact to the reference for every shape, T, thread count and SIMD level, the vdpbf16ps
 * kernel bit-exact to its scalar emulation and within ACT_BF16_TOL of ggml's double-sum reference, and the
 * act= products close to the f32-activation product. */
#include <check.h>
#include "check_main.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_act.h"
#include "codec_blocks.h"
#include "util.h"

/* act=bf16: |vdpbf16ps kernel − ggml's double-sum reference| ≤ ACT_BF16_TOL · Σ|w_i·x_i|. The products are
 * exact in both; the kernel rounds each of its f32 accumulations (per lane about n/32 + 5 of them, ≈ 101 for
 * n = 3072 → ≤ 101 · 2^-24 ≈ 6e-6 in the worst case), the reference rounds once at the end. */
#define ACT_BF16_TOL 1e-5
/* act= against the f32-activation product (codec_matmul_ref): the activation's own rounding. bf16: |x − x̂| ≤
 * 2^-9·|x|, so within ACT_VS_F32_TOL (1%) of Σ|w_i·x_i|. q8: |x − x̂| ≤ half a step, amax_block/254 (plus the
 * f16 rounding of d, 2^-11 relative), so the bound is Σ|w_i|·amax(block of i)/254 · (1 + ACT_VS_F32_TOL) plus
 * TOL_SUM·Σ|w_i·x_i| for the f32 sums. A wrong layout, offset or scale gives errors of order 1. */
#define ACT_VS_F32_TOL 1e-2
#define TOL_SUM 1e-5

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float rng_f(void) {
    float s = 0;
    for (int i = 0; i < 4; i++) s += (float)rng_u32() / 4294967296.0f - 0.5f;
    return s * 1.7f;
}
/* Gaussian-ish values with an occasional outlier (activations have them; they set a block's d). */
static void fill(float *v, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) v[i] = scale * rng_f() * (rng_u32() % 97 == 0 ? 20.0f : 1.0f);
}

static CodedTensor make(codec_id id, codec_act_mode act, int64_t rows, int64_t cols, const float *w) {
    CodedTensor t;
    CodecParams p = {.act = act};
    ck_assert_msg(codec_tensor_init(&t, id, &p, rows, cols, 0) == QB_OK, "%s", qb_last_error());
    ck_assert_msg(codec_encode_rows(&t, 0, rows, w) == QB_OK, "%s", qb_last_error());
    return t;
}

/* Σ|decode(w)·x| of one row (the scale of a summation's rounding error). */
static double mag(const CodedTensor *t, int64_t r, const float *x) {
    float *d = malloc(sizeof(float) * (size_t)t->cols);
    codec_decode_row(t, r, d);
    double s = 0;
    for (int64_t i = 0; i < t->cols; i++) s += fabs((double)d[i] * x[i]);
    free(d);
    return s;
}

/* The act=q8 rounding bound of one row (see ACT_VS_F32_TOL). */
static double q8_bound(const CodedTensor *t, int64_t r, const float *x) {
    float *d = malloc(sizeof(float) * (size_t)t->cols);
    codec_decode_row(t, r, d);
    double s = 0;
    for (int64_t b = 0; b * QK8_0 < t->cols; b++) {
        double amax = 0, wsum = 0;
        for (int64_t i = b * QK8_0; i < (b + 1) * QK8_0 && i < t->cols; i++) {
            amax = fmax(amax, fabs(x[i]));
            wsum += fabs(d[i]);
        }
        s += wsum * amax / 254.0 * (1 + ACT_VS_F32_TOL);
    }
    free(d);
    return s + TOL_SUM * mag(t, r, x);
}

/* ---- references on hand-computed cases ---- */

START_TEST(test_q8_quantize_hand) {
    float x[64] = {127.0f, -2.5f, 2.5f, 0.4f, -0.5f, 0.5f}; /* block 0: amax 127 → d = 1; block 1: all zero */
    block_q8_0 y[2];
    codec_act_quantize_q8_0_ref(x, y, 64);
    ck_assert_uint_eq(y[0].d, 0x3c00); /* f16 1.0 */
    /* roundf: halves away from zero (ggml's reference; not the nearest-even of _mm256_round_ps) */
    static const int8_t want[6] = {127, -3, 3, 0, -1, 1};
    for (int j = 0; j < 6; j++) ck_assert_int_eq(y[0].qs[j], want[j]);
    for (int j = 6; j < 32; j++) ck_assert_int_eq(y[0].qs[j], 0);
    ck_assert_uint_eq(y[1].d, 0); /* d = 0 → id = 0 → all codes 0 */
    for (int j = 0; j < 32; j++) ck_assert_int_eq(y[1].qs[j], 0);
    /* d = amax/127 stored as f16: amax 1 → 1/127 → f16 0x2008 (0.0078735…), codes from the f32 1/d */
    float z[32] = {1.0f, 0.5f};
    codec_act_quantize_q8_0_ref(z, y, 32);
    ck_assert_uint_eq(y[0].d, qb_f32_to_f16(1.0f / 127.0f));
    ck_assert_int_eq(y[0].qs[0], 127);
    ck_assert_int_eq(y[0].qs[1], 64); /* 63.5 → 64 */
}
END_TEST

START_TEST(test_q8_dots_hand) {
    float x[32] = {127.0f, -2.5f, 2.5f, 0.4f, -0.5f}; /* codes 127, -3, 3, 0, -1; d_x = 1 */
    block_q8_0 y;
    codec_act_quantize_q8_0_ref(x, &y, 32);
    block_q8_0 w8 = {.d = 0x3800}; /* 0.5 */
    for (int j = 0; j < 32; j++) w8.qs[j] = 2;
    /* sumi = 2·(127 − 3 + 3 + 0 − 1) = 252; 252 · (0.5 · 1) */
    ck_assert_float_eq(codec_act_dot_q8_0_q8_0_ref(&w8, &y, 32), 126.0f);
    block_q4_0 w4 = {.d = 0x3400}; /* 0.25 */
    for (int j = 0; j < 16; j++) w4.qs[j] = 0x79; /* low nibble 9 → +1 (element j), high 7 → −1 (element j+16) */
    ck_assert_float_eq(codec_act_dot_q4_0_q8_0_ref(&w4, &y, 32), 31.5f); /* 126 · 0.25 · 1 */
    float x2[32] = {0};
    for (int j = 16; j < 32; j++) x2[j] = 127.0f; /* only the high-nibble half: −1 · 127 · 16 */
    codec_act_quantize_q8_0_ref(x2, &y, 32);
    ck_assert_float_eq(codec_act_dot_q4_0_q8_0_ref(&w4, &y, 32), -508.0f);
    /* bf16: round to nearest even, then exact products summed */
    uint16_t a[3], b[3];
    const float xa[3] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 256, 2.0f}; /* ties: to even → 1, 1+4/256 */
    codec_act_round_bf16(xa, a, 3);
    ck_assert_uint_eq(a[0], 0x3f80);
    ck_assert_uint_eq(a[1], 0x3f82);
    const float xb[3] = {3.0f, -1.0f, 0.5f};
    codec_act_round_bf16(xb, b, 3);
    ck_assert_float_eq(codec_act_dot_bf16_ref(a, b, 3), 3.0f - (1.0f + 4.0f / 256) + 1.0f);
    ck_assert_float_eq(codec_act_dot_bf16_emul(a, b, 3), 3.0f - (1.0f + 4.0f / 256) + 1.0f);
}
END_TEST

/* ---- act=q8: the product equals the reference bit for bit ---- */

START_TEST(test_q8_matmul_exact) {
    /* rows: multiples of 16 and 4 and neither (the tile kernel, the 4-row kernel, the scalar rows); cols:
     * block counts ≡ 0, 1, 2, 3 mod 4 (the 4-block steps' scalar tails) and partial last blocks (padding) */
    static const int64_t shapes[][2] = {{16, 64}, {37, 100}, {69, 3072}, {5, 17}, {48, 8192}, {52, 224},
                                        {35, 96}, {33, 200}, {7, 40}, {20, 32}, {64, 4096}};
    static const codec_id ids[] = {CODEC_Q4_0, CODEC_Q8_0};
    static const int Ts[] = {1, 2, 3, 4, 5, 12, 17, 33};
    const int T = 33; /* the largest of Ts */
    int top = codec_set_simd(99);
    if (!codec_act_q8_is_fast()) fprintf(stderr, "test_codec_act: no AVX-512 VNNI here; the scalar path only\n");
    for (size_t c = 0; c < 2; c++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int64_t rows = shapes[s][0], cols = shapes[s][1];
            float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * T * cols);
            float *o = malloc(sizeof(float) * T * rows), *o1 = malloc(sizeof(float) * rows);
            float *ref = malloc(sizeof(float) * T * rows), *f32 = malloc(sizeof(float) * T * rows);
            fill(w, rows * cols, 0.05f);
            fill(x, T * cols, 1.0f);
            CodedTensor t = make(ids[c], CODEC_ACT_Q8, rows, cols, w);
            codec_act_matmul_ref(ref, &t, x, T);
            for (int level = 0; level <= top; level++) {
                codec_set_simd(level);
                for (int nt = 1; nt <= 2; nt++)
                    for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
                        /* T tokens from token 1 on: each output is the reference's for its own token, whatever
                         * T, slot in the batch (so whichever kernel: 1 token, < 4, the tile's groups of 4 and
                         * its remainder) and thread count */
                        const int Tk = Ts[k] < T ? Ts[k] : T - 1;
                        codec_matmul(o, &t, x + cols, Tk, nt);
                        for (int64_t i = 0; i < Tk * rows; i++)
                            ck_assert_msg(memcmp(&o[i], &ref[rows + i], sizeof(float)) == 0,
                                          "%s [%lld×%lld] level %d threads %d T %d: out[%lld] %.9g vs ref %.9g",
                                          codec_name(ids[c]), (long long)rows, (long long)cols, level, nt, Tk,
                                          (long long)i, o[i], ref[rows + i]);
                    }
                for (int tt = 0; tt < 3; tt++) { /* decode (T = 1) gives the batch's bits */
                    codec_matmul(o1, &t, x + tt * cols, 1, 1);
                    ck_assert(memcmp(o1, ref + tt * rows, sizeof(float) * rows) == 0);
                }
            }
            codec_set_simd(99);
            /* and it is the product: close to the f32-activation one */
            codec_matmul_ref(f32, &t, x, T);
            for (int tt = 0; tt < T; tt++)
                for (int64_t r = 0; r < rows; r++) {
                    double m = q8_bound(&t, r, x + tt * cols);
                    ck_assert_msg(fabs((double)ref[tt * rows + r] - f32[tt * rows + r]) <= m + 1e-30,
                                  "%s row %lld: act=q8 %.9g vs f32 %.9g (bound %g)", codec_name(ids[c]), (long long)r,
                                  ref[tt * rows + r], f32[tt * rows + r], m);
                }
            codec_tensor_free(&t);
            free(w), free(x), free(o), free(o1), free(ref), free(f32);
        }
}
END_TEST

/* The vectorized activation quantizer (prepare_q8) against the reference's roundf and special cases, through
 * the product: a code off by one changes the integer sum, so the outputs would differ from the reference's. */
START_TEST(test_q8_quantize_cases) {
    const int64_t rows = 20, cols = 7 * 32 + 5;
    const int T = 5;
    float *w = malloc(sizeof(float) * rows * cols), *x = calloc((size_t)(T * cols), sizeof(float));
    float *o = malloc(sizeof(float) * T * rows), *ref = malloc(sizeof(float) * T * rows);
    fill(w, rows * cols, 0.05f);
    for (int t = 0; t < T; t++) {
        float *xt = x + t * cols;
        for (int j = 0; j < 32; j++) xt[j] = (float)(j - 16) + 0.5f * (t + 1); /* amax 127 → d = 1, id = 1 */
        xt[0] = 127.0f;                                                           /* halves: away from zero */
        for (int j = 32; j < 64; j++) xt[j] = (j % 2 ? -1.0f : 1.0f) * (0.5f + 0.25f * (j % 4)) * 127.0f / 2;
        for (int j = 64; j < 96; j++) xt[j] = (j % 3) * 1e-38f;                   /* 1/d overflows: codes 0 */
        for (int j = 96; j < 128; j++) xt[j] = 0.0f;                              /* d = 0 */
        for (int j = 128; j < 160; j++) xt[j] = nextafterf(0.5f, 0.0f) * (float)(j % 5) * (t % 2 ? -1 : 1);
        for (int j = 160; j < 192; j++) xt[j] = (float)(j - 176) * 3.0e4f;       /* large values */
        if (t == 2) xt[170] = NAN;                                                /* fmaxf skips it; code 0 */
        for (int j = 192; j < cols; j++) xt[j] = rng_f();
    }
    static const codec_id ids[] = {CODEC_Q4_0, CODEC_Q8_0};
    for (size_t c = 0; c < 2; c++) {
        CodedTensor tn = make(ids[c], CODEC_ACT_Q8, rows, cols, w);
        codec_act_matmul_ref(ref, &tn, x, T);
        for (int tt = 0; tt < T; tt++) { /* a NaN makes NaN outputs: compare bits */
            codec_matmul(o, &tn, x + tt * cols, 1, 1);
            ck_assert_msg(memcmp(o, ref + tt * rows, sizeof(float) * rows) == 0, "%s token %d", codec_name(ids[c]), tt);
        }
        codec_matmul(o, &tn, x, T, 2);
        ck_assert_msg(memcmp(o, ref, sizeof(float) * T * rows) == 0, "%s batch", codec_name(ids[c]));
        codec_tensor_free(&tn);
    }
    free(w), free(x), free(o), free(ref);
}
END_TEST

/* ---- act=bf16 ---- */

static void bf16_random(uint16_t *v, int64_t n, float scale) {
    float *f = malloc(sizeof(float) * n);
    fill(f, n, scale);
    codec_act_round_bf16(f, v, n);
    free(f);
}

START_TEST(test_bf16_kernel_vs_emul_and_ref) {
    codec_set_simd(99);
    codec_act_bf16_dot_fn fast = codec_act_dot_bf16_fast();
    if (!fast) fprintf(stderr, "test_codec_act: no AVX-512 BF16 here; the emulation is the product\n");
    static const int64_t ns[] = {1, 2, 31, 32, 33, 63, 64, 65, 100, 3072, 4096};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const int64_t n = ns[k];
        uint16_t *w = malloc(2 * n), *x = malloc(2 * n);
        for (int rep = 0; rep < 20; rep++) {
            bf16_random(w, n, 0.05f);
            bf16_random(x, n, 1.0f);
            const float e = codec_act_dot_bf16_emul(w, x, n), r = codec_act_dot_bf16_ref(w, x, n);
            double m = 0;
            for (int64_t i = 0; i < n; i++) m += fabs((double)qb_bf16_to_f32(w[i]) * qb_bf16_to_f32(x[i]));
            ck_assert_msg(fabs((double)e - r) <= ACT_BF16_TOL * m, "n=%lld: emul %.9g vs ref %.9g", (long long)n, e, r);
            if (fast) {
                const float f = fast(w, x, n);
                ck_assert_msg(memcmp(&f, &e, sizeof f) == 0, "n=%lld rep %d: vdpbf16ps %.9g vs emulation %.9g",
                              (long long)n, rep, f, e);
            }
        }
        free(w), free(x);
    }
    /* denormals: inputs read as zero, results flushed (the instruction's DAZ/FTZ), in both */
    if (fast) {
        uint16_t w[64], x[64];
        for (int i = 0; i < 64; i++) {
            w[i] = (uint16_t)(i % 3 == 0 ? 0x0001 + i : 0x1f80 + i); /* denormal, or ~2^-64 */
            x[i] = (uint16_t)(i % 5 == 0 ? 0x8003 : 0x1f00 + i);     /* products ~2^-130: denormal in f32 */
        }
        w[7] = 0x3f80, x[7] = 0x3f80; /* one normal product */
        const float f = fast(w, x, 64), e = codec_act_dot_bf16_emul(w, x, 64);
        ck_assert_msg(memcmp(&f, &e, sizeof f) == 0, "denormals: vdpbf16ps %a vs emulation %a", f, e);
    }
}
END_TEST

START_TEST(test_bf16_matmul) {
    static const int64_t shapes[][2] = {{16, 64}, {37, 100}, {9, 3072}, {3, 17}};
    const int T = 4;
    int top = codec_set_simd(99);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t rows = shapes[s][0], cols = shapes[s][1];
        float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * T * cols);
        float *o = malloc(sizeof(float) * T * rows), *first = malloc(sizeof(float) * T * rows);
        float *ref = malloc(sizeof(float) * T * rows), *f32 = malloc(sizeof(float) * T * rows);
        fill(w, rows * cols, 0.05f);
        fill(x, T * cols, 1.0f);
        CodedTensor t = make(CODEC_BF16, CODEC_ACT_BF16, rows, cols, w);
        codec_act_matmul_ref(ref, &t, x, T);
        codec_matmul_ref(f32, &t, x, T);
        codec_set_simd(top);
        codec_matmul(first, &t, x, T, 1);
        for (int level = 0; level <= top; level++) { /* the emulation (levels < 2) gives the kernel's bits */
            codec_set_simd(level);
            for (int nt = 1; nt <= 2; nt++) {
                codec_matmul(o, &t, x, T, nt);
                ck_assert_msg(memcmp(o, first, sizeof(float) * T * rows) == 0, "bf16 level %d threads %d differ", level,
                              nt);
            }
        }
        codec_set_simd(99);
        for (int tt = 0; tt < T; tt++)
            for (int64_t r = 0; r < rows; r++) {
                const double m = mag(&t, r, x + tt * cols);
                const float a = first[tt * rows + r];
                ck_assert_msg(fabs((double)a - ref[tt * rows + r]) <= ACT_BF16_TOL * m + 1e-30,
                              "row %lld: %.9g vs ref %.9g", (long long)r, a, ref[tt * rows + r]);
                ck_assert_msg(fabs((double)a - f32[tt * rows + r]) <= ACT_VS_F32_TOL * m + 1e-30,
                              "row %lld: act=bf16 %.9g vs f32 %.9g", (long long)r, a, f32[tt * rows + r]);
            }
        codec_tensor_free(&t);
        free(w), free(x), free(o), free(first), free(ref), free(f32);
    }
}
END_TEST

/* The tiled act=bf16 product (6-row × 4-token tiles, 1024-element K panels, 48-token blocks; codec_act.c)
 * against codec_act_dot_bf16_emul bit for bit, output by output: rows around the 6-row tile, columns around
 * the 32-element chunk, the 64-element chunk pair and the K panel, T around the 4-token tile and the token
 * block, 1 and 2 threads. Each output must be the one-dot emulation's, whatever T, tile position or split. */
START_TEST(test_bf16_tiled_exact) {
    static const int64_t rows_l[] = {1, 5, 6, 7, 13, 37};
    static const int64_t cols_l[] = {1, 17, 31, 32, 33, 64, 100, 1025, 2111, 3072};
    static const int Ts[] = {1, 2, 3, 4, 5, 17, 33, 49, 100};
    codec_set_simd(99);
    int tested = 0;
    for (size_t ri = 0; ri < sizeof rows_l / sizeof rows_l[0]; ri++)
        for (size_t ci = 0; ci < sizeof cols_l / sizeof cols_l[0]; ci++) {
            const int64_t rows = rows_l[ri], cols = cols_l[ci];
            if (rows * cols > 40000 && rows != 7) continue; /* the large columns at one odd row count */
            float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * 100 * cols);
            float *o = malloc(sizeof(float) * 100 * rows), *want = malloc(sizeof(float) * 100 * rows);
            uint16_t *xb = malloc(sizeof(uint16_t) * cols);
            fill(w, rows * cols, 0.05f);
            fill(x, 100 * cols, 1.0f);
            CodedTensor t = make(CODEC_BF16, CODEC_ACT_BF16, rows, cols, w);
            for (int tt = 0; tt < 100; tt++) {
                codec_act_round_bf16(x + tt * cols, xb, cols);
                for (int64_t r = 0; r < rows; r++)
                    want[tt * rows + r] =
                        codec_act_dot_bf16_emul((const uint16_t *)(t.codes + (size_t)r * t.row_stride), xb, cols);
            }
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++)
                for (int nt = 1; nt <= 2; nt++) {
                    const int T = Ts[ti];
                    const int off = T == 100 ? 0 : 1; /* a batch that starts at token 1: other companions */
                    codec_matmul(o, &t, x + off * cols, T, nt);
                    for (int64_t i = 0; i < T * rows; i++)
                        ck_assert_msg(memcmp(&o[i], &want[off * rows + i], sizeof(float)) == 0,
                                      "[%lld×%lld] T %d threads %d: out[%lld] %.9g vs one-dot emulation %.9g",
                                      (long long)rows, (long long)cols, T, nt, (long long)i, o[i], want[off * rows + i]);
                    tested++;
                }
            codec_tensor_free(&t);
            free(w), free(x), free(o), free(want), free(xb);
        }
    printf("act=bf16 tiled product: %d (shape, T, threads) cases bit-exact\n", tested);
}
END_TEST

/* The product's activation rounding (a vector loop where the kernels run) is codec_act_round_bf16's: a 1 × 1
 * weight of 1.0 and one value per token, so out[t] is the rounded x[t] through the one-dot emulation (an inf or
 * NaN cannot share a row with other values: 0·inf is NaN). Ties to even and odd, values that round up to
 * infinity, infinities, signed zeros, NaN; as one batch (T = 17, the tiled path) and one token at a time, at
 * every SIMD level. */
START_TEST(test_bf16_rounding_in_product) {
    static const uint32_t bits[] = {0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f817fffu, 0x7f7fffffu, 0xff7fffffu,
                                    0x7f800000u, 0xff800000u, 0xbf800000u, 0x00000000u, 0x80000000u, 0x7fc00001u,
                                    0x7f800001u, 0x4b7fffffu, 0xc2f6e979u, 0x3eaaaaabu, 0x7f7f8000u};
    enum { N = sizeof bits / sizeof bits[0] };
    const float one = 1.0f;
    float x[N], o[N], want[N];
    CodedTensor tn = make(CODEC_BF16, CODEC_ACT_BF16, 1, 1, &one);
    for (int i = 0; i < N; i++) {
        memcpy(&x[i], &bits[i], sizeof(float));
        uint16_t xb;
        codec_act_round_bf16(&x[i], &xb, 1);
        want[i] = codec_act_dot_bf16_emul((const uint16_t *)tn.codes, &xb, 1);
    }
    int top = codec_set_simd(99);
    for (int level = 0; level <= top; level++) {
        codec_set_simd(level);
        codec_matmul(o, &tn, x, N, 1);
        for (int i = 0; i < N; i++) {
            float o1;
            codec_matmul(&o1, &tn, &x[i], 1, 1);
            if (isnan(want[i])) {
                ck_assert_msg(isnan(o[i]) && isnan(o1), "level %d x %a: %a / %a, want NaN", level, x[i], o[i], o1);
            } else {
                ck_assert_msg(memcmp(&o[i], &want[i], sizeof(float)) == 0, "level %d T %d x %a: %a, want %a", level, N,
                              x[i], o[i], want[i]);
                ck_assert_msg(memcmp(&o1, &want[i], sizeof(float)) == 0, "level %d T 1 x %a: %a, want %a", level, x[i],
                              o1, want[i]);
            }
        }
    }
    codec_set_simd(99);
    codec_tensor_free(&tn);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("codec_act");
    TCase *tc = tcase_create("codec_act");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_q8_quantize_hand);
    tcase_add_test(tc, test_q8_dots_hand);
    tcase_add_test(tc, test_q8_matmul_exact);
    tcase_add_test(tc, test_q8_quantize_cases);
    tcase_add_test(tc, test_bf16_kernel_vs_emul_and_ref);
    tcase_add_test(tc, test_bf16_matmul);
    tcase_add_test(tc, test_bf16_tiled_exact);
    tcase_add_test(tc, test_bf16_rounding_in_product);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return qb_check_run(suite());
}
