/* codec.c — weight codecs: spec parsing, the codec table (ggml-style type traits), the scalar reference
 * quantizers / decoders / dot products (the definitions of the codecs), coded-tensor storage, SIMD
 * dispatch, and codec_matmul (the product of every linear layer).
 *
 * Row layouts (every row is a whole number of blocks of block_bytes; element-wise codecs have block 1):
 *   fp32   4 B  f32
 *   bf16   2 B  bf16 bits            f16   2 B  IEEE half bits
 *   qins   2 B  (stored u8, sign i8) interleaved pairs; f32 scale per row (row_scales)
 *   qins8  1 B  bit 7 = sign (1 = negative), bits 0..6 = stored (1..127); f32 scale per row
 *   qins-compute  as qins (the activation is coded at product time)
 *   int8   1 B  q, w = q · d; f32 d per row
 *   q8_0   34 B block_q8_0 {f16 d; i8 qs[32]}          (ggml's layout, bit-exact quantizer)
 *   q4_0   18 B block_q4_0 {f16 d; u8 qs[16]}          (qs[j] low nibble = w[j], high nibble = w[j+16])
 * Interleaving qins pairs (rather than two planes) keeps every codec a sequence of fixed-size blocks, so
 * any block-aligned sub-range of a row is itself a valid row (used for tails and chunked decoding), and one
 * 32-byte load feeds 16 lanes of the SIMD kernel.
 *
 * qins-compute (the claim's "compute in QINS", which it does not define) is defined at
 * codec_qins_compute_dot_ref below: activation QINS-coded per token (scale max|x|), each product formed in the
 * code domain as code min(s_w·s_x, 255) under scale S_w·S_x, decoded and summed in f32.
 *
 * Fast kernels: kernels_avx512.c and kernels_avx2.c; codec_vec_dot_for() picks by codec_simd_level(). */
#include "codec.h"
#include "codec_act.h"
#include "codec_blocks.h"
#include "kernels.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------- */
/* QINS code. */

/* 1/i in f32. Written as a literal-free initializer via a macro so it is a true const table (no init
 * race between threads). */
#define INV1(i) ((i) == 0 ? 0.0f : 1.0f / (float)(i))
#define INV4(i) INV1(i), INV1(i + 1), INV1(i + 2), INV1(i + 3)
#define INV16(i) INV4(i), INV4(i + 4), INV4(i + 8), INV4(i + 12)
#define INV64(i) INV16(i), INV16(i + 16), INV16(i + 32), INV16(i + 48)
const float codec_qins_inv[256] = {INV64(0), INV64(64), INV64(128), INV64(192)};

uint8_t codec_qins_code(float absw, float scale, int maxcode) {
    if (absw == 0.0f || scale == 0.0f) return (uint8_t)maxcode;
    float q = roundf(scale / absw); /* roundf rounds half away from zero */
    if (!(q <= (float)maxcode)) return (uint8_t)maxcode; /* also catches +inf */
    if (q < 1.0f) return 1;
    return (uint8_t)q;
}

uint8_t codec_qins_code_floor(float absw, float scale, int maxcode) {
    if (absw == 0.0f || scale == 0.0f) return (uint8_t)maxcode;
    float q = floorf(scale / absw);
    if (!(q <= (float)maxcode)) return (uint8_t)maxcode;
    if (q < 1.0f) return 1;
    return (uint8_t)q;
}

static inline uint8_t qins_code_as(const codec_encode_args *a, float absw, float scale, int maxcode) {
    return a->round == CODEC_ROUND_FLOOR ? codec_qins_code_floor(absw, scale, maxcode)
                                         : codec_qins_code(absw, scale, maxcode);
}

static float row_absmax(const float *x, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > m) m = a;
    }
    return m;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Reference quantizers, decoders and dot products (the definitions). */

/* fp32 */
static void fp32_from(const float *src, void *dst, float *rs, int64_t n, const codec_encode_args *a) {
    (void)rs;
    (void)a;
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static void fp32_to(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static float fp32_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const float *w = row;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += w[i] * x[i];
    return s;
}

/* bf16 */
static void bf16_from(const float *src, void *dst, float *rs, int64_t n, const codec_encode_args *a) {
    (void)rs;
    (void)a;
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = qb_f32_to_bf16(src[i]);
}
static void bf16_to(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = qb_bf16_to_f32(s[i]);
}
static float bf16_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint16_t *w = row;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += qb_bf16_to_f32(w[i]) * x[i];
    return s;
}

/* f16 */
static void f16_from(const float *src, void *dst, float *rs, int64_t n, const codec_encode_args *a) {
    (void)rs;
    (void)a;
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = qb_f32_to_f16(src[i]);
}
static void f16_to(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = qb_f16_to_f32(s[i]);
}
static float f16_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const uint16_t *w = row;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += qb_f16_to_f32(w[i]) * x[i];
    return s;
}

/* qins: pairs (stored, sign). scale = tensor_scale when given, else the row absmax. */
static void qins_from(const float *src, void *dst, float *rs, int64_t n, const codec_encode_args *a) {
    uint8_t *d = dst;
    float scale = a->scale > 0.0f ? a->scale : row_absmax(src, n);
    *rs = scale;
    for (int64_t i = 0; i < n; i++) {
        d[2 * i] = qins_code_as(a, fabsf(src[i]), scale, 255);
        d[2 * i + 1] = (uint8_t)(src[i] < 0.0f ? -1 : 1); /* int8 sign; −0 counts as + (w < 0 is false) */
    }
}
/* The decoded value: lut[stored] = scale / stored in f32, times the sign. */
static inline float qins_val(uint8_t stored, uint8_t sign, float scale) {
    float v = scale / (float)stored;
    return (int8_t)sign < 0 ? -v : v;
}
static void qins_to(const void *src, float rs, float *dst, int64_t n) {
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = qins_val(s[2 * i], s[2 * i + 1], rs);
}
static float qins_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    const uint8_t *s = row;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += qins_val(s[2 * i], s[2 * i + 1], rs) * x[i];
    return acc;
}

/* qins8: one byte, bit 7 sign, bits 0..6 stored in 1..127. */
static void qins8_from(const float *src, void *dst, float *rs, int64_t n, const codec_encode_args *a) {
    uint8_t *d = dst;
    float scale = a->scale > 0.0f ? a->scale : row_absmax(src, n);
    *rs = scale;
    for (int64_t i = 0; i < n; i++)
        d[i] = (uint8_t)(qins_code_as(a, fabsf(src[i]), scale, 127) | (src[i] < 0.0f ? 0x80 : 0));
}
static inline float qins8_val(uint8_t b, float scale) {
    float v = scale / (float)(b & 0x7f);
    return (b & 0x80) ? -v : v;
}
static void qins8_to(const void *src, float rs, float *dst, int64_t n) {
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = qins8_val(s[i], rs);
}
static float qins8_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    const uint8_t *s = row;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += qins8_val(s[i], rs) * x[i];
    return acc;
}

/* qins-compute — "compute in QINS", as implemented here (the claim does not define it):
 *   weights are coded exactly as qins (stored s_w, sign, per-row scale S_w);
 *   the activation vector entering the layer is QINS-coded per token: S_x = max|x|, s_x = code(|x_i|, S_x,
 *   255), sign_x = −1 if x_i < 0 else +1 (so x_i = 0 becomes ±S_x/255, as the code defines);
 *   each product is formed in the code domain: since S_w/s_w · S_x/s_x = (S_w·S_x)/(s_w·s_x), the product
 *   of two codes is the code of the product under the scale P = S_w·S_x; it is held in the same 8-bit
 *   code, so p = min(s_w·s_x, 255) (saturating: every product smaller than P/255 becomes P/255);
 *   the products are decoded (sign_w·sign_x · P/p, f32) and summed in f32; the output is f32.
 * Equivalently: Pattern A with both operands coded and the product re-coded to 8 bits before summing. */
