/* codec_act.c — act=q8 (q4_0, q8_0 weights) and act=bf16 (bf16 weights): the product in llama.cpp's
 * deployed arithmetic (see codec_act.h for the definitions and ggml's functions they follow).
 *
 * Layout of the work: each activation row is prepared once per product (quantized to block_q8_0 with its
 * per-block sums, or rounded to bf16), then rows are split statically over the threads in one OpenMP region
 * and every (row, token) result comes from one kernel call whose arithmetic depends only on that row and that
 * token. So a result does not depend on T, the thread count, the split or the SIMD level: the act=q8 kernel
 * is bit-identical to the scalar reference (tested), and the act=bf16 scalar fallback is bit-identical to the
 * vdpbf16ps kernel (tested); the vdpbf16ps kernel differs from ggml's scalar reference (a double sum) within
 * the tolerance the tests name.
 *
 * The act=q8 kernels (AVX-512 VNNI) keep each row's reference order exactly: block after block, sumf = sumf +
 * (sumi·d_w)·d_x (q4_0) or sumi·(d_w·d_x) (q8_0), one f32 lane per (row, block); the block sums sumi are exact
 * integer sums (any order). vpdpbusd (u8 × s8, 4 products per i32 lane) wants one unsigned operand: q4_0
 * nibbles are 0..15 already (Σ(n−8)·y = Σn·y − 8·Σy), q8_0 weights are flipped to w+128 (Σw·y = Σ(w+128)·y −
 * 128·Σy), with k·Σy per block computed once per activation row. Two kernels, the same bits:
 *   T < ACT_TILE_T_MIN (decode): 4 rows streamed contiguously, 4 blocks per step, a transpose-and-add per
 *       step (dot4x_*);
 *   T ≥ ACT_TILE_T_MIN (prefill, batches): a 16-row tile repacked once so each row's partials stay in its
 *       own lane (no reduction), then every token against it, 4 at a time (tile_pack, tile_tokens).
 * The activation's quantization is vectorized with the reference's rounding (quantize_block_avx512). */
#include "codec_act.h"
#include "codec.h"
#include "codec_blocks.h"
#include "kernels.h"
#include "util.h"

#include <math.h>
#include <stddef.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define ACT_X86 1
#else
#define ACT_X86 0
#endif

/* GCC 12.2 (-O2 -march=native, this machine) vectorizes the q4_0 reference's sum with the AVX-VNNI
 * vpdpbusd but feeds it the already-signed (nibble − 8) bytes as its *unsigned* operand, so −1 counts as 255:
 * the q4_0 reference returned 129540 instead of −508 on test_q8_dots_hand's case (objdump of codec_act.o).
 * The references are plain scalar code, so GCC's vectorizer is switched off for them. */
#if defined(__GNUC__) && !defined(__clang__)
#define ACT_SCALAR __attribute__((optimize("no-tree-vectorize")))
#else
#define ACT_SCALAR
#endif

/* ---------------------------------------------------------------------------------------------------- */
/* References: the definitions. Each rounding step is its own statement: clang's default -ffp-contract=on
 * would otherwise fuse the last multiply and add of one expression into an FMA (gcc in -std=c11 does not). */

void codec_act_quantize_q8_0_ref(const float *x, block_q8_0 *y, int64_t n) {
    /* The q8_0 weight quantizer is ggml's quantize_row_q8_0_ref (d = amax/127 as f16, id = d ? 1/d : 0,
     * roundf(x·id)); ggml quantizes activations with the same function, so do we: one definition. */
    codec_table[CODEC_Q8_0].from_float_ref(x, y, NULL, n, NULL);
}

/* Blocks [b0, b1) of the references, continuing the f32 chain from sumf (the kernels' scalar tails). */
ACT_SCALAR static float dot_q4_0_q8_0_from(const block_q4_0 *w, const block_q8_0 *y, int64_t b0, int64_t b1,
                                           float sumf) {
    for (int64_t b = b0; b < b1; b++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi0 += ((w[b].qs[j] & 0x0f) - 8) * y[b].qs[j];
            sumi1 += ((w[b].qs[j] >> 4) - 8) * y[b].qs[j + QK4_0 / 2];
        }
        float p = (float)(sumi0 + sumi1) * qb_f16_to_f32(w[b].d); /* ggml: sumi*d_w*d_x, left to right */
        p = p * qb_f16_to_f32(y[b].d);
        sumf = sumf + p;
    }
    return sumf;
}

ACT_SCALAR static float dot_q8_0_q8_0_from(const block_q8_0 *w, const block_q8_0 *y, int64_t b0, int64_t b1,
                                           float sumf) {
    for (int64_t b = b0; b < b1; b++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += w[b].qs[j] * y[b].qs[j];
        const float dd = qb_f16_to_f32(w[b].d) * qb_f16_to_f32(y[b].d); /* ggml: sumi*(d_w*d_x) */
        const float p = (float)sumi * dd;
        sumf = sumf + p;
    }
    return sumf;
}

float codec_act_dot_q4_0_q8_0_ref(const block_q4_0 *w, const block_q8_0 *y, int64_t n) {
    return dot_q4_0_q8_0_from(w, y, 0, n / QK8_0, 0.0f);
}

float codec_act_dot_q8_0_q8_0_ref(const block_q8_0 *w, const block_q8_0 *y, int64_t n) {
    return dot_q8_0_q8_0_from(w, y, 0, n / QK8_0, 0.0f);
}

void codec_act_round_bf16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = qb_f32_to_bf16(x[i]); /* RNE, NaN quieted: ggml's conversion */
}

float codec_act_dot_bf16_ref(const uint16_t *w, const uint16_t *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float p = qb_bf16_to_f32(w[i]) * qb_bf16_to_f32(x[i]); /* exact unless it under/overflows */
        s += (double)p;
    }
    return (float)s;
}

/* vdpbf16ps reads denormal inputs as zero and flushes denormal results to zero (Intel SDM: "FP32 FMA with
 * daz in, ftz out and RNE rounding"). */
static float daz_ftz(float v) {
    return fpclassify(v) == FP_SUBNORMAL ? copysignf(0.0f, v) : v;
}

float codec_act_dot_bf16_emul(const uint16_t *w, const uint16_t *x, int64_t n) {
    float acc[2][16] = {{0}};
    for (int64_t c = 0; c * 32 < n; c++) { /* 32-element chunks, alternately into the two accumulators */
        float *a = acc[c & 1];
        for (int l = 0; l < 16; l++) {
            const int64_t i = c * 32 + 2 * l; /* zero-padded past n, as the kernel's masked loads */
            const float w0 = i < n ? qb_bf16_to_f32(w[i]) : 0.0f, x0 = i < n ? qb_bf16_to_f32(x[i]) : 0.0f;
            const float w1 = i + 1 < n ? qb_bf16_to_f32(w[i + 1]) : 0.0f;
            const float x1 = i + 1 < n ? qb_bf16_to_f32(x[i + 1]) : 0.0f;
            const float t = daz_ftz(fmaf(daz_ftz(w1), daz_ftz(x1), daz_ftz(a[l]))); /* odd pair first */
            a[l] = daz_ftz(fmaf(daz_ftz(w0), daz_ftz(x0), t));
        }
    }
    float s[16];
    for (int l = 0; l < 16; l++) s[l] = acc[0][l] + acc[1][l];
    for (int h = 8; h >= 1; h /= 2) /* the kernel's reduction: lane l + lane l+h, halving */
        for (int l = 0; l < h; l++) s[l] = s[l] + s[l + h];
    return s[0];
}

