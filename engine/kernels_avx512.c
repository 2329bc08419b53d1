/* kernels_avx512.c — AVX-512 (F+BW+VL, with FMA and F16C) fused decode-and-dot kernels, one per codec:
 * each reads a row's stored bytes once, decodes 16 weights per zmm in registers, and accumulates
 * decode(w)·x. Each is held to the scalar _ref kernel in codec.c within 1e-5 relative (tests/test_codec.c);
 * they differ from it only in summation order (several accumulators) and, for qins, in using
 * scale·(1/code) instead of scale/code.
 *
 * Functions carry target attributes (rather than relying on -march) so that the library still builds and
 * runs on a CPU without AVX-512: codec.c only calls them when __builtin_cpu_supports says so. */
#include "codec.h"
#include "kernels.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

#define PREFETCH_AHEAD(p) _mm_prefetch((const char *)(p) + CODEC_PF_AHEAD, _MM_HINT_T0)

/* Mask of the first k (< 16) lanes. */
T512 static inline __mmask16 tailmask(int64_t k) {
    return (__mmask16)((1u << k) - 1u);
}

T512 static float dot_fp32(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const float *w = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < n) {
        __mmask16 m = tailmask(n - i);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* bf16 → f32 is a 16-bit left shift of the bits. */
T512 static inline __m512 bf16x16(__m256i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}
T512 static float dot_bf16(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint16_t *w = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(bf16x16(_mm256_loadu_si256((const __m256i *)(w + i))), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(bf16x16(_mm256_loadu_si256((const __m256i *)(w + i + 16))), _mm512_loadu_ps(x + i + 16),
                             a1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        a0 = _mm512_fmadd_ps(bf16x16(_mm256_maskz_loadu_epi16(m, w + i)), _mm512_maskz_loadu_ps(m, x + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

T512 static float dot_f16(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint16_t *w = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i))), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i + 16))),
                             _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i)), _mm512_maskz_loadu_ps(m, x + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* 1/code for 16 codes in registers: rcp14 (relative error < 2^-14) and one Newton step r·(2 − s·r)
 * give 1/s to about an ulp — within the 1e-5 tolerance against the exact table, and several times faster
 * than a 256-entry lookup (vpermt2ps over 16 registers) or a gather, which kept qins below DRAM speed. */
T512 static inline __m512 recip(__m512 s) {
    __m512 r = _mm512_rcp14_ps(s);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(s, r, _mm512_set1_ps(2.0f)));
}
/* x with its sign flipped where bit 31 of f is set: x ^ (f & 0x80000000) in one vpternlogd (A ^ (B & C)). */
T512 static inline __m512 flip_sign(__m512 x, __m512i f) {
    return _mm512_castsi512_ps(
        _mm512_ternarylogic_epi32(_mm512_castps_si512(x), f, _mm512_set1_epi32((int)0x80000000u), 0x78));
}

/* qins: 16 (stored, sign) pairs = 32 bytes → 16 u16 lanes: low byte stored, high byte the int8 sign
 * (0xff or 0x01), whose top bit shifted to bit 31 is the f32 sign. */
T512 static inline __m512 qins_term(__m512i v, __m512 x, __m512 acc) {
    __m512 s = _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0xff)));
    return _mm512_fmadd_ps(recip(s), flip_sign(x, _mm512_slli_epi32(v, 16)), acc);
}
/* Tail variant: masked-off lanes load code 0; raise it to 1 so no inf·0 NaN reaches the sum. */
T512 static inline __m512i code_at_least_1(__m512i v) {
    return _mm512_max_epu32(v, _mm512_set1_epi32(1));
}
T512 static float dot_qins(const void *row, float rs, const float *x, int64_t n) {
    const uint16_t *p = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        PREFETCH_AHEAD(p + i);
        a0 = qins_term(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + i))), _mm512_loadu_ps(x + i), a0);
        a1 = qins_term(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + i + 16))),
                       _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        a0 = qins_term(code_at_least_1(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p + i))),
                       _mm512_maskz_loadu_ps(m, x + i), a0);
    }
    return rs * _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* qins8: byte = sign bit | 7-bit code. */
