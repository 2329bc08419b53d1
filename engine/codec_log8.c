/* codec_log8.c — log8: what the QINS idea would need. One byte per weight: bit 7 = sign (1 = negative),
 * bits 0..6 = a log-magnitude code c; f32 scale S per row (the row's max |w|, as qins).
 *
 *   c = 0        → 0
 *   c = 1..127   → S · 255^((c − 127) / 126): 127 levels spaced evenly in log |w| over [S/255, S],
 *                  the same magnitude range as the qins code (S/255 … S), ratio 255^(1/126) ≈ 1.045
 *                  between neighbours (relative step 4.5% everywhere; a rounding error ≤ 2.2%).
 * The QINS code S/stored has harmonic levels (S/1, S/2, S/3, …): its relative step is 50% at the top of
 * the range, where the large weights of a Gaussian row live, and < 1% only near S/255. Spending the same
 * 7 bits on log-spaced levels gives the large weights the same 4.5% step as the small ones; on Gaussian
 * rows that is 25× lower RMS error than qins (tests/test_codec.c measures it).
 *
 * Encoding picks the level nearest to |w| in value (not in log), found by binary search over the decoded
 * levels S · lut[c], so the encoder and the decoder use the same f32 numbers. Decoding is S · lut[c],
 * signed. The level table is a literal (generated once as (float)pow(255, (c − 127) / 126.0) in double,
 * checked against pow by the tests), so every platform decodes the same bits.
 *
 * Kernels: the scalar reference here; AVX2 and AVX-512 vec_dot (table gather, FMA, S applied once per row)
 * below under target attributes, held to the reference within 1e-5 relative by the tests. */
#include <math.h>
#include <string.h>

#include "codec.h"

CODEC_FILE_DECLARE(log8);