/* ---------------------------------------------------------------------------------------------------- */
/* CPU features beyond codec_simd_level's AVX-512 F+BW+VL (which also checks the OS saves zmm state). */

static int cpu_has(int which) { /* 0: AVX512_VNNI, 1: AVX512_BF16 */
#if ACT_X86
    static int cached[2] = {-1, -1};
    if (cached[which] < 0) {
        unsigned a = 0, b = 0, c = 0, d = 0;
        int v = 0;
        if (which == 0 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) v = (c >> 11) & 1;
        if (which == 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) v = (a >> 5) & 1;
        cached[which] = v;
    }
    return cached[which];
#else
    (void)which;
    return 0;
#endif
}

int codec_act_q8_is_fast(void) {
    return ACT_X86 && codec_simd_level() >= 2 && cpu_has(0);
}

/* ---------------------------------------------------------------------------------------------------- */
/* AVX-512 kernels. */

/* Tokens per call of the tile kernel (tile_tokens): 8 accumulators hide vpdpbusd's latency. */
#define ACT_TILE_NT 8

/* One activation row prepared for the q8 kernels (prepare_q8): the nb blocks' codes back to back (32 bytes
 * each, d left out, so two blocks are one 64-byte load), and for block b, four copies each (one per row of
 * the 4-row kernel's lanes) of k·Σqs (k = 8 for q4_0, 128 for q8_0: the offset that makes the weights
 * unsigned, see above) and of the f32 d. */
typedef struct {
    const int8_t *qs;     /* nb × 32 */
    const int32_t *ksum4; /* nb × 4 */
    const float *d4;      /* nb × 4 */
} act_q8_row;

/* Row r's sum from block b0 on, continuing the reference's f32 chain from sumf (tails of the kernels). */
static float dot_q8_ref_tail(const CodedTensor *W, int64_t r, const block_q8_0 *q, int64_t b0, float sumf);

#if ACT_X86
#define TVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define TBF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))

/* The 8-vector reduction: vector k (k = 0..7) holds two items A and B, each item's 8 i32 partials in two of
 * the four 128-bit quarters (IX/IY pick them; dot4x_q8_0's vectors have A in quarters 0 + 1: 0x88, 0xDD).
 * The result's lane 4·Q + j is: Q = 0, item A of vector j; Q = 1, item B of vector j; Q = 2, item A of vector
 * 4 + j; Q = 3, item B of vector 4 + j. Levels 1–2 transpose-and-add within quarters, level 3 adds the two
 * quarters of each item. Integer sums: exact in any order. */
#define ACT_REDUCE8(p, IX, IY, out)                                                                          \
    do {                                                                                                     \
        __m512i q0_ = _mm512_add_epi32(_mm512_unpacklo_epi32(p[0], p[1]), _mm512_unpackhi_epi32(p[0], p[1])); \
        __m512i q1_ = _mm512_add_epi32(_mm512_unpacklo_epi32(p[2], p[3]), _mm512_unpackhi_epi32(p[2], p[3])); \
        __m512i q2_ = _mm512_add_epi32(_mm512_unpacklo_epi32(p[4], p[5]), _mm512_unpackhi_epi32(p[4], p[5])); \
        __m512i q3_ = _mm512_add_epi32(_mm512_unpacklo_epi32(p[6], p[7]), _mm512_unpackhi_epi32(p[6], p[7])); \
        __m512i r0_ = _mm512_add_epi32(_mm512_unpacklo_epi64(q0_, q1_), _mm512_unpackhi_epi64(q0_, q1_));     \
        __m512i r1_ = _mm512_add_epi32(_mm512_unpacklo_epi64(q2_, q3_), _mm512_unpackhi_epi64(q2_, q3_));     \
        (out) = _mm512_add_epi32(_mm512_shuffle_i32x4(r0_, r1_, IX), _mm512_shuffle_i32x4(r0_, r1_, IY));    \
    } while (0)

static inline int32_t act_ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The next 4 rows' codes at this step's position, into L2, `lines` 64-byte lines per row (≥ a step's bytes):
 * a group of 4 rows is 4 short streams (1.7 KB each for q4_0 at 3072 columns) that the hardware prefetcher
 * picks up late at every group start, while one row at a time (the f32-activation kernels) is one long
 * stream. Measured in the model's decode (8-layer Phi-3.5 shapes, 1 thread, one run, loaded machine): without
 * it perf put most of the 4-row kernel's samples on the code loads and q4_0:act=q8 ran at 12.2 tok/s (q8_0:act=q8
 * 8.7), with it 15.0–17.3 (10.6–13.9), against 11.6–11.9 (10.0–10.7) for the f32-activation kernels. */
#define ACT_PREFETCH_NEXT4(base, stride, lines)                                                               \
    do {                                                                                                     \
        for (int j_ = 4; j_ < 8; j_++)                                                                       \
            for (int l_ = 0; l_ < (lines); l_++)                                                             \
                _mm_prefetch((const char *)((base) + (size_t)j_ * (stride) + 64 * l_), _MM_HINT_T1);         \
    } while (0)

/* Each row's chain sumf = sumf + p over blocks b..b+3 in order (lane j of quarter k: row j, block k), the
 * reference's order. */
TVNNI static inline __m128 add_blocks4(__m128 acc, __m512 f) {
    acc = _mm_add_ps(acc, _mm512_castps512_ps128(f));
    acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(f, 1));
    acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(f, 2));
    return _mm_add_ps(acc, _mm512_extractf32x4_ps(f, 3));
}

/* The gather offsets of the f16 d of blocks b..b+3 of rows r0..r0+3 for a row stride of s bytes and blocks
 * of bs bytes: lane 4·k + j = row j, block k (j·s + k·bs). */
TVNNI static inline __m512i scale_offsets4(int s, int bs) {
    const __m512i row = _mm512_set_epi32(3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0);
    const __m512i blk = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_add_epi32(_mm512_mullo_epi32(row, _mm512_set1_epi32(s)), _mm512_mullo_epi32(blk, _mm512_set1_epi32(bs)));
}

/* ---- one token (decode): 4 rows, 4 blocks per step ----
 * Rows stream contiguously (4 streams, like the f32-activation dot4 kernels). A step's 8 vectors hold, for
 * row j, blocks (b, b+1) (vector j) and (b+2, b+3) (vector 4 + j), so the reduction leaves lane 4·k + j =
 * row j's block b + k. The 16 weight scales are one gather (4 bytes at each block start: f16 d, then 2 code
 * bytes the narrowing drops). Then per lane the reference's products, and each row's chain sumf = sumf + p
 * over the 4 blocks in order: 4 adds of 128-bit quarters (lane j = row j). Blocks past the last multiple of
 * 4 continue the chain in scalar code (dot_q8_ref_tail). */