T512 static inline __m512 qins8_term(__m512i v, __m512 x, __m512 acc) {
    __m512 s = _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0x7f)));
    return _mm512_fmadd_ps(recip(s), flip_sign(x, _mm512_slli_epi32(v, 24)), acc);
}
T512 static float dot_qins8(const void *row, float rs, const float *x, int64_t n) {
    const uint8_t *p = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (; i + 64 <= n; i += 64) {
        PREFETCH_AHEAD(p + i);
        a0 = qins8_term(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + i))), _mm512_loadu_ps(x + i), a0);
        a1 = qins8_term(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + i + 16))), _mm512_loadu_ps(x + i + 16),
                        a1);
        a2 = qins8_term(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + i + 32))), _mm512_loadu_ps(x + i + 32),
                        a2);
        a3 = qins8_term(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + i + 48))), _mm512_loadu_ps(x + i + 48),
                        a3);
    }
    a0 = _mm512_add_ps(a0, a2);
    a1 = _mm512_add_ps(a1, a3);
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        a0 = qins8_term(code_at_least_1(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p + i))),
                        _mm512_maskz_loadu_ps(m, x + i), a0);
    }
    return rs * _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* qins-compute with a coded activation: Σ ±1/min(s_w·s_x, 255), times P at the end (no x multiply: the
 * product lives in the code). Masked-off tail lanes are zeroed by the masked add. */
T512 static float dot_qc_coded(const void *row, float wscale, const void *xcodes, float xscale, int64_t n) {
    const uint16_t *p = row, *q = xcodes;
    const __m512i lo = _mm512_set1_epi32(0xff), c255 = _mm512_set1_epi32(255);
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p + i));
        __m512i xv = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, q + i));
        __m512i prod = _mm512_min_epi32(_mm512_mullo_epi32(_mm512_and_si512(w, lo), _mm512_and_si512(xv, lo)), c255);
        __m512 inv = recip(_mm512_cvtepi32_ps(prod));
        __m512 t = flip_sign(inv, _mm512_slli_epi32(_mm512_xor_si512(w, xv), 16));
        if ((i / 16) & 1)
            a1 = _mm512_mask_add_ps(a1, m, a1, t);
        else
            a0 = _mm512_mask_add_ps(a0, m, a0, t);
    }
    return (wscale * xscale) * _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}
/* Self-coding variant for the traits table (codes x first; used outside codec_matmul). */
T512 static float dot_qc(const void *row, float rs, const float *x, int64_t n) {
    uint8_t buf[2 * 4096];
    if (n > 4096) return codec_table[CODEC_QINS_COMPUTE].vec_dot_ref(row, rs, x, n);
    float xs = codec_qins_code_vector(x, n, buf);
    return dot_qc_coded(row, rs, buf, xs, n);
}