float codec_qins_compute_dot_ref(const void *row, float wscale, const void *xcodes, float xscale, int64_t n) {
    const uint8_t *w = row, *xc = xcodes;
    float P = wscale * xscale, acc = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        unsigned p = (unsigned)w[2 * i] * xc[2 * i];
        if (p > 255) p = 255;
        float v = P / (float)p;
        acc += ((int8_t)(w[2 * i + 1] ^ xc[2 * i + 1]) < 0) ? -v : v; /* ±1 bytes: 0xff^0x01 has bit 7 set */
    }
    return acc;
}
float codec_qins_code_vector(const float *x, int64_t n, uint8_t *dst) {
    float scale = row_absmax(x, n);
    for (int64_t i = 0; i < n; i++) {
        dst[2 * i] = codec_qins_code(fabsf(x[i]), scale, 255);
        dst[2 * i + 1] = (uint8_t)(x[i] < 0.0f ? -1 : 1);
    }
    return scale;
}
/* The traits' vec_dot for qins-compute takes an f32 x: it codes x itself (per call, with scale max|x| over
 * the n values given — the whole token vector when called on a whole row), without allocating. */
static float qc_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    const uint8_t *w = row;
    float xs = row_absmax(x, n), P = rs * xs, acc = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        unsigned p = (unsigned)w[2 * i] * codec_qins_code(fabsf(x[i]), xs, 255);
        if (p > 255) p = 255;
        float v = P / (float)p;
        int neg = ((int8_t)w[2 * i + 1] < 0) != (x[i] < 0.0f);
        acc += neg ? -v : v;
    }
    return acc;
}

/* int8: per-row symmetric absmax, d = amax/127, q = round(w/d) (half away from zero), w ≈ q·d. */
static void int8_from(const float *src, void *dst, float *rs, int64_t n, const codec_encode_args *a) {
    (void)a;
    int8_t *q = dst;
    float amax = row_absmax(src, n);
    float d = amax / 127.0f;
    *rs = d;
    for (int64_t i = 0; i < n; i++) {
        /* x / d rather than x · (1/d): for a denormal row max, 1/d overflows to inf. */
        float v = d != 0.0f ? roundf(src[i] / d) : 0.0f;
        if (v > 127.0f) v = 127.0f; /* defensive: |x| ≤ amax keeps it in range */
        if (v < -127.0f) v = -127.0f;
        q[i] = (int8_t)v;
    }
}
static void int8_to(const void *src, float rs, float *dst, int64_t n) {
    const int8_t *q = src;
    for (int64_t i = 0; i < n; i++) dst[i] = (float)q[i] * rs;
}
static float int8_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    const int8_t *q = row;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += ((float)q[i] * rs) * x[i];
    return acc;
}

/* q8_0: ggml's quantize_row_q8_0_ref algorithm (re-implemented, not copied). */
static void q8_0_from(const float *src, void *dst, float *rs, int64_t n, const codec_encode_args *a) {
    (void)rs;
    (void)a;
    block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float *x = src + b * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = qb_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) {
            /* In range whenever id is finite. For a block max below ~3.7e-37, 1/d overflows to inf and
             * x·id is ±inf or NaN: converting that is undefined in C, and ggml's x86 build yields 0
             * (cvttss2si's 0x80000000, low byte). We store 0 likewise; d rounds to f16 0 there anyway. */
            float v = roundf(x[j] * id);
            y[b].qs[j] = fabsf(v) <= 127.0f ? (int8_t)v : 0;
        }
    }
}
static void q8_0_to(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    const block_q8_0 *y = src;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = qb_f16_to_f32(y[b].d);
        for (int j = 0; j < QK8_0; j++) dst[b * QK8_0 + j] = (float)y[b].qs[j] * d;
    }
}
static float q8_0_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const block_q8_0 *y = row;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = qb_f16_to_f32(y[b].d);
        for (int j = 0; j < QK8_0; j++) acc += ((float)y[b].qs[j] * d) * x[b * QK8_0 + j];
    }
    return acc;
}

/* q4_0: ggml's quantize_row_q4_0_ref algorithm: the value of largest |x| (first one on ties) keeps its
 * sign, d = max / −8, id = 1/d, q = min(15, trunc(x·id + 8.5)). */
static void q4_0_from(const float *src, void *dst, float *rs, int64_t n, const codec_encode_args *a) {
    (void)rs;
    (void)a;
    block_q4_0 *y = dst;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float *x = src + b * QK4_0;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = qb_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            /* x·id lies in [−8, 8], so x·id + 8.5 in [0.5, 16.5]: truncation is a floor, min caps 16. */
            /* Non-finite x·id (tiny block max, see q8_0): 0 as ggml's x86 build gives. */
            float v0 = x[j] * id + 8.5f, v1 = x[j + QK4_0 / 2] * id + 8.5f;
            int q0 = v0 >= 0.0f && v0 < 64.0f ? (int)v0 : 0, q1 = v1 >= 0.0f && v1 < 64.0f ? (int)v1 : 0;
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
static void q4_0_to(const void *src, float rs, float *dst, int64_t n) {
    (void)rs;
    const block_q4_0 *y = src;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float d = qb_f16_to_f32(y[b].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[b * QK4_0 + j] = (float)((y[b].qs[j] & 0x0f) - 8) * d;
            dst[b * QK4_0 + j + QK4_0 / 2] = (float)((y[b].qs[j] >> 4) - 8) * d;
        }
    }
}
static float q4_0_dot_ref(const void *row, float rs, const float *x, int64_t n) {
    (void)rs;
    const block_q4_0 *y = row;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float d = qb_f16_to_f32(y[b].d);
        const float *xb = x + b * QK4_0;
        for (int j = 0; j < QK4_0 / 2; j++) acc += ((float)((y[b].qs[j] & 0x0f) - 8) * d) * xb[j];
        for (int j = 0; j < QK4_0 / 2; j++) acc += ((float)((y[b].qs[j] >> 4) - 8) * d) * xb[j + QK4_0 / 2];
    }
    return acc;
}

/* ---------------------------------------------------------------------------------------------------- */
/* SIMD dispatch. */

static int g_cpu_level = -1; /* best level the CPU supports */
static int g_level = -1;     /* level in effect */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
/* CPUID.1:ECX.F16C directly: clang's __builtin_cpu_supports does not know "f16c" (gcc's does). */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

static int cpu_level(void) {
    if (g_cpu_level < 0) {
        int l = 0;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c())
            l = 1;
        if (l == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl"))
            l = 2;
#endif
        g_cpu_level = l;
    }
    return g_cpu_level;
}

int codec_set_simd(int level) {
    int c = cpu_level();
    if (level < 0) level = 0;
    g_level = level < c ? level : c;
    return g_level;
}

int codec_simd_level(void) {
    if (g_level < 0) g_level = cpu_level();
    return g_level;
}

codec_vec_dot_fn codec_vec_dot_for(codec_id id) {
    int l = codec_simd_level();
    if (codec_table[id].vec_dot_at_level) { /* the codec's own file holds its kernels */
        for (; l > 0; l--)
            if (codec_table[id].vec_dot_at_level(l)) return codec_table[id].vec_dot_at_level(l);
        return codec_table[id].vec_dot_ref;
    }
    if (l >= 2 && codec_vec_dot_avx512[id]) return codec_vec_dot_avx512[id];
    if (l >= 1 && codec_vec_dot_avx2[id]) return codec_vec_dot_avx2[id];
    return codec_table[id].vec_dot_ref;
}

