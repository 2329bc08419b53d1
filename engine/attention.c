/* attention.c — the score and mix products of attention for up to ATTN_ROWS rows of one head: the scalar
 * definitions and their AVX-512 kernels, which compute the same bits (attention.h says which arithmetic and
 * why). */
#include "attention.h"

#include <math.h>
#include <string.h>

#include "codec.h"

void attn_scores_ref(float *s, size_t ss, const float *q, size_t qs, int R, const float *k, size_t ks, int n,
                     int hd, float scale) {
    for (int r = 0; r < R; r++)
        for (int j = 0; j < n; j++) {
            const float *qr = q + (size_t)r * qs, *kj = k + (size_t)j * ks;
            float v[16] = {0};
            for (int i = 0; i < hd; i++) v[i & 15] = fmaf(qr[i], kj[i], v[i & 15]);
            for (int w = 8; w > 0; w >>= 1)
                for (int l = 0; l < w; l++) v[l] = v[l] + v[l + w];
            s[(size_t)r * ss + (size_t)j] = v[0] * scale;
        }
}

void attn_mix_ref(float *acc, size_t as, const float *p, size_t ps, int R, const float *v, size_t vs, int n, int hd) {
    for (int r = 0; r < R; r++)
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * vs;
            float *a = acc + (size_t)r * as, pj = p[(size_t)r * ps + (size_t)j];
            for (int i = 0; i < hd; i++) a[i] = fmaf(pj, vj[i], a[i]);
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define INLINE __attribute__((always_inline)) inline

/* Prefetch distance of the mix, in positions, and its hint. The decode step reads each sequence's cache
 * from DRAM, 384 bytes per position and head 12 KB apart, which the hardware prefetchers do not follow
 * across pages. Measured with a standalone harness over these kernels (23 sequences × 300 positions × 32
 * heads, huge pages like the engine's caches, two threads, GB/s of keys and values, three rounds): none 18.4–19.1; the next score group and 4 positions ahead into L2 (T1) 21.0–23.3, into L1
 * (T0) 19.3–23.1, non-temporal 9.8–10.2; 8 and 16 positions ahead no better than none. */
#ifndef MIX_PF_AHEAD
#define MIX_PF_AHEAD 4
#endif
#define PF(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)

/* 16 accumulators a[u] (one per (row, key) pair) folded into one vector of their 16 lane sums, a[u]'s in lane
 * u. Each step adds, for every accumulator, lane l to lane l + w (w = 8, 4, 2, 1) and packs two vectors'
 * halves into one, so after the four steps one vector holds the 16 sums (in the lane order the permute
 * undoes). The comments name the accumulators "keys". */
T512 static inline __m512 fold16(const __m512 a[16]) {
    /* after the network, lane 4r + m holds key 4m + r */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512 b[8], d[4], e[2];
#pragma GCC unroll 8
    for (int m = 0; m < 8; m++) /* w = 8: [key 2m lanes 0–7 | key 2m+1 lanes 0–7] */
        b[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0x44),
                             _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0xEE));
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) /* w = 4: 128-bit chunk r holds key 4m + r, lanes 0–3 */
        d[m] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * m], b[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(b[2 * m], b[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int m = 0; m < 2; m++) /* w = 2: chunk r holds keys 8m + r and 8m + 4 + r, two lanes each */
        e[m] = _mm512_add_ps(_mm512_shuffle_ps(d[2 * m], d[2 * m + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(d[2 * m], d[2 * m + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* w = 1: chunk r holds keys r, 4 + r, 8 + r, 12 + r */
    __m512 f = _mm512_add_ps(_mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_permutexvar_ps(order, f);
}

/* RP rows (R of them real; a missing row repeats row 0 and is not stored) × G = 16 / RP keys per group,
 * one accumulator per (row, key) pair, then fold16. A tail group (n not a multiple of G) points its
 * missing keys at its first key and does not store them. While a group is summed, the next one is
 * prefetched (harmless past the end: prefetches do not fault). */
T512 static INLINE void scores_rows(float *s, size_t ss, const float *q, size_t qs, int R, const float *k, size_t ks,
                                    int n, int hd, float scale, const int RP) {
    const int G = 16 / RP, nc = hd / 16;
    const __m512 sc = _mm512_set1_ps(scale);
    const float *qr[4];
    for (int r = 0; r < RP; r++) qr[r] = q + (size_t)(r < R ? r : 0) * qs;
    for (int j0 = 0; j0 < n; j0 += G) {
        const int nk = n - j0 < G ? n - j0 : G;
        const float *kp[16], *kn = k + (size_t)(j0 + G) * ks;
        for (int g = 0; g < G; g++) kp[g] = k + (size_t)(j0 + (g < nk ? g : 0)) * ks;
        __m512 a[16];
#pragma GCC unroll 16
        for (int u = 0; u < 16; u++) a[u] = _mm512_setzero_ps();
        for (int c = 0; c < nc; c++) {
            __m512 qv[4];
#pragma GCC unroll 4
            for (int r = 0; r < RP; r++) qv[r] = _mm512_loadu_ps(qr[r] + 16 * c);
#pragma GCC unroll 16
            for (int g = 0; g < G; g++) {
                PF(kn + (size_t)g * ks + 16 * c);
                const __m512 kv = _mm512_loadu_ps(kp[g] + 16 * c);
#pragma GCC unroll 4
                for (int r = 0; r < RP; r++) a[r * G + g] = _mm512_fmadd_ps(qv[r], kv, a[r * G + g]);
            }
        }
        const __m512 f = _mm512_mul_ps(fold16(a), sc);
        if (RP == 1) {
            _mm512_mask_storeu_ps(s + j0, (__mmask16)((1u << nk) - 1u), f);
        } else {
            float t[16];
            _mm512_storeu_ps(t, f);
            for (int r = 0; r < R; r++) memcpy(s + (size_t)r * ss + (size_t)j0, t + r * G, sizeof(float) * (size_t)nk);
        }
    }
}

T512 static void scores_avx512(float *s, size_t ss, const float *q, size_t qs, int R, const float *k, size_t ks, int n,
                               int hd, float scale) {
    if (R == 1) scores_rows(s, ss, q, qs, R, k, ks, n, hd, scale, 1);
    else if (R == 2) scores_rows(s, ss, q, qs, R, k, ks, n, hd, scale, 2);
    else scores_rows(s, ss, q, qs, R, k, ks, n, hd, scale, 4);
}

/* RP rows × NV vectors of accumulators held in registers over all n positions; each value vector is loaded
 * once for the RP rows. */
#define MIX_FN(RP, NV)                                                                                         \
    T512 static void mix_##RP##_##NV(float *acc, size_t as, const float *p, size_t ps, const float *v, size_t vs, \
                                     int n) {                                                                  \
        __m512 a[RP][NV];                                                                                      \
        _Pragma("GCC unroll 4") for (int r = 0; r < RP; r++)                                                   \
            _Pragma("GCC unroll 8") for (int u = 0; u < NV; u++) a[r][u] = _mm512_loadu_ps(acc + r * as + 16 * u); \
        for (int j = 0; j < n; j++) {                                                                          \
            const float *vj = v + (size_t)j * vs;                                                              \
            __m512 pj[RP];                                                                                     \
            _Pragma("GCC unroll 4") for (int r = 0; r < RP; r++) pj[r] = _mm512_set1_ps(p[r * ps + (size_t)j]);  \
            _Pragma("GCC unroll 8") for (int u = 0; u < NV; u++) {                                             \
                PF(vj + MIX_PF_AHEAD * vs + 16 * u);                                                           \
                const __m512 vv = _mm512_loadu_ps(vj + 16 * u);                                                \
                _Pragma("GCC unroll 4") for (int r = 0; r < RP; r++) a[r][u] = _mm512_fmadd_ps(pj[r], vv, a[r][u]); \
            }                                                                                                  \
        }                                                                                                      \
        _Pragma("GCC unroll 4") for (int r = 0; r < RP; r++)                                                   \
            _Pragma("GCC unroll 8") for (int u = 0; u < NV; u++) _mm512_storeu_ps(acc + r * as + 16 * u, a[r][u]); \
    }
#define MIX_FNS8(RP) MIX_FN(RP, 1) MIX_FN(RP, 2) MIX_FN(RP, 3) MIX_FN(RP, 4) MIX_FN(RP, 5) MIX_FN(RP, 6) \
    MIX_FN(RP, 7) MIX_FN(RP, 8)
MIX_FNS8(1) MIX_FNS8(2)
MIX_FN(4, 1) MIX_FN(4, 2) MIX_FN(4, 3) MIX_FN(4, 4) MIX_FN(4, 5) MIX_FN(4, 6)
typedef void (*mix_block_fn)(float *, size_t, const float *, size_t, const float *, size_t, int);
#define MIX_ROW(RP) {mix_##RP##_1, mix_##RP##_2, mix_##RP##_3, mix_##RP##_4, mix_##RP##_5, mix_##RP##_6
static const mix_block_fn mix_blocks[3][8] = {MIX_ROW(1), mix_1_7, mix_1_8}, MIX_ROW(2), mix_2_7, mix_2_8},
                                              MIX_ROW(4), NULL, NULL}};

/* Columns in blocks of up to 8 vectors (6 for four rows: 24 accumulators); each column's sum is the same
 * whatever its block. Three rows run as two and one. */
T512 static void mix_avx512(float *acc, size_t as, const float *p, size_t ps, int R, const float *v, size_t vs, int n,
                            int hd) {
    if (R == 3) {
        mix_avx512(acc, as, p, ps, 2, v, vs, n, hd);
        mix_avx512(acc + 2 * as, as, p + 2 * ps, ps, 1, v, vs, n, hd);
        return;
    }
    const int ri = R == 1 ? 0 : R == 2 ? 1 : 2, width = R == 4 ? 6 : 8;
    for (int u0 = 0; u0 < hd / 16; u0 += width) {
        int nv = hd / 16 - u0 < width ? hd / 16 - u0 : width;
        mix_blocks[ri][nv - 1](acc + 16 * u0, as, p, ps, v + 16 * u0, vs, n);
    }
}

const attn_scores_fn attn_scores_avx512 = scores_avx512;
const attn_mix_fn attn_mix_avx512 = mix_avx512;
#else
const attn_scores_fn attn_scores_avx512 = 0;
const attn_mix_fn attn_mix_avx512 = 0;
#endif

attn_scores_fn attn_scores_for(int hd) {
    return codec_simd_level() >= 2 && hd % 16 == 0 && attn_scores_avx512 ? attn_scores_avx512 : attn_scores_ref;
}

attn_mix_fn attn_mix_for(int hd) {
    return codec_simd_level() >= 2 && hd % 16 == 0 && attn_mix_avx512 ? attn_mix_avx512 : attn_mix_ref;
}