T512 static inline __m512 i8x16(__m128i b) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
}
T512 static float dot_int8(const void *row, float rs, const float *x, int64_t n) {
    const int8_t *q = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        PREFETCH_AHEAD(q + i);
        a0 = _mm512_fmadd_ps(i8x16(_mm_loadu_si128((const __m128i *)(q + i))), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(i8x16(_mm_loadu_si128((const __m128i *)(q + i + 16))), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(i8x16(_mm_loadu_si128((const __m128i *)(q + i + 32))), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(i8x16(_mm_loadu_si128((const __m128i *)(q + i + 48))), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        a0 = _mm512_fmadd_ps(i8x16(_mm_maskz_loadu_epi8(m, q + i)), _mm512_maskz_loadu_ps(m, x + i), a0);
    }
    return rs * _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* q8_0: 34-byte blocks (f16 d, 32 × i8); per block the 32-term dot, then acc += d · that. */
T512 static float dot_q8_0(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint8_t *b = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t nb = n / 32, k = 0;
    for (; k + 2 <= nb; k += 2) {
        const uint8_t *b0 = b + k * 34, *b1 = b0 + 34;
        PREFETCH_AHEAD(b0);
        PREFETCH_AHEAD(b0 + 64);
        uint16_t h0, h1;
        memcpy(&h0, b0, 2);
        memcpy(&h1, b1, 2);
        const float *x0 = x + k * 32;
        __m512 t0 = _mm512_mul_ps(i8x16(_mm_loadu_si128((const __m128i *)(b0 + 2))), _mm512_loadu_ps(x0));
        t0 = _mm512_fmadd_ps(i8x16(_mm_loadu_si128((const __m128i *)(b0 + 18))), _mm512_loadu_ps(x0 + 16), t0);
        __m512 t1 = _mm512_mul_ps(i8x16(_mm_loadu_si128((const __m128i *)(b1 + 2))), _mm512_loadu_ps(x0 + 32));
        t1 = _mm512_fmadd_ps(i8x16(_mm_loadu_si128((const __m128i *)(b1 + 18))), _mm512_loadu_ps(x0 + 48), t1);
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(h0)), t0, a0);
        a1 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(h1)), t1, a1);
    }
    for (; k < nb; k++) {
        const uint8_t *b0 = b + k * 34;
        uint16_t h0;
        memcpy(&h0, b0, 2);
        const float *x0 = x + k * 32;
        __m512 t0 = _mm512_mul_ps(i8x16(_mm_loadu_si128((const __m128i *)(b0 + 2))), _mm512_loadu_ps(x0));
        t0 = _mm512_fmadd_ps(i8x16(_mm_loadu_si128((const __m128i *)(b0 + 18))), _mm512_loadu_ps(x0 + 16), t0);
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(h0)), t0, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* q4_0: 18-byte blocks (f16 d, 16 bytes of nibbles); low nibbles are weights 0..15, high 16..31. The
 * nibble → (q − 8) conversion is one vpermps from a 16-entry table (it reads only index bits 0..3, so the
 * low nibble needs no mask). */
T512 static float dot_q4_0(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint8_t *b = row;
    const __m512 tab = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t nb = n / 32;
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b0 = b + k * 18;
        PREFETCH_AHEAD(b0);
        uint16_t h0;
        memcpy(&h0, b0, 2);
        const float *x0 = x + k * 32;
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b0 + 2)));
        __m512 lo = _mm512_permutexvar_ps(v, tab);
        __m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), tab);
        __m512 t = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x0 + 16), _mm512_mul_ps(lo, _mm512_loadu_ps(x0)));
        if (k & 1)
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(h0)), t, a1);
        else
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(h0)), t, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* ---- 4-row kernels (kernels.h): each activation chunk is loaded once and used for four rows. ----
 * One loop (DEFINE_DOT4) over a decoder that gives 16 weights (full or masked load; masked-off lanes decode
 * to zero, as x is zero there); two accumulators per row, 32 weights per step. */

#define LD16_FP32(p, i) _mm512_loadu_ps((const float *)(p) + (i))
#define LD16M_FP32(p, i, m) _mm512_maskz_loadu_ps((m), (const float *)(p) + (i))
#define LD16_BF16(p, i) bf16x16(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(p) + (i))))
#define LD16M_BF16(p, i, m) bf16x16(_mm256_maskz_loadu_epi16((m), (const uint16_t *)(p) + (i)))
#define LD16_F16(p, i) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(p) + (i))))
#define LD16M_F16(p, i, m) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((m), (const uint16_t *)(p) + (i)))
#define DEFINE_DOT4(NAME, LD16, LD16M)                                                                          \
    T512 static void NAME(const uint8_t *r, size_t st, const float *rs, const float *x, int64_t n, float *out) { \
        (void)rs; /* these codecs have no row scale */                                                          \
        const uint8_t *p0 = r, *p1 = r + st, *p2 = r + 2 * st, *p3 = r + 3 * st;                                 \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;         \
        int64_t i = 0;                                                                                          \
        for (; i + 32 <= n; i += 32) {                                                                          \
            __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);                               \
            a0 = _mm512_fmadd_ps(LD16(p0, i), x0, a0);                                                          \
            a1 = _mm512_fmadd_ps(LD16(p1, i), x0, a1);                                                          \
            a2 = _mm512_fmadd_ps(LD16(p2, i), x0, a2);                                                          \
            a3 = _mm512_fmadd_ps(LD16(p3, i), x0, a3);                                                          \
            b0 = _mm512_fmadd_ps(LD16(p0, i + 16), x1, b0);                                                     \
            b1 = _mm512_fmadd_ps(LD16(p1, i + 16), x1, b1);                                                     \
            b2 = _mm512_fmadd_ps(LD16(p2, i + 16), x1, b2);                                                     \
            b3 = _mm512_fmadd_ps(LD16(p3, i + 16), x1, b3);                                                     \
        }                                                                                                       \
        for (; i < n; i += 16) {                                                                                \
            __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);                                    \
            __m512 x0 = _mm512_maskz_loadu_ps(m, x + i);                                                        \
            a0 = _mm512_fmadd_ps(LD16M(p0, i, m), x0, a0);                                                      \
            a1 = _mm512_fmadd_ps(LD16M(p1, i, m), x0, a1);                                                      \
            a2 = _mm512_fmadd_ps(LD16M(p2, i, m), x0, a2);                                                      \
            a3 = _mm512_fmadd_ps(LD16M(p3, i, m), x0, a3);                                                      \
        }                                                                                                       \
        out[0] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));                                                   \
        out[1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));                                                   \
        out[2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2));                                                   \
        out[3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3));                                                   \
    }