TVNNI static void dot4x_q4_0(const CodedTensor *W, int64_t r0, const act_q8_row *y, const block_q8_0 *yq,
                             float out[4]) {
    const size_t stride = W->row_stride;
    const int64_t nb = W->cols_padded / QK8_0;
    const uint8_t *w = W->codes + (size_t)r0 * stride;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i ylo_ix = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), yhi_ix = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    const __m512i doff = scale_offsets4((int)stride, (int)sizeof(block_q4_0));
    __m128 acc = _mm_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        const uint8_t *base = w + (size_t)b * sizeof(block_q4_0) + offsetof(block_q4_0, qs);
        ACT_PREFETCH_NEXT4(base, stride, 2);
        /* the activation of blocks b..b+3 as [b: 0–15, b+1: 0–15, b+2: 0–15, b+3: 0–15] and likewise 16–31 */
        const __m512i ya = _mm512_loadu_si512(y->qs + b * 32), yb = _mm512_loadu_si512(y->qs + b * 32 + 64);
        const __m512i ylo = _mm512_permutex2var_epi64(ya, ylo_ix, yb), yhi = _mm512_permutex2var_epi64(ya, yhi_ix, yb);
        /* row j, blocks b..b+3: [nibbles of b, b+1, b+2, b+3] (written out: as a loop GCC kept p[] on the stack) */
#define ACT_Q4_ROW4(j)                                                                                        \
    _mm512_dpbusd_epi32(                                                                                      \
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q##j, m4), ylo),                         \
        _mm512_and_si512(_mm512_srli_epi16(q##j, 4), m4), yhi)
#define ACT_Q4_LOAD4(j)                                                                                       \
    _mm512_inserti64x4(                                                                                       \
        _mm512_castsi256_si512(_mm256_loadu2_m128i((const __m128i *)(base + (j) * stride + sizeof(block_q4_0)), \
                                                   (const __m128i *)(base + (j) * stride))),                  \
        _mm256_loadu2_m128i((const __m128i *)(base + (j) * stride + 3 * sizeof(block_q4_0)),                    \
                            (const __m128i *)(base + (j) * stride + 2 * sizeof(block_q4_0))),                   \
        1)
        const __m512i q0 = ACT_Q4_LOAD4(0), q1 = ACT_Q4_LOAD4(1), q2 = ACT_Q4_LOAD4(2), q3 = ACT_Q4_LOAD4(3);
        const __m512i p[4] = {ACT_Q4_ROW4(0), ACT_Q4_ROW4(1), ACT_Q4_ROW4(2), ACT_Q4_ROW4(3)};
#undef ACT_Q4_ROW4
#undef ACT_Q4_LOAD4
        /* vector j's quarter k = row j's block b + k, 4 partials each: transpose-and-add to lane 4·k + j */
        const __m512i s0 = _mm512_add_epi32(_mm512_unpacklo_epi32(p[0], p[1]), _mm512_unpackhi_epi32(p[0], p[1]));
        const __m512i s1 = _mm512_add_epi32(_mm512_unpacklo_epi32(p[2], p[3]), _mm512_unpackhi_epi32(p[2], p[3]));
        __m512i si = _mm512_add_epi32(_mm512_unpacklo_epi64(s0, s1), _mm512_unpackhi_epi64(s0, s1));
        si = _mm512_sub_epi32(si, _mm512_loadu_si512(y->ksum4 + b * 4));
        const __m512 dw = _mm512_cvtph_ps(
            _mm512_cvtepi32_epi16(_mm512_i32gather_epi32(doff, w + (size_t)b * sizeof(block_q4_0), 1)));
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(si), dw); /* (sumi·d_w)·d_x */
        f = _mm512_mul_ps(f, _mm512_loadu_ps(y->d4 + b * 4));
        acc = add_blocks4(acc, f);
    }
    _mm_storeu_ps(out, acc);
    if (b < nb)
        for (int j = 0; j < 4; j++) out[j] = dot_q8_ref_tail(W, r0 + j, yq, b, out[j]);
}

TVNNI static void dot4x_q8_0(const CodedTensor *W, int64_t r0, const act_q8_row *y, const block_q8_0 *yq,
                             float out[4]) {
    const size_t stride = W->row_stride;
    const int64_t nb = W->cols_padded / QK8_0;
    const uint8_t *w = W->codes + (size_t)r0 * stride;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i doff = scale_offsets4((int)stride, (int)sizeof(block_q8_0));
    __m128 acc = _mm_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        const uint8_t *base = w + (size_t)b * sizeof(block_q8_0) + offsetof(block_q8_0, qs);
        ACT_PREFETCH_NEXT4(base, stride, 3);
        const __m512i y01 = _mm512_loadu_si512(y->qs + b * 32), y23 = _mm512_loadu_si512(y->qs + b * 32 + 64);
#define ACT_Q8_ROW2(j, o, yv)                                                                                 \
    _mm512_dpbusd_epi32(                                                                                      \
        _mm512_setzero_si512(),                                                                               \
        _mm512_xor_si512(                                                                                     \
            _mm512_inserti64x4(                                                                               \
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(base + (size_t)(j) * stride + (o)))), \
                _mm256_loadu_si256((const __m256i *)(base + (size_t)(j) * stride + (o) + sizeof(block_q8_0))), 1), \
            flip),                                                                                            \
        yv)
        const __m512i p[8] = {ACT_Q8_ROW2(0, 0, y01), ACT_Q8_ROW2(1, 0, y01), ACT_Q8_ROW2(2, 0, y01),
                              ACT_Q8_ROW2(3, 0, y01), ACT_Q8_ROW2(0, 68, y23), ACT_Q8_ROW2(1, 68, y23),
                              ACT_Q8_ROW2(2, 68, y23), ACT_Q8_ROW2(3, 68, y23)};
#undef ACT_Q8_ROW2
        __m512i si;
        ACT_REDUCE8(p, 0x88, 0xDD, si); /* item A = quarters 0 + 1 */
        si = _mm512_sub_epi32(si, _mm512_loadu_si512(y->ksum4 + b * 4));
        const __m512 dw = _mm512_cvtph_ps(
            _mm512_cvtepi32_epi16(_mm512_i32gather_epi32(doff, w + (size_t)b * sizeof(block_q8_0), 1)));
        const __m512 dd = _mm512_mul_ps(dw, _mm512_loadu_ps(y->d4 + b * 4)); /* sumi·(d_w·d_x) */
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(si), dd);
        acc = add_blocks4(acc, f);
    }
    _mm_storeu_ps(out, acc);
    if (b < nb)
        for (int j = 0; j < 4; j++) out[j] = dot_q8_ref_tail(W, r0 + j, yq, b, out[j]);
}

/* ---- the activation's quantization, vectorized ----
 * codec_act_quantize_q8_0_ref's arithmetic for one block, 16 lanes at a time: amax by max (exact in any
 * order), d and 1/d in scalar code as the reference, x·id per lane, and roundf (halves away from zero) as
 * t = trunc(v), then t ± 1 where |v − t| ≥ 0.5 (v − t is exact: Sterbenz, or t = 0). Codes whose v is not
 * within ±127 (inf or NaN when 1/d overflows) are 0, as the reference stores them. A block holding a NaN
 * goes to the reference (fmaxf skips NaNs, vmaxps does not). Returns 0 when it did. */
