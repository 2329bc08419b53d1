/* codec.h — the one interface through which every weight product goes.
 *
 * A codec is one row of a const table (codec_traits), in the manner of ggml's type traits: name, block
 * size, bytes per block, whether a row carries an f32 scale, a reference quantizer (from_float_ref), a
 * decoder (to_float), and a dot product with an f32 activation vector in two versions — a plain scalar
 * reference (vec_dot_ref) and a fast one (vec_dot) that tests hold to the reference.
 *
 * A CodedTensor is a 2-D weight [rows, cols] (rows = output features, as in PyTorch's Linear.weight) held
 * only in coded form: for fp32 the codes are the floats themselves. Every row is padded to a whole number
 * of blocks (padding weights are zero), and rows are row_stride bytes apart.
 *
 * The forward pass sees only codec_matmul / codec_decode_row; it never knows which codec it runs. */
#ifndef QB_CODEC_H
#define QB_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

typedef enum {
    CODEC_FP32 = 0,
    CODEC_BF16,
    CODEC_F16,
    CODEC_QINS,         /* Pattern A: uint8 stored + int8 sign, f32 scale per row (or per tensor, or constant) */
    CODEC_QINS8,        /* sign bit + 7-bit stored value in one byte */
    CODEC_QINS_COMPUTE, /* weights as qins; activations QINS-coded too; product of the coded operands */
    CODEC_INT8,         /* per-row symmetric absmax int8 */
    CODEC_Q8_0,         /* ggml block_q8_0: 32 weights, f16 scale */
    CODEC_Q4_0,         /* ggml block_q4_0: 32 weights, f16 scale */
    CODEC_LOG8,         /* sign + 7-bit log-magnitude code, f32 row scale (engine/codec_log8.c) */
    CODEC_COUNT
} codec_id;

/* Tensor groups a codec may apply to (bit mask). Tensors outside the mask stay fp32. */
enum {
    CODEC_GROUP_ATTN = 1,    /* qkv_proj, o_proj */
    CODEC_GROUP_MLP = 2,     /* gate_up_proj, down_proj */
    CODEC_GROUP_LM_HEAD = 4, /* lm_head */
    CODEC_GROUP_EMBED = 8,   /* embed_tokens */
    CODEC_GROUP_DEFAULT = CODEC_GROUP_ATTN | CODEC_GROUP_MLP,
};

/* Encode-time options a codec may accept (codec_traits.options). */
enum {
    CODEC_OPT_SCALE = 1, /* scale=row | tensor | N (a constant) */
    CODEC_OPT_ROUND = 2, /* round=round (nearest, half away from zero) | floor (the literal uint8 cast) */
    CODEC_OPT_ACT_Q8 = 4,   /* act=q8: activations as ggml block_q8_0, integer block dots (engine/codec_act.c) */
    CODEC_OPT_ACT_BF16 = 8, /* act=bf16: activations rounded to bf16, vdpbf16ps products (engine/codec_act.c) */
};
typedef enum { CODEC_SCALE_ROW = 0, CODEC_SCALE_TENSOR, CODEC_SCALE_CONST } codec_scale_mode;
typedef enum { CODEC_ROUND_NEAREST = 0, CODEC_ROUND_FLOOR } codec_round_mode;
/* The arithmetic of the product (not of the storage): f32 activations (the default: quality numbers then
 * mean "what the weight codec does"), or llama.cpp's deployed arithmetic — act=q8 (ggml's vec_dot_q4_0_q8_0 /
 * q8_0_q8_0) or act=bf16 (ggml's vec_dot_bf16). Which codec allows which: the CODEC_OPT_ACT_* bits. */
typedef enum { CODEC_ACT_F32 = 0, CODEC_ACT_Q8, CODEC_ACT_BF16, CODEC_ACT_COUNT } codec_act_mode;

/* The options of a spec. All-zero = the defaults (scale=row, round=round, act=f32). */
typedef struct {
    codec_scale_mode scale;
    float scale_const;      /* CODEC_SCALE_CONST: the scale (finite, > 0), e.g. 256 as the claim's example implies */
    codec_round_mode round;
    codec_act_mode act;     /* CODEC_ACT_F32 unless the spec says act=… */
} CodecParams;