DEFINE_DOT4(dot4_fp32, LD16_FP32, LD16M_FP32)
DEFINE_DOT4(dot4_f16, LD16_F16, LD16M_F16)

/* bf16 with f32 activations, four rows: dot4's arithmetic plus a software prefetch. Each 32-element step reads
 * one 64-byte line from each of the four rows; the hardware prefetcher follows four interleaved streams that
 * restart every call (the next group's rows begin 4 row strides on) poorly, so each step prefetches each row's
 * line BF16_PF bytes ahead, running on into the next group's rows near the end of these. Measured from DRAM
 * (one thread, Phi-3.5 shapes, codec_matmul T = 1, GB/s of weights): qkv 21 → 27, o 21 → 27, gate_up 21 → 27,
 * down 25 → 28, against a read probe of ~32 and act=bf16's one-row kernel at 28–30 in the same run; distances
 * 1024 and 2048 B measured alike, 512 too short, 4096 slower. */
#define BF16_PF 1024
T512 static void dot4_bf16(const uint8_t *r, size_t st, const float *rs, const float *x, int64_t n, float *out) {
    (void)rs; /* no row scale */
    const uint8_t *p0 = r, *p1 = r + st, *p2 = r + 2 * st, *p3 = r + 3 * st;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const int64_t j = i + BF16_PF / 2; /* elements ahead */
        const uint8_t *q = j < n ? r + 2 * j : r + 4 * st + 2 * (j - n);
        _mm_prefetch((const char *)q, _MM_HINT_T0);
        _mm_prefetch((const char *)(q + st), _MM_HINT_T0);
        _mm_prefetch((const char *)(q + 2 * st), _MM_HINT_T0);
        _mm_prefetch((const char *)(q + 3 * st), _MM_HINT_T0);
        __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
        a0 = _mm512_fmadd_ps(LD16_BF16(p0, i), x0, a0);
        a1 = _mm512_fmadd_ps(LD16_BF16(p1, i), x0, a1);
        a2 = _mm512_fmadd_ps(LD16_BF16(p2, i), x0, a2);
        a3 = _mm512_fmadd_ps(LD16_BF16(p3, i), x0, a3);
        b0 = _mm512_fmadd_ps(LD16_BF16(p0, i + 16), x1, b0);
        b1 = _mm512_fmadd_ps(LD16_BF16(p1, i + 16), x1, b1);
        b2 = _mm512_fmadd_ps(LD16_BF16(p2, i + 16), x1, b2);
        b3 = _mm512_fmadd_ps(LD16_BF16(p3, i + 16), x1, b3);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        __m512 x0 = _mm512_maskz_loadu_ps(m, x + i);
        a0 = _mm512_fmadd_ps(LD16M_BF16(p0, i, m), x0, a0);
        a1 = _mm512_fmadd_ps(LD16M_BF16(p1, i, m), x0, a1);
        a2 = _mm512_fmadd_ps(LD16M_BF16(p2, i, m), x0, a2);
        a3 = _mm512_fmadd_ps(LD16M_BF16(p3, i, m), x0, a3);
    }
    out[0] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));
    out[1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));
    out[2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2));
    out[3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3));
}
/* Only where measured to help (one thread, 256×8192 in L3 / 128×1024 in L2, GB/s of weights, 1-row → 4-row):
 * fp32 49 → 71 / 105 → 139, bf16 51 → 57 / 67 → 69, f16 51 → 59 / 66 → 69. Codecs whose decode dominates
 * gained nothing or lost (qins 36 → 36, qins8 19 → 18, int8 33 → 32, q8_0 29 → 27, q4_0 18 → 16 in L3):
 * they are bound by decode operations, not by activation loads, and keep the one-row kernels. */
const codec_vec_dot4_fn codec_vec_dot4_avx512[CODEC_COUNT] = {
    [CODEC_FP32] = dot4_fp32,
    [CODEC_BF16] = dot4_bf16,
    [CODEC_F16] = dot4_f16,
};