TVNNI static int quantize_block_avx512(const float *x, block_q8_0 *y) {
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    if (_mm512_cmp_ps_mask(x0, x0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(x1, x1, _CMP_UNORD_Q)) return 0;
    const __m512 a = _mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1));
    const float amax = _mm512_reduce_max_ps(a);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y->d = qb_f32_to_f16(d);
    const __m512 vid = _mm512_set1_ps(id), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 lim = _mm512_set1_ps(127.0f);
    for (int h = 0; h < 2; h++) {
        const __m512 v = _mm512_mul_ps(h ? x1 : x0, vid);
        __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), half, _CMP_GE_OQ);
        const __m512 sgn1 = _mm512_castsi512_ps(_mm512_or_si512( /* ±1 with v's sign (integer ops: AVX-512F) */
            _mm512_castps_si512(one), _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN))));
        t = _mm512_mask_add_ps(t, up, t, sgn1);
        const __mmask16 ok = _mm512_cmp_ps_mask(_mm512_abs_ps(t), lim, _CMP_LE_OQ);
        _mm_storeu_si128((__m128i *)(y->qs + 16 * h), _mm512_cvtepi32_epi8(_mm512_maskz_cvtps_epi32(ok, t)));
    }
    return 1;
}

/* ---- many tokens (prefill, batches): a 16-row tile repacked once, then every token against it ----
 * The tile is repacked "vertically": for block b and v = 0..7, one vector whose lane l holds elements
 * 4v..4v+3 of row l's block b (unsigned: q4_0 nibbles, q8_0 codes + 128). Against the broadcast activation
 * bytes 4v..4v+3, vpdpbusd then adds each row's partial sums in its own lane: a block's 16 row sums take 8
 * vpdpbusd and no reduction, and the repack (gathers) is paid once for all T tokens. */
typedef struct {
    int64_t nb;
    __m512i *w;  /* nb × 8 vectors */
    float *dw;   /* nb × 16: the f32 d of row l's block b at [b·16 + l] */
} act_tile;

TVNNI static void tile_pack(const CodedTensor *W, int64_t r0, act_tile *t) {
    const size_t stride = W->row_stride;
    const uint8_t *w = W->codes + (size_t)r0 * stride;
    const __m512i off = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)stride));
    const size_t bs = W->traits->block_bytes;
    for (int64_t b = 0; b < t->nb; b++) {
        const uint8_t *blk = w + (size_t)b * bs;
        __m512i *o = t->w + b * 8;
        if (W->id == CODEC_Q4_0) {
            const __m512i m4 = _mm512_set1_epi8(0x0f);
            for (int v = 0; v < 4; v++) { /* qs[4v..4v+3]: low nibbles are elements 4v.., high 16 + 4v.. */
                const __m512i g = _mm512_i32gather_epi32(off, blk + offsetof(block_q4_0, qs) + 4 * v, 1);
                o[v] = _mm512_and_si512(g, m4);
                o[4 + v] = _mm512_and_si512(_mm512_srli_epi16(g, 4), m4);
            }
        } else {
            const __m512i flip = _mm512_set1_epi8((char)0x80);
            for (int v = 0; v < 8; v++)
                o[v] = _mm512_xor_si512(_mm512_i32gather_epi32(off, blk + offsetof(block_q8_0, qs) + 4 * v, 1), flip);
        }
        _mm512_storeu_ps(t->dw + b * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(off, blk, 1))));
    }
}

/* NT tokens against a packed tile; out[t·ostride + l] = row l's result for token t. Per token and block:
 * sumi of the 16 rows, the accumulator starting from −k·Σy (integer: exact in any order), then the
 * reference's f32 steps lane by lane. NT is a constant at each call (ACT_TILE_NT or 1), so the loops over
 * tokens unroll into registers: NT accumulators, 8 vpdpbusd each per block. */
TVNNI static inline __attribute__((always_inline)) void tile_tokens(const act_tile *t, int q4, const act_q8_row *y,
                                                                    int NT, float *out, size_t ostride) {
    __m512 sumf[ACT_TILE_NT];
    for (int k = 0; k < NT; k++) sumf[k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < t->nb; b++) {
        __m512i a[ACT_TILE_NT];
        const __m512i *w = t->w + b * 8;
#pragma GCC unroll 8
        for (int k = 0; k < NT; k++) a[k] = _mm512_set1_epi32(-y[k].ksum4[b * 4]);
#pragma GCC unroll 8
        for (int v = 0; v < 8; v++) {
            const __m512i wv = _mm512_load_si512(w + v);
#pragma GCC unroll 8
            for (int k = 0; k < NT; k++)
                a[k] = _mm512_dpbusd_epi32(a[k], wv, _mm512_set1_epi32(act_ld32(y[k].qs + b * 32 + 4 * v)));
        }
        const __m512 dw = _mm512_loadu_ps(t->dw + b * 16);
#pragma GCC unroll 8
        for (int k = 0; k < NT; k++) {
            const __m512 dx = _mm512_set1_ps(y[k].d4[b * 4]);
            __m512 f;
            if (q4) f = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a[k]), dw), dx); /* (sumi·d_w)·d_x */
            else f = _mm512_mul_ps(_mm512_cvtepi32_ps(a[k]), _mm512_mul_ps(dw, dx));    /* sumi·(d_w·d_x) */
            sumf[k] = _mm512_add_ps(sumf[k], f);
        }
    }
    for (int k = 0; k < NT; k++) _mm512_storeu_ps(out + (size_t)k * ostride, sumf[k]);
}

TVNNI static void tile_tokensN_q4(const act_tile *t, const act_q8_row *y, float *out, size_t os) { tile_tokens(t, 1, y, ACT_TILE_NT, out, os); }
TVNNI static void tile_tokens4_q4(const act_tile *t, const act_q8_row *y, float *out, size_t os) { tile_tokens(t, 1, y, 4, out, os); }
TVNNI static void tile_tokens4_q8(const act_tile *t, const act_q8_row *y, float *out, size_t os) { tile_tokens(t, 0, y, 4, out, os); }
TVNNI static void tile_tokens1_q4(const act_tile *t, const act_q8_row *y, float *out, size_t os) { tile_tokens(t, 1, y, 1, out, os); }
TVNNI static void tile_tokensN_q8(const act_tile *t, const act_q8_row *y, float *out, size_t os) { tile_tokens(t, 0, y, ACT_TILE_NT, out, os); }
TVNNI static void tile_tokens1_q8(const act_tile *t, const act_q8_row *y, float *out, size_t os) { tile_tokens(t, 0, y, 1, out, os); }

/* c0 + c1 reduced by halving: 16 → 8 → 4 → 2 → 1 lanes (ggml_vec_dot_bf16's reduction). Every act=bf16 kernel
 * ends with this one function, so they cannot drift apart. */
TBF16 static inline float bf16_reduce(__m512 c0, __m512 c1) {
    const __m512 s16 = _mm512_add_ps(c0, c1);
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(s16),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s16), 1)));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

/* ggml_vec_dot_bf16's AVX512BF16 arithmetic: 32-element chunks alternately into two accumulators, the last
 * partial chunk zero-padded, then c0 + c1 reduced by halving (the order codec_act_dot_bf16_emul mirrors). */