typedef struct {
    codec_id id;
    CodecParams params;   /* meaningful for codecs with CODEC_OPT_* options; zero elsewhere */
    unsigned apply;       /* CODEC_GROUP_* mask */
} CodecSpec;

/* What a from_float_ref gets besides the weights: the fixed scale (scale=tensor: the tensor absmax;
 * scale=N: N), or 0 when each row decides its own; and the rounding. */
typedef struct {
    float scale;
    codec_round_mode round;
} codec_encode_args;

typedef float (*codec_vec_dot_fn)(const void *row, float row_scale, const float *x, int64_t n);

typedef struct codec_traits {
    const char *name;        /* as used in specs: "fp32", "qins", "q8_0", … */
    const char *description; /* one line for --help, error messages and REPORT.md's codec list */
    int block_size;          /* weights per block (1 for element-wise codes) */
    size_t block_bytes;      /* bytes per block, scales inside blocks included (q8_0: 34) */
    int has_row_scale;       /* 1: one f32 scale per row, stored beside the codes */
    int codes_activations;   /* 1: the activation is coded before the product (qins-compute) */
    unsigned options;        /* CODEC_OPT_* the spec parser accepts for this codec */
    /* The stored symbols, for the order-0 entropy (the best any lossless stage could reach): symbol i of a
     * row (i < cols; padding is never asked for), symbol_bits wide (histogram of 2^symbol_bits bins); and
     * the side information stored per block (bits; q8_0/q4_0: the f16 d) — row scales are counted from
     * has_row_scale. symbol_bits == 0: not computed (fp32: 2^32 symbols). */
    int symbol_bits;
    uint32_t (*symbol)(const void *row, int64_t i);
    int block_side_bits;
    /* The qins family's magnitude code `stored` of weight i (1..max_code), for the claim's "stored > 200"
     * sparsity; NULL for codecs without one. */
    int (*stored_code)(const void *row, int64_t i);
    /* 1 when a row whose largest |w| is amax cannot be held at all (f16 overflow, an f16 block scale
     * overflowing): rejected rather than turned into ±inf. NULL: every finite value can be held. */
    int (*out_of_range)(float amax);
    /* Quantizes one row of n weights (n a multiple of block_size; the caller zero-pads). Writes the row
     * scale to *row_scale when has_row_scale. Plain scalar code: the definition of the codec. */
    void (*from_float_ref)(const float *src, void *dst, float *row_scale, int64_t n, const codec_encode_args *a);
    /* Decodes one row of n weights. */
    void (*to_float)(const void *src, float row_scale, float *dst, int64_t n);
    /* Σ decode(row)[i] · x[i] over n weights: scalar reference, and the fast (SIMD) version. */
    float (*vec_dot_ref)(const void *row, float row_scale, const float *x, int64_t n);
    float (*vec_dot)(const void *row, float row_scale, const float *x, int64_t n);
    /* Fast kernels kept in the codec's own file: the kernel for a SIMD level (NULL where the level has none).
     * NULL for the codecs whose kernels live in kernels_*.c (codec_vec_dot_avx2/avx512 below). */
    codec_vec_dot_fn (*vec_dot_at_level)(int level);
} codec_traits;

extern const codec_traits codec_table[CODEC_COUNT];

/* A codec kept in a file of its own (engine/codec_NAME.c) provides these for its table row: declare them
 * with CODEC_FILE_DECLARE(NAME) and fill the row's kernels with CODEC_FILE_KERNELS(NAME). */
#define CODEC_FILE_DECLARE(NAME)                                                                              \
    void codec_##NAME##_from_float_ref(const float *src, void *dst, float *row_scale, int64_t n,             \
                                       const codec_encode_args *a);                                           \
    void codec_##NAME##_to_float(const void *src, float row_scale, float *dst, int64_t n);                   \
    float codec_##NAME##_vec_dot_ref(const void *row, float row_scale, const float *x, int64_t n);           \
    float codec_##NAME##_vec_dot(const void *row, float row_scale, const float *x, int64_t n);               \
    codec_vec_dot_fn codec_##NAME##_vec_dot_at_level(int level)