/* ---- Row decoders: bit-identical to the scalar to_float (same single-rounding operations: exact
 * conversions, one IEEE division for qins, one multiply for the scaled integer codes). ---- */

T512 static void dec_bf16(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    const uint16_t *w = src;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        _mm512_mask_storeu_ps(dst + i, m, bf16x16(_mm256_maskz_loadu_epi16(m, w + i)));
    }
}
T512 static void dec_f16(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    const uint16_t *w = src;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i)));
    }
}
T512 static void dec_qins(const void *src, float rs, float *dst, int64_t n) {
    const uint16_t *p = src;
    const __m512 sc = _mm512_set1_ps(rs);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        __m512i v = code_at_least_1(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p + i)));
        __m512 q = _mm512_div_ps(sc, _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0xff))));
        _mm512_mask_storeu_ps(dst + i, m, flip_sign(q, _mm512_slli_epi32(v, 16)));
    }
}
T512 static void dec_qins8(const void *src, float rs, float *dst, int64_t n) {
    const uint8_t *p = src;
    const __m512 sc = _mm512_set1_ps(rs);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        __m512i v = code_at_least_1(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p + i)));
        __m512 q = _mm512_div_ps(sc, _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0x7f))));
        _mm512_mask_storeu_ps(dst + i, m, flip_sign(q, _mm512_slli_epi32(v, 24)));
    }
}
T512 static void dec_int8(const void *src, float rs, float *dst, int64_t n) {
    const int8_t *q = src;
    const __m512 sc = _mm512_set1_ps(rs);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tailmask(n - i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_mul_ps(i8x16(_mm_maskz_loadu_epi8(m, q + i)), sc));
    }
}
T512 static void dec_q8_0(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    const uint8_t *b = src;
    for (int64_t k = 0; k < n / 32; k++) {
        const uint8_t *b0 = b + k * 34;
        uint16_t h;
        memcpy(&h, b0, 2);
        __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
        _mm512_storeu_ps(dst + k * 32, _mm512_mul_ps(i8x16(_mm_loadu_si128((const __m128i *)(b0 + 2))), d));
        _mm512_storeu_ps(dst + k * 32 + 16, _mm512_mul_ps(i8x16(_mm_loadu_si128((const __m128i *)(b0 + 18))), d));
    }
}
T512 static void dec_q4_0(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    const uint8_t *b = src;
    const __m512 tab = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t k = 0; k < n / 32; k++) {
        const uint8_t *b0 = b + k * 18;
        uint16_t h;
        memcpy(&h, b0, 2);
        __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b0 + 2)));
        _mm512_storeu_ps(dst + k * 32, _mm512_mul_ps(_mm512_permutexvar_ps(v, tab), d));
        _mm512_storeu_ps(dst + k * 32 + 16, _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), tab), d));
    }
}

const codec_to_float_fn codec_to_float_avx512[CODEC_COUNT] = {
    [CODEC_BF16] = dec_bf16, [CODEC_F16] = dec_f16,   [CODEC_QINS] = dec_qins,   [CODEC_QINS8] = dec_qins8,
    [CODEC_QINS_COMPUTE] = dec_qins, [CODEC_INT8] = dec_int8, [CODEC_Q8_0] = dec_q8_0, [CODEC_Q4_0] = dec_q4_0,
};

const codec_vec_dot_fn codec_vec_dot_avx512[CODEC_COUNT] = {
    [CODEC_FP32] = dot_fp32, [CODEC_BF16] = dot_bf16, [CODEC_F16] = dot_f16,
    [CODEC_QINS] = dot_qins, [CODEC_QINS8] = dot_qins8, [CODEC_QINS_COMPUTE] = dot_qc,
    [CODEC_INT8] = dot_int8, [CODEC_Q8_0] = dot_q8_0,   [CODEC_Q4_0] = dot_q4_0,
};
const codec_qc_dot_fn codec_qins_compute_dot_avx512 = dot_qc_coded;