codec_to_float_fn codec_to_float_for(codec_id id) {
    if (codec_simd_level() >= 2 && codec_to_float_avx512[id]) return codec_to_float_avx512[id];
    return codec_table[id].to_float;
}

codec_vec_dot4_fn codec_vec_dot4_for(codec_id id) {
    return codec_simd_level() >= 2 ? codec_vec_dot4_avx512[id] : NULL;
}

static codec_qc_dot_fn qc_coded_dot_for(void) {
    int l = codec_simd_level();
    if (l >= 2 && codec_qins_compute_dot_avx512) return codec_qins_compute_dot_avx512;
    if (l >= 1 && codec_qins_compute_dot_avx2) return codec_qins_compute_dot_avx2;
    return codec_qins_compute_dot_ref;
}

/* The traits' vec_dot entries of the codecs whose kernels live in kernels_*.c: dispatch at call time so
 * codec_set_simd applies everywhere. (A codec with its kernels in its own file dispatches there.) */
#define DISPATCHER(ID, fname)                                                                        \
    static float fname(const void *row, float rs, const float *x, int64_t n) {                       \
        return codec_vec_dot_for(ID)(row, rs, x, n);                                                 \
    }
DISPATCHER(CODEC_FP32, fp32_dot)
DISPATCHER(CODEC_BF16, bf16_dot)
DISPATCHER(CODEC_F16, f16_dot)
DISPATCHER(CODEC_QINS, qins_dot)
DISPATCHER(CODEC_QINS8, qins8_dot)
DISPATCHER(CODEC_QINS_COMPUTE, qc_dot)
DISPATCHER(CODEC_INT8, int8_dot)
DISPATCHER(CODEC_Q8_0, q8_0_dot)
DISPATCHER(CODEC_Q4_0, q4_0_dot)

/* ---------------------------------------------------------------------------------------------------- */
/* Stored symbols (entropy), magnitude codes (sparsity), representable range. */

static uint32_t sym_u16(const void *row, int64_t i) {
    const uint8_t *p = (const uint8_t *)row + 2 * i;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8); /* qins: (stored, sign) as one 16-bit symbol */
}
static uint32_t sym_u8(const void *row, int64_t i) {
    return ((const uint8_t *)row)[i];
}
static uint32_t sym_q8_0(const void *row, int64_t i) {
    const block_q8_0 *b = (const block_q8_0 *)row + i / QK8_0;
    return (uint8_t)b->qs[i % QK8_0];
}
static uint32_t sym_q4_0(const void *row, int64_t i) {
    const block_q4_0 *b = (const block_q4_0 *)row + i / QK4_0;
    const int j = (int)(i % QK4_0);
    return j < QK4_0 / 2 ? (b->qs[j] & 0x0f) : (b->qs[j - QK4_0 / 2] >> 4);
}
static int stored_qins(const void *row, int64_t i) {
    return ((const qins_pair *)row)[i].stored;
}
static int stored_qins8(const void *row, int64_t i) {
    return ((const uint8_t *)row)[i] & 0x7f;
}

static int oor_bf16(float amax) {
    return (qb_f32_to_bf16(amax) & 0x7fff) == 0x7f80;
}
static int oor_f16(float amax) {
    return (qb_f32_to_f16(amax) & 0x7fff) == 0x7c00;
}
static int oor_q8_0(float amax) {
    return oor_f16(amax / 127.0f); /* the f16 block scale d = amax / 127 */
}
static int oor_q4_0(float amax) {
    return oor_f16(amax / 8.0f); /* d = max / −8 */
}

/* ---------------------------------------------------------------------------------------------------- */
/* The table: one row per codec. Everything else (spec parser, help texts, error lists, REPORT.md's codec
 * list, the gate's expected sizes, entropy) reads it. */

#define QINS_FAMILY_OPTIONS (CODEC_OPT_SCALE | CODEC_OPT_ROUND)
CODEC_FILE_DECLARE(log8);

const codec_traits codec_table[CODEC_COUNT] = {
    [CODEC_FP32] = {
        .name = "fp32", .description = "IEEE f32, 32 bits/weight: the reference.",
        .block_size = 1, .block_bytes = 4,
        .from_float_ref = fp32_from, .to_float = fp32_to, .vec_dot_ref = fp32_dot_ref, .vec_dot = fp32_dot,
    },
    [CODEC_BF16] = {
        .name = "bf16", .description = "bfloat16 (round to nearest even), 16 bits/weight.",
        .block_size = 1, .block_bytes = 2,
        .symbol_bits = 16, .symbol = sym_u16, .out_of_range = oor_bf16,
        .options = CODEC_OPT_ACT_BF16,
        .from_float_ref = bf16_from, .to_float = bf16_to, .vec_dot_ref = bf16_dot_ref, .vec_dot = bf16_dot,
    },
    [CODEC_F16] = {
        .name = "f16", .description = "IEEE half (round to nearest even), 16 bits/weight.",
        .block_size = 1, .block_bytes = 2,
        .symbol_bits = 16, .symbol = sym_u16, .out_of_range = oor_f16,
        .from_float_ref = f16_from, .to_float = f16_to, .vec_dot_ref = f16_dot_ref, .vec_dot = f16_dot,
    },
    [CODEC_QINS] = {
        .name = "qins",
        .description = "QINS Pattern A as the claim stores it: per weight a uint8 `stored` = clamp(round(S / |w|), 1, 255) "
                       "and an int8 sign, S = the row's max |w| (f32, one per row): 16 + 32/cols bits/weight. Decoded "
                       "as `sign · S / stored` in f32, then an ordinary f32 product — the claim's "
                       "`w = sign · lut[stored]; F.linear(x, w)`. Options: scale=row (default) | tensor (one S per "
                       "tensor) | N (the constant S = N, as the claim's example with 256); round=round (default, "
                       "the charitable reading) | floor (the literal uint8 cast, which truncates).",
        .block_size = 1, .block_bytes = sizeof(qins_pair), .has_row_scale = 1, .options = QINS_FAMILY_OPTIONS,
        .symbol_bits = 16, .symbol = sym_u16, .stored_code = stored_qins,
        .from_float_ref = qins_from, .to_float = qins_to, .vec_dot_ref = qins_dot_ref, .vec_dot = qins_dot,
    },
    [CODEC_QINS8] = {
        .name = "qins8",
        .description = "The same code packed: sign bit + 7-bit stored value (1..127) in one byte, f32 row scale: "
                       "8 + 32/cols bits/weight. Options as qins.",
        .block_size = 1, .block_bytes = 1, .has_row_scale = 1, .options = QINS_FAMILY_OPTIONS,
        .symbol_bits = 8, .symbol = sym_u8, .stored_code = stored_qins8,
        .from_float_ref = qins8_from, .to_float = qins8_to, .vec_dot_ref = qins8_dot_ref, .vec_dot = qins8_dot,
    },
    [CODEC_QINS_COMPUTE] = {
        .name = "qins-compute",
        .description = "Weights stored as qins; activations QINS-coded per token too and the product formed in the "
                       "code domain (definition below). Options as qins (they apply to the weights).",
        .block_size = 1, .block_bytes = sizeof(qins_pair), .has_row_scale = 1, .codes_activations = 1,
        .options = QINS_FAMILY_OPTIONS, .symbol_bits = 16, .symbol = sym_u16, .stored_code = stored_qins,
        .from_float_ref = qins_from, .to_float = qins_to, .vec_dot_ref = qc_dot_ref, .vec_dot = qc_dot,
    },
    [CODEC_INT8] = {
        .name = "int8",
        .description = "Per-row symmetric absmax: q = round(w / d), d = max|w| / 127, f32 d per row: "
                       "8 + 32/cols bits/weight.",
        .block_size = 1, .block_bytes = 1, .has_row_scale = 1,
        .symbol_bits = 8, .symbol = sym_u8,
        .from_float_ref = int8_from, .to_float = int8_to, .vec_dot_ref = int8_dot_ref, .vec_dot = int8_dot,
    },
    [CODEC_Q8_0] = {
        .name = "q8_0", .description = "ggml block_q8_0: blocks of 32 weights, f16 scale + 32 int8: 8.5 bits/weight.",
        .block_size = QK8_0, .block_bytes = sizeof(block_q8_0), .options = CODEC_OPT_ACT_Q8,
        .symbol_bits = 8, .symbol = sym_q8_0, .block_side_bits = 16, .out_of_range = oor_q8_0,
        .from_float_ref = q8_0_from, .to_float = q8_0_to, .vec_dot_ref = q8_0_dot_ref, .vec_dot = q8_0_dot,
    },
    [CODEC_Q4_0] = {
        .name = "q4_0",
        .description = "ggml block_q4_0: blocks of 32 weights, f16 scale + 32 4-bit values: 4.5 bits/weight.",
        .block_size = QK4_0, .block_bytes = sizeof(block_q4_0), .options = CODEC_OPT_ACT_Q8,
        .symbol_bits = 4, .symbol = sym_q4_0, .block_side_bits = 16, .out_of_range = oor_q4_0,
        .from_float_ref = q4_0_from, .to_float = q4_0_to, .vec_dot_ref = q4_0_dot_ref, .vec_dot = q4_0_dot,
    },
    [CODEC_LOG8] = {
        .name = "log8",
        .description = "What the idea would need: sign bit + 7-bit log-magnitude code, 127 levels S·255^((c−127)/126) "
                       "spaced evenly in log over qins's range [S/255, S] plus an exact 0, S = the row's max |w| "
                       "(f32 per row): 8 + 32/cols bits/weight, a 4.5% step everywhere instead of qins's harmonic levels.",
        .block_size = 1, .block_bytes = 1, .has_row_scale = 1, .symbol_bits = 8, .symbol = sym_u8,
        CODEC_FILE_KERNELS(log8),
    },
};