#define CODEC_FILE_KERNELS(NAME)                                                                              \
    .from_float_ref = codec_##NAME##_from_float_ref, .to_float = codec_##NAME##_to_float,                    \
    .vec_dot_ref = codec_##NAME##_vec_dot_ref, .vec_dot = codec_##NAME##_vec_dot,                            \
    .vec_dot_at_level = codec_##NAME##_vec_dot_at_level

typedef struct {
    codec_id id;
    const codec_traits *traits;
    int64_t rows, cols;     /* logical shape */
    int64_t cols_padded;    /* cols rounded up to a whole block */
    size_t row_stride;      /* bytes per row of codes */
    uint8_t *codes;         /* rows × row_stride bytes, 64-byte aligned; the only resident copy */
    float *row_scales;      /* rows entries when traits->has_row_scale (all equal for scale=tensor or N), else NULL */
    CodecParams params;     /* the encode options it was made with */
    float tensor_scale;     /* the fixed scale: the tensor absmax for scale=tensor, N for scale=N, else 0 */
} CodedTensor;

/* Parses "qins:scale=tensor,round=floor,apply=attn+mlp+lm_head" or "q4_0:act=q8" (codec name, then
 * options). Unknown codec or option, or an option the codec's row does not allow → QB_ERR_INPUT naming it
 * and listing the known ones / the codecs that accept it (from the table). */
qb_status codec_spec_parse(const char *text, CodecSpec *out);
/* Canonical text of a spec, e.g. "qins:scale=row,apply=attn+mlp" (round= and act= only when not the default). */
void codec_spec_format(const CodecSpec *spec, char *buf, size_t n);
/* The codec that applies to a tensor of group `group` under `spec` (fp32 when the group is not applied). */
codec_id codec_for_group(const CodecSpec *spec, unsigned group);
const char *codec_name(codec_id id);
/* "f32", "q8", "bf16": the act= value of a mode. */
const char *codec_act_name(codec_act_mode act);
/* The codec names, table order, joined by sep ("fp32, bf16, …"): for help texts and error messages. */
const char *codec_name_list(const char *sep, char *buf, size_t n);
/* The spec's encode options for a tensor coded with `id` (NULL when id is not the spec's codec, e.g. a
 * group left in fp32). */
const CodecParams *codec_params_for(const CodecSpec *spec, codec_id id);

/* Allocates the coded storage for a [rows, cols] tensor. params NULL = the defaults; options the codec
 * does not have → QB_ERR_INPUT. tensor_absmax is the absmax of the whole tensor (used only for
 * scale=tensor; codec_params_need_absmax says when the caller must compute it). */
qb_status codec_tensor_init(CodedTensor *t, codec_id id, const CodecParams *params, int64_t rows, int64_t cols,
                            float tensor_absmax);
int codec_params_need_absmax(const CodecParams *params);
/* Encodes rows [row0, row0+nrows) from nrows × cols f32 values. Rejects NaN/Inf (QB_ERR_INPUT; the
 * caller prefixes the tensor name). */
qb_status codec_encode_rows(CodedTensor *t, int64_t row0, int64_t nrows, const float *src);
void codec_tensor_free(CodedTensor *t);
/* Bytes held at rest: codes (padding included) + scales. */
size_t codec_tensor_bytes(const CodedTensor *t);
/* Decodes one row (cols values) into dst. */
void codec_decode_row(const CodedTensor *t, int64_t r, float *dst);

/* out[T, rows] = x[T, cols] · Wᵀ — the product of every linear layer. T == 1 takes the fused decode-and-dot
 * path (rows split over nthreads; each row's sum is computed by one thread in a fixed order, so the result
 * does not depend on scheduling); 2 ≤ T ≤ 32 the small-batch kernel; T > 32 decodes blocks of rows into
 * f32 scratch and uses sgemm (fp32 uses sgemm on the weights directly). */
void codec_matmul(float *out, const CodedTensor *W, const float *x, int T, int nthreads);
/* The same product with one kernel and one summation order for every T (the small-batch kernel, or its
 * scalar ref below AVX-512; act= and qins-compute products are per token already): each output row's bits
 * depend only on its own activation row, never on T or on the other rows. codec_matmul picks the fastest
 * kernel per T instead (fused matvec at T = 1, sgemm above 32), whose bits differ. Lockstep decoding uses
 * this one, so a sequence's logits are the same whatever number of sequences shares its step. */