/* ---- Small-batch product (kernels.h, codec_gemm_small_fn): out[t, r] = Σ_i w[r, i] · x[t, i] for all
 * T activation rows over a block of weight rows, in tiles of up to 8 weight rows × 3 activation rows = 24
 * zmm accumulators (one per output), 16 floats per k step.
 *
 * Summation order: per output one accumulator, the 16-float chunks in order (the last one masked), then
 * reduce_add. It depends on n only, so an output depends only on its own weight row and activation row
 * (never on the tile shape, T, the thread split or the batch companions).
 *
 * Cache blocking (the k loop runs in GS_KC-float panels): for each panel the 8-row weight panel (16 KB)
 * stays in L1 while every 3-row activation group passes over it, and the accumulators of all groups wait
 * in a spill array between panels (a store and reload does not change the arithmetic). So activations
 * stream from L2 at one zmm per 8 FMAs and weights from memory once per call. Each tile change (24
 * accumulators stored and reloaded, the k loop left and entered) costs about 5 steps: with everything in L1,
 * 256-, 128- and 64-float panels ran at 0.87–0.89, 0.67–0.69 and 0.48–0.50 of 512 (a throwaway harness,
 * 30 paired turns), and inlining the tiles into one loop did not change that; so smaller panels, which
 * would fit L1 better beside 23 activation rows, run slower (README, "Measured at full size").
 *
 * Register pinning: 24 accumulators + 3 activations + 1 weight vector leave 4 of the 32 zmm free, and GCC
 * then folded the weight load into each of its three FMAs (vfmadd231ps (mem), 27 loads per 24 FMAs, each
 * an indexed memory operand that Intel cores split into two µops). An empty asm that "modifies" wv makes it
 * one load into a register, used by three register FMAs. Same instructions' arithmetic, same bits; measured
 * (Intel family 6 model 207, one core): bench_peak (weights in L2, T = 24 and 32; its register-only FMA loop
 * 165–175 GFLOP/s) 100–106 → 146–170 GFLOP/s; at T = 24, whole Phi-3.5 matrices streamed from DRAM
 * (bench_gemm_small, qkv and down shapes, two interleaved rounds) 45–49 → 62–96 GFLOP/s. A software prefetch
 * of the next 8-row block into L2 (or L1) was tried with it and ran no faster (80–88, into L1 58–74). Tried
 * first:
 * 4 × 3 tiles with two accumulators per output (dot4's order, which would have matched the T = 1 path's
 * bits for fp32) ran at 64–69 without panels and 51–55 with them (16 × 3072…8192 weights in L2, T = 16),
 * because each 4-row tile re-read the activations from L2 once per 4 weight rows.
 *
 * Prefetch: streaming from DRAM, the first activation group of each panel waited for the panel's 16 KB to
 * arrive while the other groups found it in L1. So the tiles of one panel prefetch the next panel into L1
 * (these rows' next GS_KC columns, or the next 8-row block's first), one line per row per 16-float step,
 * the rows shared out over the groups: 16 KB spread over the panel's compute. Same arithmetic, same bits.
 * (The prefetch above that ran no faster fetched the next 8-row block, 96 KB at 3072 columns ahead; this
 * one fetches 16 KB ahead, the next panel.)
 * Measured against the build before (`qinsbench bench --batch 23 -p 0 -n 16 -r 2`, 8 layers of Phi-3.5-mini,
 * three interleaved rounds; the commit message has every figure): fp32 on two threads 56.0–60.1 →
 * 60.1–63.6 tok/s, ahead in every round; qins8 ahead in all six pairs of a second set (two threads
 * +4–25%); q8_0 within noise (−13…+22%). Prefetching into L2 instead ran no faster (a throwaway harness). */
#ifndef GS_KC
#define GS_KC 512 /* panel width in floats (multiple of 16) */
#endif
#define GS_MAXT 32 /* activation rows per pass (larger T runs in passes; the spill array is 17 KB) */
#define GS_NR 8
#define GS_NT 3

/* One 16-float k step of an NR × NT tile at column i: NT activation loads, NR weight loads, NR·NT FMAs. */
T512 static inline __attribute__((always_inline)) void gs_step(const float *w, size_t ws, const float *x, size_t xs,
                                                               int64_t i, int NR, int NT, __m512 a[GS_NR][GS_NT]) {
    __m512 xv[GS_NT];
#pragma GCC unroll 3
    for (int t = 0; t < GS_NT; t++)
        if (t < NT) xv[t] = _mm512_loadu_ps(x + (size_t)t * xs + i);
#pragma GCC unroll 8
    for (int r = 0; r < GS_NR; r++)
        if (r < NR) {
            __m512 wv = _mm512_loadu_ps(w + (size_t)r * ws + i);
            __asm__("" : "+v"(wv)); /* one load per weight vector: see "Register pinning" above */
#pragma GCC unroll 3
            for (int t = 0; t < GS_NT; t++)
                if (t < NT) a[r][t] = _mm512_fmadd_ps(wv, xv[t], a[r][t]);
        }
}