TBF16 static float dot_bf16_avx512(const uint16_t *w, const uint16_t *x, int64_t n) {
    __m512 c[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        _mm_prefetch((const char *)(w + i) + CODEC_PF_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)(w + i) + CODEC_PF_AHEAD + 64, _MM_HINT_T0);
        c[0] = _mm512_dpbf16_ps(c[0], (__m512bh)_mm512_loadu_si512(w + i), (__m512bh)_mm512_loadu_si512(x + i));
        c[1] = _mm512_dpbf16_ps(c[1], (__m512bh)_mm512_loadu_si512(w + i + 32),
                                (__m512bh)_mm512_loadu_si512(x + i + 32));
    }
    for (; i < n; i += 32) {
        const int64_t k = n - i < 32 ? n - i : 32;
        const __mmask32 m = k == 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << k) - 1u);
        const int a = (int)((i / 32) & 1);
        c[a] = _mm512_dpbf16_ps(c[a], (__m512bh)_mm512_maskz_loadu_epi16(m, w + i),
                                (__m512bh)_mm512_maskz_loadu_epi16(m, x + i));
    }
    return bf16_reduce(c[0], c[1]);
}

/* codec_act_round_bf16 (qb_f32_to_bf16) 16 values at a time, the same integer steps: NaN → its top half with
 * the quiet bit set, else u + 0x7fff + (bit 16 of u), top half. Bit-identical (tested). The scalar loop took
 * 4.9 ms for down_proj's 512 × 8192 activations, ~4% of that product on one thread, and ran on one thread
 * (vcvtneps2bf16 would not do: it reads denormal inputs as zero). */
TBF16 static void round_bf16_avx512(const float *x, uint16_t *y, int64_t n) {
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        const __m512i u = _mm512_maskz_loadu_epi32(m, x + i);
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
        const __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, bias), _mm512_and_si512(_mm512_srli_epi32(u, 16), one));
        const __m512i v = _mm512_mask_or_epi32(_mm512_srli_epi32(r, 16), nan, _mm512_srli_epi32(u, 16), quiet);
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtepi32_epi16(v));
    }
}

/* ---- The tiled act=bf16 product (T ≥ 2): BT_NR weight rows × BT_NT tokens per tile, each (row, token)
 * output with its own two accumulators fed exactly as dot_bf16_avx512 feeds its pair (chunk c of 32 into
 * accumulator c & 1, the partial last chunk zero-padded, then bf16_reduce). The tile only decides which
 * vdpbf16ps run next to which; each output's own sequence of operations is unchanged, so it has
 * dot_bf16_avx512's bits whatever T, the tile position, the split or the thread count.
 *
 * Tiles of 6 rows × 4 tokens. An output's two accumulators never meet before the reduction (chunks 0, 2, 4, …
 * feed one, 1, 3, 5, … the other), so each tile runs its panel in two passes, even chunks then odd, with one
 * accumulator per output live: 24 zmm accumulators + 4 activation vectors + 1 weight vector = 29 of the 32
 * registers, and per chunk 6 weight + 4 activation loads feed 24 vdpbf16ps. The K dimension runs in
 * BT_KC-element panels (a multiple of 64, so every panel starts on an even chunk): the 6-row weight panel
 * (12 KB) stays in L1 while the 4-token groups of a block (up to BT_NC tokens) pass over it from L2, their
 * accumulators waiting in a spill array between panels and passes (a store and reload changes no bits).
 * Measured (one thread, T = 512, o_proj 3072×3072 and down_proj 3072×8192, GFLOP/s by CPU time on the shared
 * machine, same run): one accumulator pair per output in 4 × 3 tiles 180 / 204–226; 6 × 4 with two passes
 * 205 / 221–256, 8 × 3 alike; K panels of 512 and 4096 slower than 1024 and 2048; 24-token blocks slower
 * than 48 and 96. A register-only vdpbf16ps loop peaks at ~440 GFLOP/s here. */
#ifndef BT_KC
#define BT_KC 1024
#endif
#ifndef BT_NC
#define BT_NC 48 /* tokens per block (a multiple of BT_NT) */
#endif
#ifndef BT_PF
#define BT_PF 1024 /* weight prefetch distance in bytes */
#endif
#ifndef BT_NR
#define BT_NR 6
#endif
#ifndef BT_NT
#define BT_NT 4
#endif

typedef struct {
    __m512 c[2][BT_NR][BT_NT];
} bt_acc;

/* One chunk of 32 at element i into the accumulators c: full loads, or loads masked by m (the partial last chunk). */
TBF16 static inline __attribute__((always_inline)) void bt_chunk(const uint16_t *w, size_t ws, const uint16_t *x,
                                                                 size_t xs, int64_t i, int masked, __mmask32 m,
                                                                 int NR, int NT, __m512 c[BT_NR][BT_NT]) {
    __m512bh xv[BT_NT];
#pragma GCC unroll 8
    for (int t = 0; t < BT_NT; t++)
        if (t < NT)
            xv[t] = (__m512bh)(masked ? _mm512_maskz_loadu_epi16(m, x + (size_t)t * xs + i)
                                      : _mm512_loadu_si512(x + (size_t)t * xs + i));
#pragma GCC unroll 8
    for (int r = 0; r < BT_NR; r++)
        if (r < NR) {
            const __m512bh wv = (__m512bh)(masked ? _mm512_maskz_loadu_epi16(m, w + (size_t)r * ws + i)
                                                  : _mm512_loadu_si512(w + (size_t)r * ws + i));
#pragma GCC unroll 8
            for (int t = 0; t < BT_NT; t++)
                if (t < NT) c[r][t] = _mm512_dpbf16_ps(c[r][t], wv, xv[t]);
        }
}

/* One NR × NT tile over the chunks of parity A (chunk c = elements [32c, 32c + 32) goes to accumulator c & 1)
 * in elements [k0, k1) of rows of n elements (k0 a multiple of 64; k1 = n or a multiple of 64). The two
 * accumulators of an output never meet before the final reduction, so their chunks can run in two passes:
 * only one accumulator per output is live, and the tile can have 24 outputs. Accumulators zeroed (first) or
 * loaded from acc, and stored back. With PF (the even pass of the first token group, which brings the weight
 * panel in from memory), each step also prefetches the weight rows BT_PF bytes ahead, running on into the next
 * row group (a row group streams NR rows at once, which the hardware prefetcher follows poorly). */
TBF16 static inline __attribute__((always_inline)) void bt_tile(const uint16_t *w, size_t ws, const uint16_t *x,
                                                                size_t xs, int64_t k0, int64_t k1, int64_t n,
                                                                int first, int NR, int NT, int PF, int A,
                                                                bt_acc *acc) {
    __m512 c[BT_NR][BT_NT];
#pragma GCC unroll 8
    for (int r = 0; r < BT_NR; r++)
#pragma GCC unroll 8
        for (int t = 0; t < BT_NT; t++)
            if (r < NR && t < NT) c[r][t] = first ? _mm512_setzero_ps() : acc->c[A][r][t];
    int64_t i = k0 + 32 * A;
    for (; i + 32 <= k1; i += 64) {
        if (PF) {
            const int64_t j = i + BT_PF / 2;
            const uint16_t *q = j < n ? w + j : w + (size_t)BT_NR * ws + (j - n);
#pragma GCC unroll 8
            for (int r = 0; r < BT_NR; r++)
                if (r < NR) {
                    _mm_prefetch((const char *)(q + (size_t)r * ws), _MM_HINT_T0);
                    _mm_prefetch((const char *)(q + (size_t)r * ws + 32), _MM_HINT_T0);
                }
        }
        bt_chunk(w, ws, x, xs, i, 0, 0, NR, NT, c);
    }
    if (i < k1) /* the partial last chunk */
        bt_chunk(w, ws, x, xs, i, 1, (__mmask32)((1u << (k1 - i)) - 1u), NR, NT, c);
#pragma GCC unroll 8
    for (int r = 0; r < BT_NR; r++)
#pragma GCC unroll 8
        for (int t = 0; t < BT_NT; t++)
            if (r < NR && t < NT) acc->c[A][r][t] = c[r][t];
}