const char *codec_name(codec_id id) {
    return (unsigned)id < CODEC_COUNT ? codec_table[id].name : "?";
}

const char *codec_name_list(const char *sep, char *buf, size_t n) {
    size_t k = 0;
    if (n) buf[0] = 0;
    for (int i = 0; i < CODEC_COUNT && k < n; i++) {
        int w = snprintf(buf + k, n - k, "%s%s", i ? sep : "", codec_table[i].name);
        if (w < 0) break;
        k += (size_t)w;
    }
    return buf;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Specs: "name[:key=value,…]". Each option has its own parser; the codec's row says which it accepts. */

static const struct {
    const char *name;
    unsigned bit;
} k_groups[] = {
    {"attn", CODEC_GROUP_ATTN}, {"mlp", CODEC_GROUP_MLP}, {"lm_head", CODEC_GROUP_LM_HEAD}, {"embed", CODEC_GROUP_EMBED}};

static qb_status parse_groups(const char *s, size_t len, unsigned *out) {
    unsigned mask = 0;
    size_t i = 0;
    if (len == 0) return qb_errorf(QB_ERR_INPUT, "apply= is empty (groups: attn, mlp, lm_head, embed)");
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != '+') j++;
        size_t k, glen = j - i;
        for (k = 0; k < sizeof k_groups / sizeof k_groups[0]; k++)
            if (strlen(k_groups[k].name) == glen && strncmp(s + i, k_groups[k].name, glen) == 0) break;
        if (k == sizeof k_groups / sizeof k_groups[0])
            return qb_errorf(QB_ERR_INPUT, "unknown group '%.*s' in apply= (groups: attn, mlp, lm_head, embed)",
                             (int)glen, s + i);
        if (mask & k_groups[k].bit)
            return qb_errorf(QB_ERR_INPUT, "group '%s' given twice in apply=", k_groups[k].name);
        mask |= k_groups[k].bit;
        i = j + 1;
    }
    *out = mask;
    return QB_OK;
}

static int val_is(const char *v, size_t vlen, const char *word) {
    return strlen(word) == vlen && strncmp(v, word, vlen) == 0;
}

/* Names of the codecs accepting an option, for the error message. */
static const char *codecs_with(unsigned opt, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < CODEC_COUNT && k < n; i++)
        if (codec_table[i].options & opt) {
            int w = snprintf(buf + k, n - k, "%s%s", k ? ", " : "", codec_table[i].name);
            if (w < 0) break;
            k += (size_t)w;
        }
    return buf;
}

/* scale=row | tensor | N with N a finite number > 0 (written in full: "256", "1e2"). */
static qb_status parse_scale(const char *v, size_t vlen, CodecParams *p) {
    if (val_is(v, vlen, "row")) {
        p->scale = CODEC_SCALE_ROW;
        return QB_OK;
    }
    if (val_is(v, vlen, "tensor")) {
        p->scale = CODEC_SCALE_TENSOR;
        return QB_OK;
    }
    char num[48];
    if (vlen == 0 || vlen >= sizeof num)
        return qb_errorf(QB_ERR_INPUT, "scale must be row, tensor or a number > 0, not '%.*s'", (int)vlen, v);
    memcpy(num, v, vlen);
    num[vlen] = 0;
    char *end;
    float f = strtof(num, &end);
    if (*end || end == num || !isfinite(f) || !(f > 0.0f))
        return qb_errorf(QB_ERR_INPUT, "scale must be row, tensor or a number > 0, not '%s'", num);
    p->scale = CODEC_SCALE_CONST;
    p->scale_const = f;
    return QB_OK;
}

/* act= values, each with the option bit a codec's row must have (0: every codec, the default). */
static const struct {
    const char *name;
    codec_act_mode mode;
    unsigned opt;
} k_acts[CODEC_ACT_COUNT] = {
    [CODEC_ACT_F32] = {"f32", CODEC_ACT_F32, 0},
    [CODEC_ACT_Q8] = {"q8", CODEC_ACT_Q8, CODEC_OPT_ACT_Q8},
    [CODEC_ACT_BF16] = {"bf16", CODEC_ACT_BF16, CODEC_OPT_ACT_BF16},
};

const char *codec_act_name(codec_act_mode act) {
    return (unsigned)act < CODEC_ACT_COUNT ? k_acts[act].name : "?";
}

/* "act=q8: q4_0, q8_0; act=bf16: bf16" — which codec accepts which act value, from the table. */
static const char *act_support_list(char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int a = 0; a < CODEC_ACT_COUNT && k < n; a++) {
        if (!k_acts[a].opt) continue;
        char names[192];
        int w = snprintf(buf + k, n - k, "%sact=%s: %s", k ? "; " : "", k_acts[a].name,
                         codecs_with(k_acts[a].opt, names, sizeof names));
        if (w < 0) break;
        k += (size_t)w;
    }
    return buf;
}

static qb_status parse_act(const char *v, size_t vlen, codec_id id, CodecParams *p) {
    char list[256];
    for (int a = 0; a < CODEC_ACT_COUNT; a++) {
        if (!val_is(v, vlen, k_acts[a].name)) continue;
        if (k_acts[a].opt && !(codec_table[id].options & k_acts[a].opt))
            return qb_errorf(QB_ERR_INPUT, "act=%s is not available for %s (%s)", k_acts[a].name, codec_table[id].name,
                             act_support_list(list, sizeof list));
        p->act = k_acts[a].mode;
        return QB_OK;
    }
    return qb_errorf(QB_ERR_INPUT, "act must be f32, q8 or bf16, not '%.*s' (%s)", (int)vlen, v,
                     act_support_list(list, sizeof list));
}

