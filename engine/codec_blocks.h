/* codec_blocks.h — the block layouts of the block codecs, in one place, with their sizes checked at compile
 * time. Every codec file, kernel and the table use these names and sizes rather than bare numbers.
 *
 *   block_q8_0  ggml's layout: f16 scale d + 32 int8 quants            34 bytes / 32 weights (8.5 bits)
 *   block_q4_0  ggml's layout: f16 scale d + 16 bytes of nibbles       18 bytes / 32 weights (4.5 bits)
 *               (qs[j] low nibble = weight j, high nibble = weight j + 16)
 * Element-wise codecs (fp32, bf16, f16, qins, qins8, int8, log8) have blocks of one weight and no struct. */
#ifndef QB_CODEC_BLOCKS_H
#define QB_CODEC_BLOCKS_H

#include <assert.h>
#include <stdint.h>

#define QK8_0 32
#define QK4_0 32

typedef struct {
    uint16_t d;       /* f16 scale */
    int8_t qs[QK8_0]; /* quants */
} block_q8_0;
static_assert(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 must be 34 bytes (ggml layout)");

typedef struct {
    uint16_t d;            /* f16 scale */
    uint8_t qs[QK4_0 / 2]; /* nibbles: low = first half of the block, high = second half */
} block_q4_0;
static_assert(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 must be 18 bytes (ggml layout)");

/* The interleaved (stored u8, sign i8) pair of a qins weight. */
typedef struct {
    uint8_t stored;
    int8_t sign;
} qins_pair;
static_assert(sizeof(qins_pair) == 2, "qins_pair must be 2 bytes");

#endif
