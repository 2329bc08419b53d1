/* codec_stats.c — see codec_stats.h. Everything codec-specific comes from the codec's row (symbol,
 * symbol_bits, block_side_bits, has_row_scale, stored_code): no per-codec code here. */
#include "codec_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void codec_stats_init(CodecStats *s) {
    memset(s, 0, sizeof *s);
}

double codec_tensor_entropy(const CodedTensor *t) {
    const codec_traits *tr = t->traits;
    if (!tr->symbol || tr->symbol_bits <= 0 || tr->symbol_bits > 16) return NAN;
    const size_t nbins = (size_t)1 << tr->symbol_bits;
    uint64_t *hist = calloc(nbins, sizeof *hist);
    if (!hist) return NAN;
    for (int64_t r = 0; r < t->rows; r++) {
        const uint8_t *row = t->codes + (size_t)r * t->row_stride;
        for (int64_t i = 0; i < t->cols; i++) hist[tr->symbol(row, i)]++;
    }
    const double n = (double)t->rows * (double)t->cols;
    double h = 0;
    for (size_t i = 0; i < nbins; i++) {
        if (!hist[i]) continue;
        double p = (double)hist[i] / n;
        h -= p * log2(p);
    }
    free(hist);
    double side = (double)t->rows * ((double)tr->block_side_bits * (double)(t->cols_padded / tr->block_size) +
                                     (tr->has_row_scale ? 32.0 : 0.0));
    return h + side / n;
}

qb_status codec_stats_add(CodecStats *s, const CodedTensor *t, const float *w) {
    float *row = malloc((size_t)t->cols * sizeof *row);
    if (!row) return qb_errorf(QB_ERR_NOMEM, "codec stats: out of memory for one row");
    const codec_traits *tr = t->traits;
    for (int64_t r = 0; r < t->rows; r++) {
        const float *wr = w + (size_t)r * (size_t)t->cols;
        const uint8_t *codes = t->codes + (size_t)r * t->row_stride;
        codec_decode_row(t, r, row);
        for (int64_t i = 0; i < t->cols; i++) {
            double e = fabs((double)row[i] - (double)wr[i]);
            s->err2 += e * e;
            s->ref2 += (double)wr[i] * wr[i];
            if (e > s->max_abs) s->max_abs = e;
            if (wr[i] != 0.0f) {
                s->rel_sum += e / fabs((double)wr[i]);
                s->n_rel++;
            }
            if (tr->stored_code) s->n_stored_sparse += tr->stored_code(codes, i) > CODEC_SPARSE_STORED;
        }
    }
    free(row);
    const uint64_t n = (uint64_t)t->rows * (uint64_t)t->cols;
    if (tr->stored_code) s->n_stored += n;
    double h = codec_tensor_entropy(t);
    if (isnan(h)) s->entropy_missing = 1;
    else s->entropy_sum += h * (double)n;
    s->n += n;
    s->bytes += codec_tensor_bytes(t);
    return QB_OK;
}

double codec_stats_rel_rms(const CodecStats *s) {
    return s->ref2 > 0 ? sqrt(s->err2 / s->ref2) : (s->err2 > 0 ? INFINITY : 0);
}
double codec_stats_mean_rel(const CodecStats *s) {
    return s->n_rel ? s->rel_sum / (double)s->n_rel : NAN;
}
double codec_stats_entropy_bits(const CodecStats *s) {
    return s->entropy_missing || !s->n ? NAN : s->entropy_sum / (double)s->n;
}
double codec_stats_sparse_frac(const CodecStats *s) {
    return s->n_stored ? (double)s->n_stored_sparse / (double)s->n_stored : NAN;
}
double codec_stats_bits(const CodecStats *s) {
    return s->n ? (double)s->bytes * 8.0 / (double)s->n : NAN;
}