static qb_status parse_round(const char *v, size_t vlen, CodecParams *p) {
    if (val_is(v, vlen, "round")) p->round = CODEC_ROUND_NEAREST;
    else if (val_is(v, vlen, "floor")) p->round = CODEC_ROUND_FLOOR;
    else return qb_errorf(QB_ERR_INPUT, "round must be round or floor, not '%.*s'", (int)vlen, v);
    return QB_OK;
}

/* One key=value option into spec; *seen tracks repeats (one bit per key). */
static qb_status parse_option(const char *k, size_t klen, const char *v, size_t vlen, CodecSpec *spec,
                              unsigned *seen) {
    static const struct {
        const char *key;
        unsigned opt; /* CODEC_OPT_* the codec must have; 0 = every codec */
    } keys[] = {{"apply", 0}, {"scale", CODEC_OPT_SCALE}, {"round", CODEC_OPT_ROUND}, {"act", 0}};
    size_t i;
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (val_is(k, klen, keys[i].key)) break;
    if (i == sizeof keys / sizeof keys[0])
        return qb_errorf(QB_ERR_INPUT, "unknown option '%.*s' (options: apply, scale, round, act)", (int)klen, k);
    if (*seen & (1u << i)) return qb_errorf(QB_ERR_INPUT, "%s= given twice", keys[i].key);
    *seen |= 1u << i;
    if (keys[i].opt && !(codec_table[spec->id].options & keys[i].opt)) {
        char list[256];
        return qb_errorf(QB_ERR_INPUT, "%s= applies only to %s", keys[i].key, codecs_with(keys[i].opt, list, sizeof list));
    }
    switch (i) {
    case 0: return parse_groups(v, vlen, &spec->apply);
    case 1: return parse_scale(v, vlen, &spec->params);
    case 2: return parse_round(v, vlen, &spec->params);
    default: return parse_act(v, vlen, spec->id, &spec->params); /* checks the codec's act bits itself */
    }
}

qb_status codec_spec_parse(const char *text, CodecSpec *out) {
    if (!text) return qb_errorf(QB_ERR_INPUT, "codec spec: missing");
    const char *colon = strchr(text, ':');
    size_t nlen = colon ? (size_t)(colon - text) : strlen(text);
    CodecSpec spec = {.id = CODEC_FP32, .apply = CODEC_GROUP_DEFAULT};
    int found = 0;
    for (int i = 0; i < CODEC_COUNT && !found; i++) {
        if (val_is(text, nlen, codec_table[i].name)) {
            spec.id = (codec_id)i;
            found = 1;
        }
    }
    if (!found) {
        char list[256];
        return qb_errorf(QB_ERR_INPUT, "codec spec '%s': unknown codec '%.*s' (codecs: %s)", text, (int)nlen, text,
                         codec_name_list(", ", list, sizeof list));
    }
    if (colon) {
        const char *p = colon + 1;
        unsigned seen = 0;
        if (!*p) return qb_errorf(QB_ERR_INPUT, "codec spec '%s': empty option list after ':'", text);
        for (;;) {
            const char *end = strchr(p, ',');
            size_t olen = end ? (size_t)(end - p) : strlen(p);
            const char *eq = memchr(p, '=', olen);
            if (!eq)
                return qb_errorf(QB_ERR_INPUT, "codec spec '%s': option '%.*s' is not key=value", text, (int)olen, p);
            size_t klen = (size_t)(eq - p);
            qb_status st = parse_option(p, klen, eq + 1, olen - klen - 1, &spec, &seen);
            if (st) {
                char pre[160];
                snprintf(pre, sizeof pre, "codec spec '%s'", text);
                qb_error_prefix(pre);
                return st;
            }
            if (!end) break;
            p = end + 1;
        }
    }
    *out = spec;
    return QB_OK;
}

void codec_spec_format(const CodecSpec *spec, char *buf, size_t n) {
    char groups[64] = "", opts[96] = "";
    size_t g = 0;
    for (size_t k = 0; k < sizeof k_groups / sizeof k_groups[0]; k++) {
        if (spec->apply & k_groups[k].bit) {
            int w = snprintf(groups + g, sizeof groups - g, "%s%s", g ? "+" : "", k_groups[k].name);
            if (w > 0) g += (size_t)w;
        }
    }
    const unsigned o = codec_table[spec->id].options;
    const CodecParams *p = &spec->params;
    size_t k = 0;
    if (o & CODEC_OPT_SCALE) {
        int w = p->scale == CODEC_SCALE_CONST ? snprintf(opts, sizeof opts, "scale=%.9g,", (double)p->scale_const)
                : snprintf(opts, sizeof opts, "scale=%s,", p->scale == CODEC_SCALE_TENSOR ? "tensor" : "row");
        if (w > 0) k += (size_t)w;
    }
    /* round= only when not the default, so the canonical text of every spec that existed before it is unchanged */
    if ((o & CODEC_OPT_ROUND) && p->round == CODEC_ROUND_FLOOR && k < sizeof opts) {
        int w = snprintf(opts + k, sizeof opts - k, "round=floor,");
        if (w > 0) k += (size_t)w;
    }
    /* act= likewise only when not f32: every existing label and result key stays as it was */
    if (p->act != CODEC_ACT_F32 && (unsigned)p->act < CODEC_ACT_COUNT && (o & k_acts[p->act].opt) && k < sizeof opts)
        snprintf(opts + k, sizeof opts - k, "act=%s,", k_acts[p->act].name);
    if (opts[0] || spec->apply)
        snprintf(buf, n, "%s:%sapply=%s", codec_name(spec->id), opts, groups);
    else
        snprintf(buf, n, "%s", codec_name(spec->id));
}

codec_id codec_for_group(const CodecSpec *spec, unsigned group) {
    return (spec->apply & group) ? spec->id : CODEC_FP32;
}

const CodecParams *codec_params_for(const CodecSpec *spec, codec_id id) {
    return id == spec->id ? &spec->params : NULL;
}