/* One NR × NT tile over k in [i0, i1) (i1 − i0 a multiple of 16 except in the last panel), accumulators
 * loaded from and stored back to acc[r][t]; while i − i0 < pn, each full step also prefetches column i − i0
 * of npf rows at pf (stride pfs). The k loop is split by prefetching (one row, several, none) so the common
 * case has no loop inside the step: one row per tile is what T ≥ 22 gives (8 rows over ≥ 8 groups). Measured
 * (a throwaway harness of this kernel, paired in turns, T = 23, weights in L2, 30 turns): the split loop ran
 * 1.04–1.08× the loop that tested and looped over the prefetch rows in every step (3072 and 8192 columns). */
T512 static inline __attribute__((always_inline)) void gs_tile(const float *w, size_t ws, const float *x, size_t xs,
                                                               int64_t i0, int64_t i1, int NR, int NT,
                                                               __m512 acc[GS_NR][GS_NT], const float *pf,
                                                               size_t pfs, int npf, int64_t pn) {
    __m512 a[GS_NR][GS_NT];
#pragma GCC unroll 8
    for (int r = 0; r < GS_NR; r++)
#pragma GCC unroll 3
        for (int t = 0; t < GS_NT; t++)
            if (r < NR && t < NT) a[r][t] = acc[r][t];
    int64_t i = i0, ipf = pf && npf > 0 && pn > 0 ? (pn < i1 - i0 ? i0 + pn : i1) : i0; /* prefetch while i < ipf */
    if (npf == 1)
        for (; i + 16 <= i1 && i < ipf; i += 16) {
            _mm_prefetch((const char *)(pf + (i - i0)), _MM_HINT_T0);
            gs_step(w, ws, x, xs, i, NR, NT, a);
        }
    else
        for (; i + 16 <= i1 && i < ipf; i += 16) {
            for (int p = 0; p < npf; p++) _mm_prefetch((const char *)(pf + (size_t)p * pfs + (i - i0)), _MM_HINT_T0);
            gs_step(w, ws, x, xs, i, NR, NT, a);
        }
    for (; i + 16 <= i1; i += 16) gs_step(w, ws, x, xs, i, NR, NT, a);
    if (i < i1) {
        __mmask16 m = tailmask(i1 - i);
        __m512 xv[GS_NT];
#pragma GCC unroll 3
        for (int t = 0; t < GS_NT; t++)
            if (t < NT) xv[t] = _mm512_maskz_loadu_ps(m, x + (size_t)t * xs + i);
#pragma GCC unroll 8
        for (int r = 0; r < GS_NR; r++)
            if (r < NR) {
                __m512 wv = _mm512_maskz_loadu_ps(m, w + (size_t)r * ws + i);
#pragma GCC unroll 3
                for (int t = 0; t < GS_NT; t++)
                    if (t < NT) a[r][t] = _mm512_fmadd_ps(wv, xv[t], a[r][t]);
            }
    }
#pragma GCC unroll 8
    for (int r = 0; r < GS_NR; r++)
#pragma GCC unroll 3
        for (int t = 0; t < GS_NT; t++)
            if (r < NR && t < NT) acc[r][t] = a[r][t];
}

/* Each tile shape its own function, compiled with NR and NT constant (accumulators in registers). */
#define GS_TILE_FN(NR, NT)                                                                                      \
    T512 static void gs_tile_##NR##x##NT(const float *w, size_t ws, const float *x, size_t xs, int64_t i0,     \
                                         int64_t i1, __m512 acc[GS_NR][GS_NT], const float *pf, size_t pfs,       \
                                         int npf, int64_t pn) {                                                 \
        gs_tile(w, ws, x, xs, i0, i1, NR, NT, acc, pf, pfs, npf, pn);                                           \
    }
#define GS_TILE_FNS(NR) GS_TILE_FN(NR, 1) GS_TILE_FN(NR, 2) GS_TILE_FN(NR, 3)
GS_TILE_FNS(1) GS_TILE_FNS(2) GS_TILE_FNS(3) GS_TILE_FNS(4) GS_TILE_FNS(5) GS_TILE_FNS(6) GS_TILE_FNS(7) GS_TILE_FNS(8)
typedef void (*gs_tile_fn)(const float *, size_t, const float *, size_t, int64_t, int64_t, __m512[GS_NR][GS_NT],
                           const float *, size_t, int, int64_t);
