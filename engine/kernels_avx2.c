/* kernels_avx2.c — AVX2+FMA+F16C fused decode-and-dot kernels, one per codec (for x86 CPUs without
 * AVX-512): 8 weights per ymm, decoded in registers; the last n % 8 weights go through a scalar loop in
 * order. Held to the scalar _ref kernels within 1e-5 relative by tests/test_codec.c (forced with
 * codec_set_simd(1) on any AVX2 machine).
 *
 * Target attributes rather than -march, so the library builds and runs on a CPU without AVX2: codec.c
 * only calls these when __builtin_cpu_supports says so. */
#include "codec.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))

T256 static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

T256 static float dot_fp32(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const float *w = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

T256 static inline __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
T256 static float dot_bf16(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint16_t *w = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(bf16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += qb_bf16_to_f32(w[i]) * x[i];
    return s;
}

T256 static float dot_f16(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint16_t *w = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8))), _mm256_loadu_ps(x + i + 8),
                             a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += qb_f16_to_f32(w[i]) * x[i];
    return s;
}

/* 1/s: rcp (relative error ≤ 1.5·2^-12) and one Newton step r·(2 − s·r) → about an ulp. */
T256 static inline __m256 recip(__m256 s) {
    __m256 r = _mm256_rcp_ps(s);
    return _mm256_mul_ps(r, _mm256_fnmadd_ps(s, r, _mm256_set1_ps(2.0f)));
}
T256 static inline __m256 flip_sign(__m256 x, __m256i f) {
    return _mm256_xor_ps(x, _mm256_castsi256_ps(_mm256_and_si256(f, _mm256_set1_epi32((int)0x80000000u))));
}

/* qins: 8 (stored, sign) pairs → 8 u16 lanes (low byte stored, high byte the ±1 sign byte). */
T256 static inline __m256 qins_term(const uint16_t *p, const float *x, __m256 acc) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    __m256 s = _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0xff)));
    return _mm256_fmadd_ps(recip(s), flip_sign(_mm256_loadu_ps(x), _mm256_slli_epi32(v, 16)), acc);
}
T256 static float dot_qins(const void *row, float rs, const float *x, int64_t n) {
    const uint16_t *p = row;
    const uint8_t *b = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = qins_term(p + i, x + i, a0);
        a1 = qins_term(p + i + 8, x + i + 8, a1);
    }
    for (; i + 8 <= n; i += 8) a0 = qins_term(p + i, x + i, a0);
    float s = rs * hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) {
        float v = rs / (float)b[2 * i];
        s += ((int8_t)b[2 * i + 1] < 0 ? -v : v) * x[i];
    }
    return s;
}

/* qins8: byte = sign bit | 7-bit code. */
T256 static inline __m256 qins8_term(const uint8_t *p, const float *x, __m256 acc) {
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    __m256 s = _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0x7f)));
    return _mm256_fmadd_ps(recip(s), flip_sign(_mm256_loadu_ps(x), _mm256_slli_epi32(v, 24)), acc);
}
T256 static float dot_qins8(const void *row, float rs, const float *x, int64_t n) {
    const uint8_t *p = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = qins8_term(p + i, x + i, a0);
        a1 = qins8_term(p + i + 8, x + i + 8, a1);
    }
    for (; i + 8 <= n; i += 8) a0 = qins8_term(p + i, x + i, a0);
    float s = rs * hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) {
        float v = rs / (float)(p[i] & 0x7f);
        s += ((p[i] & 0x80) ? -v : v) * x[i];
    }
    return s;
}

