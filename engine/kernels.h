/* kernels.h — multi-row fast kernels (the matvec of the decode step), beside the one-row kernels of
 * codec.h. A 4-row kernel computes out[k] = Σ_i decode(row_k)[i] · x[i] for the 4 rows at
 * rows + k·stride (k = 0..3), over n weights (n a whole number of blocks); row_scales holds the rows'
 * f32 scales (NULL for codecs without one). Reading each activation chunk once for four rows cuts the
 * activation loads per weight by 4, which matters when the activation does not fit L1 beside the streamed
 * weights (down_proj: 8192 floats = 32 KB, all of L1d) and the decode is cheap: fp32, bf16, f16 (the
 * measurements are at the table in kernels_avx512.c). Each is held to the codec's scalar vec_dot_ref
 * within the same 1e-5 relative tolerance as the one-row kernels (tests/test_kernels.c); a row's result
 * depends only on its own codes, x and n, never on the other three rows or the thread schedule. */
#ifndef QB_KERNELS_H
#define QB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define CODEC_DOT_ROWS 4
typedef void (*codec_vec_dot4_fn)(const uint8_t *rows, size_t stride, const float *row_scales, const float *x,
                                  int64_t n, float *out);
/* Per codec at the AVX-512 level (NULL where there is none). */
extern const codec_vec_dot4_fn codec_vec_dot4_avx512[CODEC_COUNT];
/* The 4-row kernel codec_matmul uses at the current SIMD level, or NULL (then it runs one row at a time). */
codec_vec_dot4_fn codec_vec_dot4_for(codec_id id);

/* Small-batch product (the batched decode step, 2 ≤ T ≤ a few dozen): out[t·os + r] = Σ_i w[r·ws + i] · x[t·xs + i]
 * for weight rows r < nr and activation rows t < T, over n columns, on f32 weights (fp32's codes, or rows
 * another codec decoded into scratch). Unlike sgemm it packs nothing: each weight row is read from memory
 * once per call while the T activation rows pass over it in cache. Each output's summation order depends
 * only on n (see kernels_avx512.c), so out[t, r] depends only on weight row r and activation row t, never
 * on nr, T, or the other rows of the call. Held to codec_gemm_small_ref within TOL_GEMM (tests/test_kernels.c). */
/* codec_matmul uses it for 2 ≤ T ≤ CODEC_GEMM_SMALL_T_MAX, sgemm above (prefill). Measured: see codec.c. */
#define CODEC_GEMM_SMALL_T_MAX 32
typedef void (*codec_gemm_small_fn)(const float *w, size_t ws, int64_t nr, const float *x, size_t xs, int T,
                                    int64_t n, float *out, size_t os);
extern const codec_gemm_small_fn codec_gemm_small_avx512;
/* Scalar reference: each output one sequential f32 sum over i. */
void codec_gemm_small_ref(const float *w, size_t ws, int64_t nr, const float *x, size_t xs, int T, int64_t n,
                          float *out, size_t os);
/* The kernel codec_matmul uses at the current SIMD level, or NULL (then T > 1 goes to sgemm). */
codec_gemm_small_fn codec_gemm_small_for(void);

#endif