/* Level of code c relative to the row scale. */
static const float k_log8_lut[128] = {
    0x0p+0f, 0x1.010102p-8f, 0x1.0c8f08p-8f, 0x1.18a20ep-8f,
    0x1.25400ep-8f, 0x1.326f44p-8f, 0x1.40363ap-8f, 0x1.4e9bc4p-8f,
    0x1.5da7p-8f, 0x1.6d5f62p-8f, 0x1.7dccb4p-8f, 0x1.8ef716p-8f,
    0x1.a0e70cp-8f, 0x1.b3a576p-8f, 0x1.c73b9cp-8f, 0x1.dbb33p-8f,
    0x1.f11656p-8f, 0x1.03b7d4p-7f, 0x1.0f6518p-7f, 0x1.1b98c2p-7f,
    0x1.2858dep-7f, 0x1.35abbap-7f, 0x1.4397fp-7f, 0x1.522464p-7f,
    0x1.61584cp-7f, 0x1.713b2ep-7f, 0x1.81d4eap-7f, 0x1.932db4p-7f,
    0x1.a54e28p-7f, 0x1.b83f4p-7f, 0x1.cc0a58p-7f, 0x1.e0b942p-7f,
    0x1.f6563cp-7f, 0x1.0675fcp-6f, 0x1.1242d2p-6f, 0x1.1e977ap-6f,
    0x1.2b7a0ep-6f, 0x1.38f0eep-6f, 0x1.4702c8p-6f, 0x1.55b692p-6f,
    0x1.651394p-6f, 0x1.75216ap-6f, 0x1.85e806p-6f, 0x1.976fb8p-6f,
    0x1.a9c12ep-6f, 0x1.bce578p-6f, 0x1.d0e616p-6f, 0x1.e5cceap-6f,
    0x1.fba452p-6f, 0x1.093b8ep-5f, 0x1.15284cp-5f, 0x1.219e4ap-5f,
    0x1.2ea3b4p-5f, 0x1.3c3efcp-5f, 0x1.4a76dep-5f, 0x1.595268p-5f,
    0x1.68d8f4p-5f, 0x1.79123p-5f, 0x1.8a0626p-5f, 0x1.9bbd3cp-5f,
    0x1.ae4038p-5f, 0x1.c19844p-5f, 0x1.d5cef6p-5f, 0x1.eaee4cp-5f,
    0x1.00806p-4f, 0x1.0c08ap-4f, 0x1.18159ap-4f, 0x1.24ad48p-4f,
    0x1.31d5e6p-4f, 0x1.3f95f8p-4f, 0x1.4df44cp-4f, 0x1.5cf8p-4f,
    0x1.6ca884p-4f, 0x1.7d0d9cp-4f, 0x1.8e2f6ap-4f, 0x1.a01664p-4f,
    0x1.b2cb6cp-4f, 0x1.c657c4p-4f, 0x1.dac51ap-4f, 0x1.f01d8cp-4f,
    0x1.0335d6p-3f, 0x1.0edd44p-3f, 0x1.1b0ad2p-3f, 0x1.27c48cp-3f,
    0x1.3510bep-3f, 0x1.42f5fap-3f, 0x1.517b28p-3f, 0x1.60a774p-3f,
    0x1.708262p-3f, 0x1.8113cep-3f, 0x1.9263ecp-3f, 0x1.a47b4ep-3f,
    0x1.b762e8p-3f, 0x1.cb241ap-3f, 0x1.dfc8aap-3f, 0x1.f55ad2p-3f,
    0x1.05f2ap-2f, 0x1.11b98ep-2f, 0x1.1e080ap-2f, 0x1.2ae42cp-2f,
    0x1.38545p-2f, 0x1.465f1ep-2f, 0x1.550b8cp-2f, 0x1.6460dep-2f,
    0x1.7466aap-2f, 0x1.8524ep-2f, 0x1.96a3ccp-2f, 0x1.a8ec18p-2f,
    0x1.bc06cep-2f, 0x1.cffd68p-2f, 0x1.e4d9c8p-2f, 0x1.faa64p-2f,
    0x1.08b6dp-1f, 0x1.149d96p-1f, 0x1.210d56p-1f, 0x1.2e0c3cp-1f,
    0x1.3ba0b4p-1f, 0x1.49d17ap-1f, 0x1.58a594p-1f, 0x1.68245ap-1f,
    0x1.785578p-1f, 0x1.8940f2p-1f, 0x1.9aef2ap-1f, 0x1.ad68e2p-1f,
    0x1.c0b74p-1f, 0x1.d4e3d2p-1f, 0x1.e9f898p-1f, 0x1p+0f,
};

#define LOG8_SIGN 0x80

/* The code of |w| under row scale S: the nearest decoded level (ties to the smaller code). */
static uint8_t log8_code(float absw, float scale) {
    int lo = 0, hi = 127; /* invariant: level(lo) ≤ absw, the answer is in [lo, hi] */
    if (scale * k_log8_lut[127] <= absw) return 127;
    while (hi - lo > 1) { /* level(hi) > absw */
        int mid = (lo + hi) / 2;
        if (scale * k_log8_lut[mid] <= absw) lo = mid;
        else hi = mid;
    }
    float dlo = absw - scale * k_log8_lut[lo], dhi = scale * k_log8_lut[hi] - absw;
    return (uint8_t)(dhi < dlo ? hi : lo);
}