/* Each tile shape its own function, compiled with NR, NT constant (accumulators in registers): both passes,
 * the first with the prefetch when PF. */
typedef void (*bt_tile_fn)(const uint16_t *, size_t, const uint16_t *, size_t, int64_t, int64_t, int64_t, int, int,
                           bt_acc *);
#define BT_TILE_FN(NR, NT)                                                                                        \
    TBF16 static void bt_tile_##NR##x##NT(const uint16_t *w, size_t ws, const uint16_t *x, size_t xs, int64_t k0, \
                                          int64_t k1, int64_t n, int first, int pf, bt_acc *acc) {                \
        if (pf) bt_tile(w, ws, x, xs, k0, k1, n, first, NR, NT, 1, 0, acc);                                       \
        else bt_tile(w, ws, x, xs, k0, k1, n, first, NR, NT, 0, 0, acc);                                          \
        bt_tile(w, ws, x, xs, k0, k1, n, first, NR, NT, 0, 1, acc);                                               \
    }
#if BT_NT == 4
#define BT_TILE_FNS(NR) BT_TILE_FN(NR, 1) BT_TILE_FN(NR, 2) BT_TILE_FN(NR, 3) BT_TILE_FN(NR, 4)
#define BT_ROW(NR) {bt_tile_##NR##x1, bt_tile_##NR##x2, bt_tile_##NR##x3, bt_tile_##NR##x4}
#else
#define BT_TILE_FNS(NR) BT_TILE_FN(NR, 1) BT_TILE_FN(NR, 2) BT_TILE_FN(NR, 3)
#define BT_ROW(NR) {bt_tile_##NR##x1, bt_tile_##NR##x2, bt_tile_##NR##x3}
#endif
#if BT_NR == 6
BT_TILE_FNS(1) BT_TILE_FNS(2) BT_TILE_FNS(3) BT_TILE_FNS(4) BT_TILE_FNS(5) BT_TILE_FNS(6)
static const bt_tile_fn bt_tiles[BT_NR][BT_NT] = {BT_ROW(1), BT_ROW(2), BT_ROW(3), BT_ROW(4), BT_ROW(5), BT_ROW(6)};
#elif BT_NR == 8
BT_TILE_FNS(1) BT_TILE_FNS(2) BT_TILE_FNS(3) BT_TILE_FNS(4) BT_TILE_FNS(5) BT_TILE_FNS(6) BT_TILE_FNS(7) BT_TILE_FNS(8)
static const bt_tile_fn bt_tiles[BT_NR][BT_NT] = {BT_ROW(1), BT_ROW(2), BT_ROW(3), BT_ROW(4),
                                                  BT_ROW(5), BT_ROW(6), BT_ROW(7), BT_ROW(8)};
#else
BT_TILE_FNS(1) BT_TILE_FNS(2) BT_TILE_FNS(3) BT_TILE_FNS(4)
static const bt_tile_fn bt_tiles[BT_NR][BT_NT] = {BT_ROW(1), BT_ROW(2), BT_ROW(3), BT_ROW(4)};
#endif

/* Rows [r0, r1) × all T tokens: out[t·os + r] for weight rows w + r·ws and bf16 activations x + t·xs (n
 * elements each). acc: scratch for ceil(BT_NC / BT_NT) tiles. */
TBF16 static void matmul_bf16_tiled(float *out, size_t os, const uint16_t *w, size_t ws, int64_t r0, int64_t r1,
                                    const uint16_t *x, size_t xs, int T, int64_t n, bt_acc *acc) {
    const int nblocks = (T + BT_NC - 1) / BT_NC;
    const int nc = ((T + nblocks - 1) / nblocks + BT_NT - 1) / BT_NT * BT_NT; /* blocks of near-equal size, ≤ BT_NC */
    for (int t0 = 0; t0 < T; t0 += nc) {
        const int tn = T - t0 < nc ? T - t0 : nc, groups = (tn + BT_NT - 1) / BT_NT;
        for (int64_t r = r0; r < r1; r += BT_NR) {
            const int NR = r1 - r < BT_NR ? (int)(r1 - r) : BT_NR;
            const uint16_t *wr = w + (size_t)r * ws;
            for (int64_t k0 = 0; k0 < n; k0 += BT_KC) {
                const int64_t k1 = n - k0 <= BT_KC ? n : k0 + BT_KC;
                for (int g = 0; g < groups; g++) {
                    const int NT = tn - BT_NT * g < BT_NT ? tn - BT_NT * g : BT_NT;
                    bt_tiles[NR - 1][NT - 1](wr, ws, x + (size_t)(t0 + BT_NT * g) * xs, xs, k0, k1, n, k0 == 0, g == 0,
                                             &acc[g]);
                }
            }
            for (int g = 0; g < groups; g++) {
                const int NT = tn - BT_NT * g < BT_NT ? tn - BT_NT * g : BT_NT;
                for (int t = 0; t < NT; t++)
                    for (int i = 0; i < NR; i++)
                        out[(size_t)(t0 + BT_NT * g + t) * os + (size_t)(r + i)] =
                            bf16_reduce(acc[g].c[0][i][t], acc[g].c[1][i][t]);
            }
        }
    }
}
#endif