void codec_matmul_rows(float *out, const CodedTensor *W, const float *x, int T, int nthreads);
/* Same product computed with decode + plain scalar loops (the reference every fast path is tested against).
 * It ignores params.act (f32 activations); the act=q8/bf16 reference is codec_act_matmul_ref (codec_act.h). */
void codec_matmul_ref(float *out, const CodedTensor *W, const float *x, int T);


/* ---- Additions (codec owner). ---- */

/* The QINS code of one magnitude, the single definition shared by weights, activations (qins-compute)
 * and the KV cache: clamp(round-half-away(scale / absw), 1, maxcode), the quotient computed in f32.
 * absw == 0 → maxcode (a zero decodes to ±scale/maxcode, as the claim states). scale == 0 (an all-zero
 * row or vector) → maxcode as well; the table of scale 0 is all zeros (0 / i), so such a row decodes to
 * exact zeros. A quotient above maxcode (|w| < scale/maxcode, or an overflow to +inf for denormal |w|)
 * clamps to maxcode; below 1 (|w| > scale, only when a caller passes a too-small scale) clamps to 1.
 * absw must be finite and ≥ 0, scale finite and ≥ 0. Decode: sign · (scale / code) in f32. */
uint8_t codec_qins_code(float absw, float scale, int maxcode);
/* The same with round=floor: clamp(floor(scale / absw), 1, maxcode) — what `.astype(np.uint8)` does to the
 * claim's `clip(scale/|w|, 1, 255)`. Same edge cases as codec_qins_code. */
uint8_t codec_qins_code_floor(float absw, float scale, int maxcode);
/* 1/i in f32 for i = 0..255 (entry 0 is 0). Note scale · inv[i] is not always bit-equal to the defined
 * value scale / i; the reference and the decoders use scale / i, fast dot kernels may differ within 1e-5. */
extern const float codec_qins_inv[256];

/* SIMD level of the fast kernels: 0 = portable scalar (the _ref kernels), 1 = AVX2+FMA+F16C, 2 = AVX-512
 * (F+BW+VL). The default is the best the CPU supports. codec_set_simd clamps the request to what the CPU
 * supports and returns the level in effect (tests use it to run the scalar path on a SIMD machine). */
int codec_set_simd(int level);
int codec_simd_level(void);

/* Fast kernels per SIMD level, indexed by codec_id (NULL where a level has no kernel of its own: the
 * dispatcher then falls back to the next lower level). Exported for tests and bench-kernels. */
extern const codec_vec_dot_fn codec_vec_dot_avx512[CODEC_COUNT];
extern const codec_vec_dot_fn codec_vec_dot_avx2[CODEC_COUNT];
/* The vec_dot codec_matmul uses at the current SIMD level. */
codec_vec_dot_fn codec_vec_dot_for(codec_id id);

/* qins-compute with the activation already coded (QINS pairs stored,sign like a qins row; xscale its
 * scale): Σ sign_w·sign_x · (P / min(s_w·s_x, 255)) with P = wscale·xscale. _ref is the definition. */
float codec_qins_compute_dot_ref(const void *row, float wscale, const void *xcodes, float xscale, int64_t n);
typedef float (*codec_qc_dot_fn)(const void *row, float wscale, const void *xcodes, float xscale, int64_t n);
extern const codec_qc_dot_fn codec_qins_compute_dot_avx512;
extern const codec_qc_dot_fn codec_qins_compute_dot_avx2;
/* Codes an activation vector of n values as qins (scale = max|x|, returned). dst holds 2·n bytes. */
float codec_qins_code_vector(const float *x, int64_t n, uint8_t *dst);

/* Fast row decoders (AVX-512), bit-identical to the traits' to_float (tests check it); NULL where none.
 * codec_decode_row and the prefill path use codec_to_float_for(id) at the current SIMD level. */
typedef void (*codec_to_float_fn)(const void *src, float row_scale, float *dst, int64_t n);
extern const codec_to_float_fn codec_to_float_avx512[CODEC_COUNT];
codec_to_float_fn codec_to_float_for(codec_id id);

/* Bits per weight at rest: codec_tensor_bytes × 8 / (rows × cols). */
double codec_bits_per_weight(const CodedTensor *t);

#endif