static float row_absmax(const float *x, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

void codec_log8_from_float_ref(const float *src, void *dst, float *row_scale, int64_t n, const codec_encode_args *a) {
    (void)a; /* no options: the scale is always the row's */
    uint8_t *d = dst;
    const float scale = row_absmax(src, n);
    *row_scale = scale;
    for (int64_t i = 0; i < n; i++)
        d[i] = (uint8_t)(log8_code(fabsf(src[i]), scale) | (src[i] < 0.0f ? LOG8_SIGN : 0));
}

static inline float log8_val(uint8_t b, float scale) {
    float v = scale * k_log8_lut[b & 0x7f];
    return (b & LOG8_SIGN) ? -v : v;
}

void codec_log8_to_float(const void *src, float row_scale, float *dst, int64_t n) {
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = log8_val(s[i], row_scale);
}

float codec_log8_vec_dot_ref(const void *row, float row_scale, const float *x, int64_t n) {
    const uint8_t *s = row;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += log8_val(s[i], row_scale) * x[i];
    return acc;
}

/* Level table as the tests see it (to check it against pow). */
float codec_log8_level(int c) {
    return c >= 0 && c < 128 ? k_log8_lut[c] : NAN;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Σ lut[c_i] · (±x_i), then · S: 8 weights per step, the sign flipped into x by xor. */
__attribute__((target("avx2,fma"))) static float log8_dot_avx2(const void *row, float rs, const float *x, int64_t n) {
    const uint8_t *s = row;
    const __m256i m7 = _mm256_set1_epi32(0x7f);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i b0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(s + i)));
        __m256i b1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(s + i + 8)));
        __m256 l0 = _mm256_i32gather_ps(k_log8_lut, _mm256_and_si256(b0, m7), 4);
        __m256 l1 = _mm256_i32gather_ps(k_log8_lut, _mm256_and_si256(b1, m7), 4);
        __m256 x0 = _mm256_xor_ps(_mm256_loadu_ps(x + i), _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(b0, 7), 31)));
        __m256 x1 = _mm256_xor_ps(_mm256_loadu_ps(x + i + 8), _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(b1, 7), 31)));
        a0 = _mm256_fmadd_ps(l0, x0, a0);
        a1 = _mm256_fmadd_ps(l1, x1, a1);
    }
    __m256 a = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float acc = _mm_cvtss_f32(h);
    for (; i < n; i++) acc += ((s[i] & LOG8_SIGN) ? -k_log8_lut[s[i] & 0x7f] : k_log8_lut[s[i] & 0x7f]) * x[i];
    return rs * acc;
}

/* 16 weights per step; the tail under a mask. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static float log8_dot_avx512(const void *row, float rs,
                                                                                    const float *x, int64_t n) {
    const uint8_t *s = row;
    const __m512i m7 = _mm512_set1_epi32(0x7f);
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i b0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(s + i)));
        __m512i b1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(s + i + 16)));
        __m512 l0 = _mm512_i32gather_ps(_mm512_and_si512(b0, m7), k_log8_lut, 4);
        __m512 l1 = _mm512_i32gather_ps(_mm512_and_si512(b1, m7), k_log8_lut, 4);
        __m512 x0 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_loadu_ps(x + i)),
                                                         _mm512_slli_epi32(_mm512_srli_epi32(b0, 7), 31)));
        __m512 x1 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_loadu_ps(x + i + 16)),
                                                         _mm512_slli_epi32(_mm512_srli_epi32(b1, 7), 31)));
        a0 = _mm512_fmadd_ps(l0, x0, a0);
        a1 = _mm512_fmadd_ps(l1, x1, a1);
    }
    for (; i < n; i += 16) {
        const int64_t k = n - i < 16 ? n - i : 16;
        const __mmask16 m = (__mmask16)(k == 16 ? 0xffffu : (1u << k) - 1u);
        __m512i b = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, s + i));
        __m512 l = _mm512_i32gather_ps(_mm512_and_si512(b, m7), k_log8_lut, 4);
        __m512 xv = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i)),
                                                         _mm512_slli_epi32(_mm512_srli_epi32(b, 7), 31)));
        a0 = _mm512_fmadd_ps(l, xv, a0);
    }
    return rs * _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

codec_vec_dot_fn codec_log8_vec_dot_at_level(int level) {
    return level == 2 ? log8_dot_avx512 : level == 1 ? log8_dot_avx2 : NULL;
}
#else
codec_vec_dot_fn codec_log8_vec_dot_at_level(int level) {
    (void)level;
    return NULL;
}
#endif

/* The table's vec_dot: the best kernel at the current SIMD level. */
float codec_log8_vec_dot(const void *row, float row_scale, const float *x, int64_t n) {
    return codec_vec_dot_for(CODEC_LOG8)(row, row_scale, x, n);
}