int codec_params_need_absmax(const CodecParams *params) {
    return params && params->scale == CODEC_SCALE_TENSOR;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Coded tensors. */

qb_status codec_tensor_init(CodedTensor *t, codec_id id, const CodecParams *params, int64_t rows, int64_t cols,
                            float tensor_absmax) {
    memset(t, 0, sizeof *t);
    if ((unsigned)id >= CODEC_COUNT) return qb_errorf(QB_ERR_INTERNAL, "codec_tensor_init: bad codec id %d", (int)id);
    if (rows <= 0 || cols <= 0 || cols > ((int64_t)1 << 40) || rows > ((int64_t)1 << 40))
        return qb_errorf(QB_ERR_INPUT, "bad tensor shape [%lld, %lld] for codec %s", (long long)rows, (long long)cols,
                         codec_name(id));
    const codec_traits *tr = &codec_table[id];
    const CodecParams p = params ? *params : (CodecParams){0};
    if (p.scale != CODEC_SCALE_ROW && !(tr->options & CODEC_OPT_SCALE))
        return qb_errorf(QB_ERR_INPUT, "codec %s has no scale= option", tr->name);
    if (p.round != CODEC_ROUND_NEAREST && !(tr->options & CODEC_OPT_ROUND))
        return qb_errorf(QB_ERR_INPUT, "codec %s has no round= option", tr->name);
    if ((unsigned)p.act >= CODEC_ACT_COUNT || (p.act != CODEC_ACT_F32 && !(tr->options & k_acts[p.act].opt))) {
        char list[256];
        return qb_errorf(QB_ERR_INPUT, "codec %s has no act=%s (%s)", tr->name, codec_act_name(p.act),
                         act_support_list(list, sizeof list));
    }
    if (p.scale == CODEC_SCALE_TENSOR && (!isfinite(tensor_absmax) || tensor_absmax < 0.0f))
        return qb_errorf(QB_ERR_INPUT, "codec %s: tensor absmax %g is not finite and >= 0", tr->name,
                         (double)tensor_absmax);
    if (p.scale == CODEC_SCALE_CONST && !(isfinite(p.scale_const) && p.scale_const > 0.0f))
        return qb_errorf(QB_ERR_INPUT, "codec %s: scale %g is not finite and > 0", tr->name, (double)p.scale_const);
    int64_t bs = tr->block_size;
    int64_t cp = (cols + bs - 1) / bs * bs;
    size_t stride, total;
    if (qb_mul_overflow((size_t)(cp / bs), tr->block_bytes, &stride) || qb_mul_overflow(stride, (size_t)rows, &total))
        return qb_errorf(QB_ERR_INPUT, "tensor [%lld, %lld] too large", (long long)rows, (long long)cols);
    t->id = id;
    t->traits = tr;
    t->rows = rows;
    t->cols = cols;
    t->cols_padded = cp;
    t->row_stride = stride;
    t->params = p;
    t->tensor_scale = p.scale == CODEC_SCALE_TENSOR ? tensor_absmax : p.scale == CODEC_SCALE_CONST ? p.scale_const : 0.0f;
    t->codes = qb_aligned_alloc(total, "coded tensor");
    if (!t->codes) return QB_ERR_NOMEM;
    memset(t->codes, 0, total);
    if (tr->has_row_scale) {
        t->row_scales = qb_calloc((size_t)rows, sizeof(float), "coded tensor row scales");
        if (!t->row_scales) {
            free(t->codes);
            t->codes = NULL;
            return QB_ERR_NOMEM;
        }
    }
    return QB_OK;
}

void codec_tensor_free(CodedTensor *t) {
    if (!t) return;
    free(t->codes);
    free(t->row_scales);
    memset(t, 0, sizeof *t);
}

size_t codec_tensor_bytes(const CodedTensor *t) {
    if (!t->codes) return 0;
    return (size_t)t->rows * t->row_stride + (t->traits->has_row_scale ? (size_t)t->rows * sizeof(float) : 0);
}

double codec_bits_per_weight(const CodedTensor *t) {
    return (double)codec_tensor_bytes(t) * 8.0 / ((double)t->rows * (double)t->cols);
}

qb_status codec_encode_rows(CodedTensor *t, int64_t row0, int64_t nrows, const float *src) {
    if (!t->codes || row0 < 0 || nrows < 0 || row0 + nrows > t->rows)
        return qb_errorf(QB_ERR_INTERNAL, "codec_encode_rows: rows [%lld, %lld) outside the tensor", (long long)row0,
                         (long long)(row0 + nrows));
    const int64_t cols = t->cols, cp = t->cols_padded;
    /* Validate everything first (serially, cheap), so the parallel encode below cannot fail. */
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * cols;
        float amax = 0.0f;
        for (int64_t i = 0; i < cols; i++) {
            if (!isfinite(x[i]))
                return qb_errorf(QB_ERR_INPUT, "row %lld, column %lld: weight is %s", (long long)(row0 + r), (long long)i,
                                 isnan(x[i]) ? "NaN" : "Inf");
            float a = fabsf(x[i]);
            if (a > amax) amax = a;
        }
        if (t->traits->out_of_range && t->traits->out_of_range(amax))
            return qb_errorf(QB_ERR_INPUT, "row %lld: |weight| %g is outside the range of codec %s", (long long)(row0 + r),
                             (double)amax, t->traits->name);
        if (t->params.scale == CODEC_SCALE_TENSOR && amax > t->tensor_scale)
            return qb_errorf(QB_ERR_INPUT, "row %lld: |weight| %g exceeds the tensor absmax %g given for scale=tensor",
                             (long long)(row0 + r), (double)amax, (double)t->tensor_scale);
    }
    const codec_traits *tr = t->traits;
    const codec_encode_args args = {.scale = t->tensor_scale, .round = t->params.round};
    int padded = cp != cols;
    int nomem = 0;
#pragma omp parallel if (nrows * cols > (1 << 16))
    {
        float *pad = NULL;
        if (padded) {
            pad = calloc((size_t)cp, sizeof(float)); /* the zero padding of the last block */
            if (!pad) {
#pragma omp atomic write
                nomem = 1;
            }
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < nrows; r++) {
            if (padded && !pad) continue;
            const float *x = src + r * cols;
            if (padded) {
                memcpy(pad, x, (size_t)cols * sizeof(float));
                x = pad;
            }
            float rs = 0.0f;
            tr->from_float_ref(x, t->codes + (size_t)(row0 + r) * t->row_stride, &rs, cp, &args);
            if (tr->has_row_scale) t->row_scales[row0 + r] = rs;
        }
        free(pad);
    }
    if (nomem) return qb_errorf(QB_ERR_NOMEM, "codec_encode_rows: out of memory for a padded row");
    return QB_OK;
}

static inline float row_scale_of(const CodedTensor *t, int64_t r) {
    return t->row_scales ? t->row_scales[r] : 0.0f;
}

