/* codec_act.h — the product in llama.cpp's deployed arithmetic (spec option act=q8 / act=bf16).
 *
 * With act=f32 (the default) every product uses f32 activations, so quality numbers mean "what the weight
 * codec does". act=q8 and act=bf16 reproduce what llama.cpp's CPU backend computes instead:
 *
 *   q4_0:act=q8, q8_0:act=q8  Each activation row is quantized once per product to ggml's block_q8_0 (the
 *       q8_0 weight quantizer itself, which is ggml's quantize_row_q8_0_ref: d = amax/127 stored as f16,
 *       id = d ? 1/d : 0, qs = roundf(x·id)). Then per 32-block an exact integer sum Σ w_j·q_j, and
 *       sumf += sumi·d_w·d_x (q4_0, evaluated (sumi·d_w)·d_x) or sumi·(d_w·d_x) (q8_0), in f32, block after
 *       block: ggml_vec_dot_q4_0_q8_0_generic / ggml_vec_dot_q8_0_q8_0_generic.
 *   bf16:act=bf16  The activation rounded to bf16 (round to nearest even, ggml_compute_fp32_to_bf16), and
 *       products with vdpbf16ps as ggml_vec_dot_bf16's AVX512BF16 path (two accumulators over 32-element
 *       chunks, then a horizontal sum).
 *
 * Each row's result is computed by one kernel call whose arithmetic depends only on that row and that
 * activation row: the same bits for any T, thread count, row split or SIMD level (tests/test_codec_act.c). */
#ifndef QB_CODEC_ACT_H
#define QB_CODEC_ACT_H

#include <stdint.h>
#include "codec.h"
#include "codec_blocks.h"

/* out[T, rows] = x[T, cols] · Wᵀ with the activations in W->params.act's arithmetic (≠ CODEC_ACT_F32).
 * codec_matmul calls this; rows split statically over nthreads in one OpenMP region. */
void codec_act_matmul(float *out, const CodedTensor *W, const float *x, int T, int nthreads);
/* The definition: quantize/round each activation row with the scalar reference, then the scalar reference
 * dot of every (token, row). */
void codec_act_matmul_ref(float *out, const CodedTensor *W, const float *x, int T);

/* ggml's quantize_row_q8_0_ref: n a multiple of 32. */
void codec_act_quantize_q8_0_ref(const float *x, block_q8_0 *y, int64_t n);
/* ggml_vec_dot_q4_0_q8_0_generic / ggml_vec_dot_q8_0_q8_0_generic over n (multiple of 32) values. */
float codec_act_dot_q4_0_q8_0_ref(const block_q4_0 *w, const block_q8_0 *y, int64_t n);
float codec_act_dot_q8_0_q8_0_ref(const block_q8_0 *w, const block_q8_0 *y, int64_t n);

/* fp32 → bf16 of an activation row (ggml_compute_fp32_to_bf16: round to nearest even, NaN quieted). */
void codec_act_round_bf16(const float *x, uint16_t *y, int64_t n);
/* ggml_vec_dot_bf16's scalar reference: each product bf16·bf16 in f32 (exact), summed in double. */
float codec_act_dot_bf16_ref(const uint16_t *w, const uint16_t *x, int64_t n);
/* The fast kernel's arithmetic in scalar code: vdpbf16ps lane by lane (per lane and pair: acc += w_odd·x_odd,
 * then acc += w_even·x_even, each one fused multiply-add rounded to nearest even, with denormal inputs read
 * as zero and denormal results flushed to zero, as the instruction does), the same accumulators and the same
 * final reduction. Used where the CPU lacks avx512_bf16; bit-identical to the vdpbf16ps kernel. */
float codec_act_dot_bf16_emul(const uint16_t *w, const uint16_t *x, int64_t n);
/* The vdpbf16ps kernel, or NULL when the CPU (or the SIMD level set by codec_set_simd) lacks AVX-512 BF16. */
typedef float (*codec_act_bf16_dot_fn)(const uint16_t *w, const uint16_t *x, int64_t n);
codec_act_bf16_dot_fn codec_act_dot_bf16_fast(void);

/* 1 when act=q8 products run the AVX-512 VNNI kernel at the current SIMD level (else the scalar reference,
 * which gives the same bits), and likewise for act=bf16 with AVX-512 BF16 (else the scalar emulation). */
int codec_act_q8_is_fast(void);

#endif