codec_act_bf16_dot_fn codec_act_dot_bf16_fast(void) {
#if ACT_X86
    if (codec_simd_level() >= 2 && cpu_has(1)) return dot_bf16_avx512;
#endif
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The products. */

/* Per-thread grow-only scratch (two slots: the activations, prepared by the calling thread and read by all,
 * and each worker's packed tile), kept across products: a decode step makes ~4 products per layer, and a
 * malloc/free per product and thread was part of the one-token path's cost. */
typedef struct {
    size_t n[2];
    void *p[2];
} act_scratch;
static pthread_key_t act_scratch_key;
static pthread_once_t act_scratch_once = PTHREAD_ONCE_INIT;
static int act_scratch_key_ok;
static void act_scratch_free(void *v) {
    act_scratch *s = v;
    if (s) free(s->p[0]), free(s->p[1]);
    free(s);
}
static void act_scratch_key_init(void) {
    act_scratch_key_ok = pthread_key_create(&act_scratch_key, act_scratch_free) == 0;
}
/* The calling thread's slot (0 or 1) of at least `bytes` bytes, 64-byte aligned, or NULL (no memory). */
static void *act_scratch_get(int slot, size_t bytes) {
    pthread_once(&act_scratch_once, act_scratch_key_init);
    if (!act_scratch_key_ok) return NULL;
    act_scratch *s = pthread_getspecific(act_scratch_key);
    if (s && s->n[slot] >= bytes) return s->p[slot];
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(act_scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    free(s->p[slot]);
    s->n[slot] = 0;
    s->p[slot] = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (s->p[slot]) s->n[slot] = bytes;
    return s->p[slot];
}

/* Quantizes activation row xt (cols values, zero-padded to nb blocks as the weights are) into q. */
static void quantize_padded(const float *xt, int64_t cols, int64_t nb, block_q8_0 *q) {
    const int64_t full = cols / QK8_0;
    codec_act_quantize_q8_0_ref(xt, q, full * QK8_0);
    if (full < nb) {
        float pad[QK8_0] = {0};
        memcpy(pad, xt + full * QK8_0, (size_t)(cols - full * QK8_0) * sizeof(float));
        codec_act_quantize_q8_0_ref(pad, q + full, QK8_0);
    }
}

/* One token's activation in the scratch: the blocks (for the scalar tails) and the kernels' layout. */
static size_t act_row_bytes(int64_t nb) {
    return (size_t)nb * (sizeof(block_q8_0) + 32 + 4 * sizeof(int32_t) + 4 * sizeof(float)) + 64;
}
static void act_row_at(void *base, int64_t nb, int t, block_q8_0 **q, act_q8_row *y, int8_t **qs, int32_t **ks,
                       float **d4) {
    uint8_t *p = (uint8_t *)base + (size_t)t * ((act_row_bytes(nb) + 63) / 64 * 64);
    *qs = (int8_t *)p; /* 64-byte aligned first */
    *ks = (int32_t *)(p + (size_t)nb * 32);
    *d4 = (float *)(p + (size_t)nb * (32 + 16));
    *q = (block_q8_0 *)(p + (size_t)nb * (32 + 32));
    y->qs = *qs, y->ksum4 = *ks, y->d4 = *d4;
}
static void prepare_q8(const float *xt, int64_t cols, int64_t nb, int k, int fast, void *base, int t) {
    block_q8_0 *q;
    act_q8_row y;
    int8_t *qs;
    int32_t *ks;
    float *d4;
    act_row_at(base, nb, t, &q, &y, &qs, &ks, &d4);
#if ACT_X86
    if (fast) {
        const int64_t full = cols / QK8_0;
        for (int64_t b = 0; b < full; b++)
            if (!quantize_block_avx512(xt + b * QK8_0, q + b)) codec_act_quantize_q8_0_ref(xt + b * QK8_0, q + b, QK8_0);
        if (full < nb) {
            float pad[QK8_0] = {0};
            memcpy(pad, xt + full * QK8_0, (size_t)(cols - full * QK8_0) * sizeof(float));
            codec_act_quantize_q8_0_ref(pad, q + full, QK8_0);
        }
    } else
#endif
        quantize_padded(xt, cols, nb, q);
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < QK8_0; j++) s += q[b].qs[j];
        memcpy(qs + b * 32, q[b].qs, 32);
        const float d = qb_f16_to_f32(q[b].d);
        for (int j = 0; j < 4; j++) ks[b * 4 + j] = k * s, d4[b * 4 + j] = d;
    }
}

static float dot_q8_ref_row(const CodedTensor *W, int64_t r, const block_q8_0 *q) {
    const void *row = W->codes + (size_t)r * W->row_stride;
    return W->id == CODEC_Q4_0 ? codec_act_dot_q4_0_q8_0_ref(row, q, W->cols_padded)
                               : codec_act_dot_q8_0_q8_0_ref(row, q, W->cols_padded);
}
static float dot_q8_ref_tail(const CodedTensor *W, int64_t r, const block_q8_0 *q, int64_t b0, float sumf) {
    const uint8_t *row = W->codes + (size_t)r * W->row_stride;
    const int64_t nb = W->cols_padded / QK8_0;
    return W->id == CODEC_Q4_0 ? dot_q4_0_q8_0_from((const block_q4_0 *)row, q, b0, nb, sumf)
                               : dot_q8_0_q8_0_from((const block_q8_0 *)row, q, b0, nb, sumf);
}

/* T ≥ ACT_TILE_T_MIN: the 16-row tile kernel (repack once per tile); fewer tokens: the 4-row kernel per
 * token (the 4 rows' codes stay in L1 across the tokens). Both give the reference's bits. */
#define ACT_TILE_T_MIN 8

/* Rows [r0, r1) (r0 a multiple of 4) for every token, one thread. */
static void q8_rows(float *out, const CodedTensor *W, void *act, int T, int64_t r0, int64_t r1, int fast) {
    const int64_t rows = W->rows, nb = W->cols_padded / QK8_0;
    block_q8_0 *q;
    act_q8_row y[ACT_TILE_NT];
    int8_t *qs;
    int32_t *ks;
    float *d4;
    int64_t r = r0;
#if ACT_X86
    const int q4 = W->id == CODEC_Q4_0;
    if (fast && T >= ACT_TILE_T_MIN && r1 - r >= 16) {
        act_tile tile = {nb, act_scratch_get(1, (size_t)nb * (8 * 64 + 16 * sizeof(float))), NULL};
        if (tile.w) {
            tile.dw = (float *)(tile.w + nb * 8);
            for (; r + 16 <= r1; r += 16) {
                tile_pack(W, r, &tile);
                int t = 0;
                for (; t + ACT_TILE_NT <= T; t += ACT_TILE_NT) {
                    for (int k = 0; k < ACT_TILE_NT; k++) act_row_at(act, nb, t + k, &q, &y[k], &qs, &ks, &d4);
                    (q4 ? tile_tokensN_q4 : tile_tokensN_q8)(&tile, y, out + (size_t)t * rows + r, (size_t)rows);
                }
                for (; t + 4 <= T; t += 4) {
                    for (int k = 0; k < 4; k++) act_row_at(act, nb, t + k, &q, &y[k], &qs, &ks, &d4);
                    (q4 ? tile_tokens4_q4 : tile_tokens4_q8)(&tile, y, out + (size_t)t * rows + r, (size_t)rows);
                }
                for (; t < T; t++) {
                    act_row_at(act, nb, t, &q, &y[0], &qs, &ks, &d4);
                    (q4 ? tile_tokens1_q4 : tile_tokens1_q8)(&tile, y, out + (size_t)t * rows + r, (size_t)rows);
                }
            }
        }
    }
    if (fast)
        for (; r + 4 <= r1; r += 4)
            for (int t = 0; t < T; t++) {
                float o[4];
                act_row_at(act, nb, t, &q, &y[0], &qs, &ks, &d4);
                (q4 ? dot4x_q4_0 : dot4x_q8_0)(W, r, &y[0], q, o);
                for (int j = 0; j < 4; j++) out[(size_t)t * rows + r + j] = o[j];
            }
#else
    (void)fast;
    (void)dot_q8_ref_tail;
#endif
    for (; r < r1; r++)
        for (int t = 0; t < T; t++) {
            act_row_at(act, nb, t, &q, &y[0], &qs, &ks, &d4);
            out[(size_t)t * rows + r] = dot_q8_ref_row(W, r, q);
        }
}

/* One OpenMP region (with more than one thread): the tokens' activations prepared (split over the threads
 * when T > 1), then rows split statically in 16-row shares (4-row for T < ACT_TILE_T_MIN). One token's
 * activation is prepared before the region: 3–8 thousand values, not worth a barrier. */