T256 static inline __m256 i8x8(const void *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
T256 static float dot_int8(const void *row, float rs, const float *x, int64_t n) {
    const int8_t *q = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(i8x8(q + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(i8x8(q + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(i8x8(q + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(i8x8(q + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(i8x8(q + i), _mm256_loadu_ps(x + i), a0);
    float s = rs * hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += ((float)q[i] * rs) * x[i];
    return s;
}

/* q8_0: 34-byte blocks; per block the 32-term dot in 4 lanes-of-8, then acc += d · that. */
T256 static float dot_q8_0(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint8_t *b = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / 32; k++) {
        const uint8_t *b0 = b + k * 34;
        uint16_t h;
        memcpy(&h, b0, 2);
        const float *x0 = x + k * 32;
        __m256 t0 = _mm256_mul_ps(i8x8(b0 + 2), _mm256_loadu_ps(x0));
        __m256 t1 = _mm256_mul_ps(i8x8(b0 + 10), _mm256_loadu_ps(x0 + 8));
        t0 = _mm256_fmadd_ps(i8x8(b0 + 18), _mm256_loadu_ps(x0 + 16), t0);
        t1 = _mm256_fmadd_ps(i8x8(b0 + 26), _mm256_loadu_ps(x0 + 24), t1);
        __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
        if (k & 1)
            a1 = _mm256_fmadd_ps(d, _mm256_add_ps(t0, t1), a1);
        else
            a0 = _mm256_fmadd_ps(d, _mm256_add_ps(t0, t1), a0);
    }
    return hsum(_mm256_add_ps(a0, a1));
}

/* q4_0: 18-byte blocks; byte j holds weight j (low nibble) and j+16 (high nibble). */
T256 static float dot_q4_0(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint8_t *b = row;
    const __m256i m4 = _mm256_set1_epi32(0xf), eight = _mm256_set1_epi32(8);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / 32; k++) {
        const uint8_t *b0 = b + k * 18;
        uint16_t h;
        memcpy(&h, b0, 2);
        const float *x0 = x + k * 32;
        __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b0 + 2)));  /* bytes 0..7 */
        __m256i v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b0 + 10))); /* bytes 8..15 */
        __m256 l0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v0, m4), eight));
        __m256 l1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v1, m4), eight));
        __m256 h0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v0, 4), eight));
        __m256 h1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v1, 4), eight));
        __m256 t0 = _mm256_mul_ps(l0, _mm256_loadu_ps(x0));
        __m256 t1 = _mm256_mul_ps(l1, _mm256_loadu_ps(x0 + 8));
        t0 = _mm256_fmadd_ps(h0, _mm256_loadu_ps(x0 + 16), t0);
        t1 = _mm256_fmadd_ps(h1, _mm256_loadu_ps(x0 + 24), t1);
        __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
        if (k & 1)
            a1 = _mm256_fmadd_ps(d, _mm256_add_ps(t0, t1), a1);
        else
            a0 = _mm256_fmadd_ps(d, _mm256_add_ps(t0, t1), a0);
    }
    return hsum(_mm256_add_ps(a0, a1));
}

/* qins-compute with a coded activation (see codec_qins_compute_dot_ref): Σ ±1/min(s_w·s_x, 255), × P. */
T256 static float dot_qc_coded(const void *row, float wscale, const void *xcodes, float xscale, int64_t n) {
    const uint16_t *p = row, *q = xcodes;
    const uint8_t *wb = row, *xb = xcodes;
    const __m256i lo = _mm256_set1_epi32(0xff), c255 = _mm256_set1_epi32(255);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + i)));
        __m256i xv = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(q + i)));
        __m256i prod = _mm256_min_epi32(_mm256_mullo_epi32(_mm256_and_si256(w, lo), _mm256_and_si256(xv, lo)), c255);
        __m256 t = flip_sign(recip(_mm256_cvtepi32_ps(prod)), _mm256_slli_epi32(_mm256_xor_si256(w, xv), 16));
        if ((i / 8) & 1)
            a1 = _mm256_add_ps(a1, t);
        else
            a0 = _mm256_add_ps(a0, t);
    }
    const float P = wscale * xscale;
    float s = P * hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) {
        unsigned pc = (unsigned)wb[2 * i] * xb[2 * i];
        float v = P / (float)(pc > 255 ? 255 : pc);
        s += ((int8_t)(wb[2 * i + 1] ^ xb[2 * i + 1]) < 0) ? -v : v;
    }
    return s;
}
/* Self-coding variant for the traits table (codes x first; used outside codec_matmul). */
T256 static float dot_qc(const void *row, float rs, const float *x, int64_t n) {
    uint8_t buf[2 * 4096];
    if (n > 4096) return codec_table[CODEC_QINS_COMPUTE].vec_dot_ref(row, rs, x, n);
    float xs = codec_qins_code_vector(x, n, buf);
    return dot_qc_coded(row, rs, buf, xs, n);
}

const codec_vec_dot_fn codec_vec_dot_avx2[CODEC_COUNT] = {
    [CODEC_FP32] = dot_fp32,   [CODEC_BF16] = dot_bf16, [CODEC_F16] = dot_f16,   [CODEC_QINS] = dot_qins,
    [CODEC_QINS8] = dot_qins8, [CODEC_INT8] = dot_int8, [CODEC_Q8_0] = dot_q8_0, [CODEC_Q4_0] = dot_q4_0,
    [CODEC_QINS_COMPUTE] = dot_qc,
};
const codec_qc_dot_fn codec_qins_compute_dot_avx2 = dot_qc_coded;

#else /* not x86-64 GCC/Clang */
const codec_vec_dot_fn codec_vec_dot_avx2[CODEC_COUNT] = {0};
const codec_qc_dot_fn codec_qins_compute_dot_avx2 = 0;
#endif