void codec_decode_row(const CodedTensor *t, int64_t r, float *dst) {
    const uint8_t *row = t->codes + (size_t)r * t->row_stride;
    const int64_t bs = t->traits->block_size, full = t->cols / bs * bs;
    codec_to_float_for(t->id)(row, row_scale_of(t, r), dst, full);
    if (full < t->cols) { /* last, padded block */
        float tmp[64];
        assert(bs <= 64);
        t->traits->to_float(row + (size_t)(full / bs) * t->traits->block_bytes, row_scale_of(t, r), tmp, bs);
        memcpy(dst + full, tmp, (size_t)(t->cols - full) * sizeof(float));
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Products. */

/* Σ over one row with a given dot kernel: whole blocks through the kernel, then the padded last block
 * decoded and summed in order (x has only cols values, so the kernel must not read past them). */
static inline float row_dot(const CodedTensor *t, codec_vec_dot_fn dot, int64_t r, const float *x) {
    const uint8_t *row = t->codes + (size_t)r * t->row_stride;
    const int64_t bs = t->traits->block_size, full = t->cols / bs * bs;
    float rs = row_scale_of(t, r);
    float s = full ? dot(row, rs, x, full) : 0.0f;
    if (full < t->cols) {
        float tmp[64];
        t->traits->to_float(row + (size_t)(full / bs) * t->traits->block_bytes, rs, tmp, bs);
        for (int64_t i = full; i < t->cols; i++) s += tmp[i - full] * x[i];
    }
    return s;
}

void codec_matmul_ref(float *out, const CodedTensor *W, const float *x, int T) {
    const int64_t rows = W->rows, cols = W->cols;
    for (int t = 0; t < T; t++)
        for (int64_t r = 0; r < rows; r++)
            out[(size_t)t * rows + r] = row_dot(W, W->traits->vec_dot_ref, r, x + (size_t)t * cols);
}

/* qins-compute: code each token's activation once (T × cols × 2 bytes), then every (token, row) product
 * with the coded-operand kernel. Rows outside, tokens inside: a row's codes stay in L1 while all tokens use
 * them, so the weights are read from memory once per call, not once per token. Each output is one kernel
 * call with fixed arguments → the same bits for any T, thread count or schedule. */
static void qc_matmul(float *out, const CodedTensor *W, const float *x, int T, int nthreads) {
    const int64_t rows = W->rows, cols = W->cols;
    uint8_t *xc = malloc((size_t)T * (size_t)cols * 2);
    float *xs = malloc((size_t)T * sizeof(float));
    if (!xc || !xs) { /* no memory for the coded activations: the self-coding kernel needs none */
        free(xc);
        free(xs);
        for (int t = 0; t < T; t++)
            for (int64_t r = 0; r < rows; r++)
                out[(size_t)t * rows + r] = row_dot(W, codec_vec_dot_for(W->id), r, x + (size_t)t * cols);
        return;
    }
    for (int t = 0; t < T; t++) xs[t] = codec_qins_code_vector(x + (size_t)t * cols, cols, xc + (size_t)t * cols * 2);
    codec_qc_dot_fn dot = qc_coded_dot_for();
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = W->codes + (size_t)r * W->row_stride;
        for (int t = 0; t < T; t++)
            out[(size_t)t * rows + r] = dot(row, W->row_scales[r], xc + (size_t)t * cols * 2, xs[t], cols);
    }
    free(xc);
    free(xs);
}

/* Rows decoded per sgemm call in the T > 1 path (a thread's whole share when that is smaller:
 * matmul_block_rows). Fewer, larger sgemm calls ran faster (the likely reason, not measured: each call packs
 * the whole [T × cols] activation block again, 6 MB at pp512 and 3072 columns). The scratch this costs is
 * 2048 × cols floats per thread at most: 24 MB at 3072 columns; for Phi-3.5's down_proj (3072 × 8192) 48 MB
 * per thread on two threads and 64 MB on one.
 * Measured with a throwaway harness: one Phi-3.5 layer's four products at T = 512, q8_0 decoded and
 * multiplied as matmul_region does, each configuration timed in turn with fp32 in the same pass, 24 passes.
 * Two-thread speed over fp32's in the same pass, median (quartiles):
 *   256 rows 0.854 (0.808–0.868), 1024 0.896 (0.833–0.924), 2048 0.923 (0.883–0.960),
 *   8192 (the whole share) 0.931 (0.853–0.962);
 * one thread 98, 106, 116, 112 GFLOP/s against fp32's 115. A repeat with 30 passes: 256 rows 0.855, 8192
 * 0.932. Two threads ÷ one was 1.8–1.9 for every block size and for fp32, so the block size sets the speed
 * of each thread, not the scaling. `make bench-prefill` (bench/bench_prefill.c) times the shipped setting
 * the same way. */
#define MM_ROW_BLOCK 2048

/* Largest T that takes the small-batch kernel (codec_gemm_small_fn) instead of sgemm. sgemm packs the
 * weights on every call, which at batched-decode sizes costs more than the product (measured: M = 16 ran
 * at 35.7 GFLOP/s vs 73 at M = 128, one thread); the small kernel reads each weight row once and packs
 * nothing. 32 is the kernel's pass size, not a measured crossover: at T = 48 and 64 the kernel and sgemm
 * were within noise of each other (loaded machine), and prefill (T = 512) keeps sgemm. */
#define MM_SMALL_T_MAX CODEC_GEMM_SMALL_T_MAX
/* Rows a non-fp32 codec decodes into scratch per small-kernel call: 16 × cols floats (512 KB at 8192
 * columns) stays in L2 while all T activation rows pass over it. */
#define MM_SMALL_ROWS 16

void codec_gemm_small_ref(const float *w, size_t ws, int64_t nr, const float *x, size_t xs, int T, int64_t n,
                          float *out, size_t os) {
    for (int t = 0; t < T; t++)
        for (int64_t r = 0; r < nr; r++) {
            float s = 0.0f;
            for (int64_t i = 0; i < n; i++) s += w[(size_t)r * ws + (size_t)i] * x[(size_t)t * xs + (size_t)i];
            out[(size_t)t * os + (size_t)r] = s;
        }
}

codec_gemm_small_fn codec_gemm_small_for(void) {
    return codec_simd_level() >= 2 ? codec_gemm_small_avx512 : NULL;
}

/* The T > 1 scratch (decoded weight rows), kept between calls rather than malloc'd per product (up to 64 MB
 * per thread for prefill at 8192 columns). Rule: one grow-only buffer per *calling* thread (the thread that
 * enters codec_matmul; its OpenMP team shares it, each member using its own slice), so concurrent
 * codec_matmul calls from different threads never share a buffer. It lives in a pthread key whose destructor
 * frees it when that thread exits; the main thread's buffer stays reachable until process exit
 * (LeakSanitizer scans the thread descriptor that holds key values, so it reports no leak). Its size is the
 * largest nthreads × matmul_block_rows × cols this thread has asked for (96 MB at 2 threads and 3072 × 8192). */
static pthread_key_t mm_scratch_key;
static pthread_once_t mm_scratch_once = PTHREAD_ONCE_INIT;
static int mm_scratch_key_ok;
typedef struct {
    size_t n; /* floats in data */
    float *data;
} mm_scratch;
static void mm_scratch_free(void *p) {
    mm_scratch *s = p;
    if (s) free(s->data);
    free(s);
}
static void mm_scratch_key_init(void) {
    mm_scratch_key_ok = pthread_key_create(&mm_scratch_key, mm_scratch_free) == 0;
}
/* The calling thread's scratch of at least n floats (64-byte aligned), or NULL when out of memory. */
static float *matmul_scratch(size_t n) {
    pthread_once(&mm_scratch_once, mm_scratch_key_init);
    if (!mm_scratch_key_ok) return NULL;
    mm_scratch *s = pthread_getspecific(mm_scratch_key);
    if (s && s->n >= n) return s->data;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(mm_scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    free(s->data);
    s->n = 0;
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    s->data = aligned_alloc(64, bytes);
    if (s->data) s->n = n;
    return s->data;
}

/* 1 when OpenBLAS runs on OpenMP (openblas_get_parallel() == 2): a cblas call made inside our own
 * parallel region then runs single-threaded on the calling thread, so the T > 1 product can split rows
 * over one thread pool (ours) with no second pool spinning against it. With the pthread build, a call
 * from inside a region would wake OpenBLAS's own threads on top of ours; that build keeps the serial
 * split (decode in our region, sgemm with OpenBLAS's threads). Measured, 8-layer Phi-3.5 shapes, pp512,
 * 2 threads: see the commit that chose libopenblas-openmp-dev (Makefile PKGS). */
int openblas_get_parallel(void);
static int blas_is_openmp(void) {
    static int v = -1;
    if (v < 0) v = openblas_get_parallel() == 2;
    return v;
}

/* Thread id's share of `rows` split over nt threads: [*r0, *r1), 16-row aligned. */
static void thread_share(int64_t rows, int nt, int id, int64_t *r0, int64_t *r1) {
    int64_t per = ((rows + nt - 1) / nt + 15) / 16 * 16;
    *r0 = (int64_t)id * per < rows ? (int64_t)id * per : rows;
    *r1 = *r0 + per < rows ? *r0 + per : rows;
}

/* Rows per decode-and-sgemm block when `rows` are split over nthreads: MM_ROW_BLOCK, or a thread's whole
 * share when that is smaller (so the scratch is never larger than the rows it holds). */
static int64_t matmul_block_rows(int64_t rows, int nthreads) {
    int64_t r0, r1;
    thread_share(rows, nthreads, 0, &r0, &r1);
    return r1 - r0 < MM_ROW_BLOCK ? (r1 - r0 > 0 ? r1 - r0 : 1) : MM_ROW_BLOCK;
}

/* Rows [r0, r1) of out[T, rows] = x · Wᵀ on the calling thread: fp32 straight from the codes, other codecs
 * through blk-row blocks decoded into scratch (blk × cols floats). */
static void matmul_rows_sgemm(float *out, const CodedTensor *W, const float *x, int T, int64_t r0, int64_t r1,
                              float *scratch, int64_t blk) {
    const int64_t rows = W->rows, cols = W->cols;
    if (W->id == CODEC_FP32) {
        if (r1 > r0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, (int)(r1 - r0), (int)cols, 1.0f, x, (int)cols,
                        (const float *)(W->codes + (size_t)r0 * W->row_stride), (int)cols, 0.0f, out + r0, (int)rows);
        return;
    }
    for (int64_t b = r0; b < r1; b += blk) {
        int64_t nr = r1 - b < blk ? r1 - b : blk;
        for (int64_t r = 0; r < nr; r++) codec_decode_row(W, b + r, scratch + (size_t)r * cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, (int)nr, (int)cols, 1.0f, x, (int)cols, scratch,
                    (int)cols, 0.0f, out + b, (int)rows);
    }
}

/* Rows [r0, r1) with the small-batch kernel: fp32 straight from the codes, other codecs MM_SMALL_ROWS rows
 * at a time decoded into scratch (MM_SMALL_ROWS × cols floats) by the fast row decoder. */
static void matmul_rows_small(float *out, const CodedTensor *W, const float *x, int T, int64_t r0, int64_t r1,
                              float *scratch, codec_gemm_small_fn gemm) {
    const int64_t rows = W->rows, cols = W->cols;
    if (W->id == CODEC_FP32) {
        if (r1 > r0)
            gemm((const float *)(W->codes + (size_t)r0 * W->row_stride), W->row_stride / sizeof(float), r1 - r0, x,
                 (size_t)cols, T, cols, out + r0, (size_t)rows);
        return;
    }
    for (int64_t b = r0; b < r1; b += MM_SMALL_ROWS) {
        int64_t nr = r1 - b < MM_SMALL_ROWS ? r1 - b : MM_SMALL_ROWS;
        for (int64_t r = 0; r < nr; r++) codec_decode_row(W, b + r, scratch + (size_t)r * cols);
        gemm(scratch, (size_t)cols, nr, x, (size_t)cols, T, cols, out + b, (size_t)rows);
    }
}

/* T > 1 inside one OpenMP region: thread i owns a contiguous, 16-row-aligned share of the rows, decodes
 * them block by block and multiplies them, with the small-batch kernel when gemm is set (T ≤ MM_SMALL_T_MAX)
 * or else a single-threaded sgemm. Decode and product run on the same threads with no serial phase between
 * them. The split depends only on (rows, nthreads); with sgemm each output is one dot over the same K order,
 * so results are identical run to run at a given thread count; with the small kernel each output's order
 * depends only on cols, so results are also the same for any thread count and batch companions.
 * Returns 0 (nothing written) when the scratch cannot be allocated. */
static int matmul_region(float *out, const CodedTensor *W, const float *x, int T, int nthreads,
                         codec_gemm_small_fn gemm) {
    const int64_t rows = W->rows, cols = W->cols;
    const int64_t blk = gemm ? MM_SMALL_ROWS : matmul_block_rows(rows, nthreads);
    const size_t per_thread = W->id == CODEC_FP32 ? 0 : (size_t)blk * (size_t)cols;
    float *scratch = per_thread ? matmul_scratch((size_t)nthreads * per_thread) : NULL;
    if (per_thread && !scratch) return 0;
#pragma omp parallel num_threads(nthreads)
    {
        int id = omp_get_thread_num();
        int64_t r0, r1;
        thread_share(rows, omp_get_num_threads(), id, &r0, &r1);
        float *mine = scratch ? scratch + (size_t)id * per_thread : NULL;
        if (gemm)
            matmul_rows_small(out, W, x, T, r0, r1, mine, gemm);
        else
            matmul_rows_sgemm(out, W, x, T, r0, r1, mine, blk);
    }
    return 1;
}

void codec_matmul_rows(float *out, const CodedTensor *W, const float *x, int T, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    if (T <= 0) return;
    /* act= products quantize or round each token on its own and qins-compute codes each token on its own:
     * both are per token whatever T (codec_act.c, qc_matmul) */
    if (W->params.act != CODEC_ACT_F32 || W->traits->codes_activations) {
        codec_matmul(out, W, x, T, nthreads);
        return;
    }
    codec_gemm_small_fn gemm = codec_gemm_small_for();
    if (!gemm) gemm = codec_gemm_small_ref; /* no AVX-512: the ref's order, the same for every T too */
    if (matmul_region(out, W, x, T, nthreads, gemm)) return;
    /* No scratch (16 × cols floats per thread): the per-T product. Correct, but its bits can differ from
     * the line above at T = 1 or T > 32; only reachable out of memory. */
    codec_matmul(out, W, x, T, nthreads);
}

void codec_matmul(float *out, const CodedTensor *W, const float *x, int T, int nthreads) {
    if (W->params.act != CODEC_ACT_F32) { codec_act_matmul(out, W, x, T, nthreads); return; } /* codec_act.c */
    const int64_t rows = W->rows, cols = W->cols;
    if (nthreads < 1) nthreads = 1;
    if (T <= 0) return;
    if (W->traits->codes_activations) { /* no f32 weights to hand to sgemm: the product is in the codes */
        qc_matmul(out, W, x, T, nthreads);
        return;
    }
    codec_gemm_small_fn gemm = T > 1 && T <= MM_SMALL_T_MAX ? codec_gemm_small_for() : NULL;
    if (gemm && matmul_region(out, W, x, T, nthreads, gemm)) return;
    if (T > 1 && blas_is_openmp() && matmul_region(out, W, x, T, nthreads, NULL)) return;
    if (W->id == CODEC_FP32 && T > 1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, (int)rows, (int)cols, 1.0f, x, (int)cols,
                    (const float *)W->codes, (int)cols, 0.0f, out, (int)rows);
        return;
    }
    /* fp32 with T == 1 takes the fused path below with its own kernel rather than cblas_sgemv: the FP32
     * baseline then runs on the same threads, split and kernel structure as every coded codec (a fair
     * speed comparison), and decoding never wakes OpenBLAS's threads, whose spin-waiting on a 2-core machine
     * steals the cores from the OpenMP kernels (measured: 2-thread matvecs stalled ~12 ms). */
    codec_vec_dot_fn dot = codec_vec_dot_for(W->id);
    codec_vec_dot4_fn dot4 = codec_vec_dot4_for(W->id);
    if (T == 1 && dot4 && cols % W->traits->block_size == 0) {
        /* Four rows per kernel call; groups split statically over the threads, the last rows % 4 one at
         * a time. A row's sum depends only on its own codes, so results do not depend on the split. */
        const int64_t groups = rows / CODEC_DOT_ROWS;
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int64_t g = 0; g < groups; g++) {
            int64_t r = g * CODEC_DOT_ROWS;
            dot4(W->codes + (size_t)r * W->row_stride, W->row_stride, W->row_scales ? W->row_scales + r : NULL, x,
                 cols, out + r);
        }
        for (int64_t r = groups * CODEC_DOT_ROWS; r < rows; r++) out[r] = row_dot(W, dot, r, x);
        return;
    }
    const int64_t blk = matmul_block_rows(rows, 1);
    float *scratch = T > 1 ? matmul_scratch((size_t)blk * (size_t)cols) : NULL;
    if (T == 1 || !scratch) {
        /* Fused decode-and-dot; one thread per row, rows split statically → schedule-independent. */
        for (int t = 0; t < T; t++) {
            float *o = out + (size_t)t * rows;
            const float *xt = x + (size_t)t * cols;
#pragma omp parallel for num_threads(nthreads) schedule(static)
            for (int64_t r = 0; r < rows; r++) o[r] = row_dot(W, dot, r, xt);
        }
        return;
    }
    /* pthread OpenBLAS: decode in our region, sgemm on OpenBLAS's threads. */
    for (int64_t r0 = 0; r0 < rows; r0 += blk) {
        int64_t nr = rows - r0 < blk ? rows - r0 : blk;
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int64_t r = 0; r < nr; r++) codec_decode_row(W, r0 + r, scratch + (size_t)r * cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, (int)nr, (int)cols, 1.0f, x, (int)cols, scratch,
                    (int)cols, 0.0f, out + r0, (int)rows);
    }
}