#define GS_ROW(NR) {gs_tile_##NR##x1, gs_tile_##NR##x2, gs_tile_##NR##x3}
static const gs_tile_fn gs_tiles[GS_NR][GS_NT] = {GS_ROW(1), GS_ROW(2), GS_ROW(3), GS_ROW(4),
                                                   GS_ROW(5), GS_ROW(6), GS_ROW(7), GS_ROW(8)};

/* Weight rows [0, nr) (stride ws floats) × activation rows [0, T) (stride xs floats), n columns; out[t·os + r]. */
T512 static void gemm_small_fp32(const float *w, size_t ws, int64_t nr, const float *x, size_t xs, int T, int64_t n,
                                 float *out, size_t os) {
    __m512 acc[(GS_MAXT + GS_NT - 1) / GS_NT][GS_NR][GS_NT];
    for (int t0 = 0; t0 < T; t0 += GS_MAXT) {
        int tn = T - t0 < GS_MAXT ? T - t0 : GS_MAXT, groups = (tn + GS_NT - 1) / GS_NT;
        const float *xt = x + (size_t)t0 * xs;
        for (int64_t r0 = 0; r0 < nr; r0 += GS_NR) {
            int NR = nr - r0 < GS_NR ? (int)(nr - r0) : GS_NR;
            const float *wr = w + (size_t)r0 * ws;
            for (int g = 0; g < groups; g++)
                for (int r = 0; r < GS_NR; r++)
                    for (int t = 0; t < GS_NT; t++) acc[g][r][t] = _mm512_setzero_ps();
            for (int64_t i0 = 0; i0 < n; i0 += GS_KC) {
                int64_t i1 = n - i0 <= GS_KC ? n : i0 + GS_KC;
                /* the next panel (see "Prefetch"): these rows' next columns, or the next block's first;
                 * next_len floats of each of next_rows rows, never past the weights */
                const float *next = NULL;
                int next_rows = 0;
                int64_t next_len = 0;
                if (i1 < n)
                    next = wr + i1, next_rows = NR, next_len = n - i1 < GS_KC ? n - i1 : GS_KC;
                else if (r0 + GS_NR < nr)
                    next = wr + (size_t)GS_NR * ws, next_rows = nr - r0 - GS_NR < GS_NR ? (int)(nr - r0 - GS_NR) : GS_NR,
                    next_len = n < GS_KC ? n : GS_KC;
                int per_group = (next_rows + groups - 1) / groups;
                for (int g = 0; g < groups; g++) {
                    int NT = tn - GS_NT * g < GS_NT ? tn - GS_NT * g : GS_NT;
                    int p0 = g * per_group < next_rows ? g * per_group : next_rows;
                    int p1 = p0 + per_group < next_rows ? p0 + per_group : next_rows;
                    gs_tiles[NR - 1][NT - 1](wr, ws, xt + (size_t)(GS_NT * g) * xs, xs, i0, i1, acc[g],
                                             next ? next + (size_t)p0 * ws : NULL, ws, p1 - p0, next_len);
                }
            }
            for (int g = 0; g < groups; g++) {
                int NT = tn - GS_NT * g < GS_NT ? tn - GS_NT * g : GS_NT;
                for (int t = 0; t < NT; t++)
                    for (int r = 0; r < NR; r++)
                        out[(size_t)(t0 + GS_NT * g + t) * os + (size_t)(r0 + r)] = _mm512_reduce_add_ps(acc[g][r][t]);
            }
        }
    }
}
const codec_gemm_small_fn codec_gemm_small_avx512 = gemm_small_fp32;

#else /* not x86-64 GCC/Clang: no AVX-512 kernels */
const codec_vec_dot_fn codec_vec_dot_avx512[CODEC_COUNT] = {0};
const codec_to_float_fn codec_to_float_avx512[CODEC_COUNT] = {0};
const codec_qc_dot_fn codec_qins_compute_dot_avx512 = 0;
const codec_vec_dot4_fn codec_vec_dot4_avx512[CODEC_COUNT] = {0};
const codec_gemm_small_fn codec_gemm_small_avx512 = 0;
#endif