static void matmul_q8(float *out, const CodedTensor *W, const float *x, int T, int nthreads, int fast) {
    const int64_t rows = W->rows, cols = W->cols, nb = W->cols_padded / QK8_0;
    const int k = W->id == CODEC_Q4_0 ? 8 : 128;
    void *act = act_scratch_get(0, (size_t)T * ((act_row_bytes(nb) + 63) / 64 * 64));
    if (!act) { /* no memory: the reference (same bits) */
        codec_act_matmul_ref(out, W, x, T);
        return;
    }
    const int64_t align = fast && T >= ACT_TILE_T_MIN ? 16 : 4;
    if (T == 1) prepare_q8(x, cols, nb, k, fast, act, 0);
    if (nthreads == 1 || rows < 2 * align) {
        for (int t = 0; t < T && T > 1; t++) prepare_q8(x + (size_t)t * cols, cols, nb, k, fast, act, t);
        q8_rows(out, W, act, T, 0, rows, fast);
        return;
    }
#pragma omp parallel num_threads(nthreads)
    {
        if (T > 1) {
#pragma omp for schedule(static)
            for (int t = 0; t < T; t++) prepare_q8(x + (size_t)t * cols, cols, nb, k, fast, act, t);
        }
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int64_t per = ((rows + nt - 1) / nt + align - 1) / align * align;
        const int64_t r0 = (int64_t)id * per < rows ? (int64_t)id * per : rows;
        const int64_t r1 = r0 + per < rows ? r0 + per : rows;
        q8_rows(out, W, act, T, r0, r1, fast);
    }
}

static int bf16_is_fast(void) {
    return ACT_X86 && codec_simd_level() >= 2 && cpu_has(1);
}

/* An activation row rounded to bf16: the AVX-512 loop where the kernels run, else the scalar definition. */
static void bf16_round_row(const float *x, uint16_t *y, int64_t n, int fast) {
#if ACT_X86
    if (fast) {
        round_bf16_avx512(x, y, n);
        return;
    }
#endif
    (void)fast;
    codec_act_round_bf16(x, y, n);
}

static void matmul_bf16(float *out, const CodedTensor *W, const float *x, int T, int nthreads) {
    const int64_t rows = W->rows, cols = W->cols;
    const int fast = bf16_is_fast();
    codec_act_bf16_dot_fn dot = codec_act_dot_bf16_fast();
    if (!dot) dot = codec_act_dot_bf16_emul; /* the same bits, slowly */
    /* activation rows padded to whole 64-byte lines (aligned loads; the padding is never read unmasked) */
    const size_t xs = ((size_t)cols + 31) / 32 * 32;
    uint16_t *xb = qb_aligned_alloc((size_t)T * xs * sizeof *xb, "act=bf16 activations");
    if (!xb) {
        uint16_t *x1 = malloc((size_t)cols * sizeof *x1);
        for (int t = 0; t < T; t++) {
            if (x1) codec_act_round_bf16(x + (size_t)t * cols, x1, cols);
            for (int64_t r = 0; r < rows; r++)
                out[(size_t)t * rows + r] = x1 ? dot((const uint16_t *)(W->codes + (size_t)r * W->row_stride), x1, cols) : NAN;
        }
        free(x1);
        return;
    }
#pragma omp parallel for num_threads(nthreads) schedule(static) if (T > 1)
    for (int t = 0; t < T; t++) bf16_round_row(x + (size_t)t * cols, xb + (size_t)t * xs, cols, fast);
#if ACT_X86
    if (fast && T > 1 && W->row_stride % sizeof(uint16_t) == 0) {
        const size_t ws = W->row_stride / sizeof(uint16_t);
        const int64_t ngroups = (rows + BT_NR - 1) / BT_NR;
#pragma omp parallel num_threads(nthreads)
        {
            /* a contiguous share of the BT_NR-row groups per thread */
            const int nt = omp_get_num_threads(), id = omp_get_thread_num();
            const int64_t per = (ngroups + nt - 1) / nt;
            const int64_t r0 = id * per * BT_NR < rows ? id * per * BT_NR : rows;
            const int64_t r1 = r0 + per * BT_NR < rows ? r0 + per * BT_NR : rows;
            bt_acc *acc = qb_aligned_alloc(sizeof(bt_acc) * ((BT_NC + BT_NT - 1) / BT_NT), "act=bf16 tile scratch");
            if (acc) matmul_bf16_tiled(out, (size_t)rows, (const uint16_t *)W->codes, ws, r0, r1, xb, xs, T, cols, acc);
            else /* no scratch: one dot per output (the same bits) */
                for (int64_t r = r0; r < r1; r++)
                    for (int t = 0; t < T; t++)
                        out[(size_t)t * rows + r] =
                            dot((const uint16_t *)(W->codes + (size_t)r * W->row_stride), xb + (size_t)t * xs, cols);
            free(acc);
        }
        free(xb);
        return;
    }
#else
    (void)fast;
#endif
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *w = (const uint16_t *)(W->codes + (size_t)r * W->row_stride);
        for (int t = 0; t < T; t++) out[(size_t)t * rows + r] = dot(w, xb + (size_t)t * xs, cols);
    }
    free(xb);
}

void codec_act_matmul(float *out, const CodedTensor *W, const float *x, int T, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    if (T <= 0) return;
    if (W->params.act == CODEC_ACT_Q8 && (W->id == CODEC_Q4_0 || W->id == CODEC_Q8_0)) {
        /* the gather's offsets are i32: 15 row strides must fit (always, short of 134 MB rows) */
        const int fast = codec_act_q8_is_fast() && W->row_stride <= (size_t)INT32_MAX / 16;
        matmul_q8(out, W, x, T, nthreads, fast);
    } else if (W->params.act == CODEC_ACT_BF16 && W->id == CODEC_BF16) {
        matmul_bf16(out, W, x, T, nthreads);
    } else { /* codec_tensor_init refuses other pairs; unreachable short of a hand-made tensor */
        for (int64_t i = 0; i < (int64_t)T * W->rows; i++) out[i] = NAN;
    }
}

void codec_act_matmul_ref(float *out, const CodedTensor *W, const float *x, int T) {
    const int64_t rows = W->rows, cols = W->cols;
    if (W->params.act == CODEC_ACT_BF16 && W->id == CODEC_BF16) {
        uint16_t *xb = malloc((size_t)cols * sizeof *xb);
        for (int t = 0; t < T; t++) {
            if (xb) codec_act_round_bf16(x + (size_t)t * cols, xb, cols);
            for (int64_t r = 0; r < rows; r++)
                out[(size_t)t * rows + r] =
                    xb ? codec_act_dot_bf16_ref((const uint16_t *)(W->codes + (size_t)r * W->row_stride), xb, cols)
                       : NAN;
        }
        free(xb);
        return;
    }
    const int64_t nb = W->cols_padded / QK8_0;
    block_q8_0 *q = malloc((size_t)nb * sizeof *q);
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * cols;
        if (q) quantize_padded(xt, cols, nb, q);
        for (int64_t r = 0; r < rows; r++) /* NaN marks outputs there was no memory to compute */
            out[(size_t)t * rows + r] = q ? dot_q8_ref_row(W, r, q) : NAN;
    }
    free(q);
}
