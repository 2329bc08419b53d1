/* h5_results.h — the HDF5 results file (schema in docs/results.md): the summary row type, checked helpers
 * that write datasets with `units` and `description` attributes, and the crash-safe commit that makes every
 * finished cell durable (copy to OUT.tmp, add, close, fsync, rename over OUT: the visible file is always a
 * complete, closed HDF5 file). Every H5 call is checked; errors name the file and the object. */
#ifndef QB_H5_RESULTS_H
#define QB_H5_RESULTS_H

#include <hdf5.h>
#include <stdint.h>
#include "results_schema.h"
#include "util.h"

#define H5R_SCHEMA_VERSION 2
#define H5R_MODEL_LEN 64
#define H5R_CODEC_LEN 128
#define H5R_KV_LEN 16
#define H5R_STATUS_LEN 128
#define H5R_KIND_LEN 16

/* One row of /summary: one (model, codec, KV mode) cell. NaN = not measured (or the cell failed). */
typedef struct {
    char model[H5R_MODEL_LEN];
    char codec[H5R_CODEC_LEN];
    char kv[H5R_KV_LEN];
    char status[H5R_STATUS_LEN]; /* "ok" or "failed: reason" */
    int64_t cell_index;          /* position in the config's models × codecs × kv order */
    int64_t threads;
    double seconds;              /* wall time of the cell (load included) */
    /* memory */
    double bits_per_weight;      /* all weight tensors: 8·bytes / parameters */
    double bits_per_weight_linear; /* attention + MLP projections only */
    int64_t weight_bytes, kv_bytes, ctx, peak_rss_bytes;
    /* greedy match */
    int64_t n_prompts, steps;
    double match_rate, match_rate_lo, match_rate_hi;
    double prefix_len_mean, prefix_len_mean_lo, prefix_len_mean_hi; /* steps before the first divergence */
    double survival_full, survival_full_lo, survival_full_hi;       /* prompts identical through every step */
    double tf_agreement, tf_agreement_lo, tf_agreement_hi;
    int64_t n_flips;
    double flip_margin_median;
    /* perplexity and KL */
    char ppl_kind[H5R_KIND_LEN]; /* "text", "random_ids" (no PPL: see docs/results.md) or "" (no workload) */
    int64_t n_windows, n_tokens;
    double ppl, ref_ppl, delta_ppl, delta_ppl_lo, delta_ppl_hi;
    double delta_ppl_rel, delta_ppl_rel_lo, delta_ppl_rel_hi; /* ppl/ref_ppl − 1 (fraction), its own bootstrap */
    double kl_mean, kl_mean_lo, kl_mean_hi, kl_median, kl_p90, kl_p99, kl_p999, kl_max;
    double same_top, same_top_lo, same_top_hi, rms_dp;
    /* speed (tokens/s over repeats) */
    int64_t speed_repeats;
    double prefill_tps, prefill_tps_min, prefill_tps_max;
    double decode_tps, decode_tps_min, decode_tps_max;
} SummaryRow;

/* A row with every number NaN / 0 and the identity fields set. */
void h5r_row_init(SummaryRow *r, const char *model, const char *codec, const char *kv, int64_t cell_index);

/* Silences HDF5's own error printing (we report errors ourselves). Call once per process. */
void h5r_quiet(void);

/* Writing helpers: `loc` a file or group. type is an HDF5 native type (H5T_NATIVE_INT32, …). */
qb_status h5r_write(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data,
                    const char *units, const char *description);
qb_status h5r_attr_str(hid_t loc, const char *name, const char *value);
qb_status h5r_attr_i64(hid_t loc, const char *name, int64_t value);
qb_status h5r_attr_f64(hid_t loc, const char *name, double value);
/* Creates a group (intermediate groups too). *out must be H5Gclose'd. */
qb_status h5r_group(hid_t loc, const char *name, hid_t *out);

/* Reads a string attribute of the object at `obj` ("/" for root) into a heap string. */
qb_status h5r_read_attr_str(hid_t file, const char *obj, const char *name, char **out);
/* Reads a whole dataset as `type` into a heap buffer; *n = number of elements. */
qb_status h5r_read(hid_t file, const char *path, hid_t type, void **out, size_t *n);

/* The summary table. */
qb_status h5r_write_summary(hid_t file, const SummaryRow *rows, size_t n);
qb_status h5r_read_summary(hid_t file, SummaryRow **rows, size_t *n);
/* Opens a results file read-only (error names it). */
qb_status h5r_open(const char *path, hid_t *out);

/* Root metadata of a new results file. */
typedef struct {
    const char *config_name, *config_text, *config_path, *command_line, *shard;
    int threads;
} H5Root;
/* Creates `path` (via path.tmp + rename) with root attributes, /provenance, /models, /cells and an empty
 * /summary. */
qb_status h5r_create(const char *path, const H5Root *root);
/* The same, recording the plan: cells_total (cells the file is meant to hold) and resume_command (how to
 * complete it), which `show` prints for a partial file. */
qb_status h5r_create_plan(const char *path, const H5Root *root, int cells_total, const char *resume_command);

/* The commit: copies `path` to path.tmp, opens it, copies every object src_objs[i] of src_file (which may be
 * NULL when there is nothing to copy) to dst_paths[i] (skipped when it already exists), replaces /summary
 * with rows[0..n), closes, fsyncs and renames over `path`. The new file is built in memory and written by
 * h5r_fclose (a full disk fails cleanly). */
qb_status h5r_commit(const char *path, const char *src_file, const char *const *src_objs,
                     const char *const *dst_paths, int n_objs, const SummaryRow *rows, size_t n);

/* Drops the objects drop[0..n_drop) (damaged cells to recompute) in the same commit. */
qb_status h5r_commit_drop(const char *path, const char *src_file, const char *const *src_objs,
                          const char *const *dst_paths, int n_objs, const char *const *drop, int n_drop,
                          const SummaryRow *rows, size_t n);

/* Files written through memory: h5r_fcreate makes an in-memory HDF5 file (no disk access); h5r_fclose
 * closes it and writes its bytes to `path` with checked write(2)s (a full disk is an error naming the file
 * and "No space left on device", never a crash inside libhdf5). */
hid_t h5r_fcreate(void);
qb_status h5r_fclose(hid_t f, const char *path);

/* Reads every dataset under `obj` whole: QB_OK, or an error naming the first one whose Fletcher-32
 * checksum (or read) fails. */
qb_status h5r_check(hid_t file, const char *obj);

/* For `show`: flags (stderr) every ok cell whose data fails its checksum, an empty file, and a partial one
 * ("partial: 3 of 8 cells done — resume with: …", from the cells_total and resume_command attributes).
 * Returns 1 when the file is empty or a cell is damaged, else 0. */
int h5r_report_state(hid_t file, const char *path, const SummaryRow *rows, size_t n);

/* One writer per results file: an exclusive flock on PATH.lock holding the writer's pid. A second writer
 * gets "PATH is being written by pid N" (QB_ERR_INPUT). h5r_unlock removes the lock file. */
qb_status h5r_lock(const char *path, int *fd);
void h5r_unlock(const char *path, int fd);

/* The summary fields in file order: name, kind ('s' string, 'i' int64, 'd' double), offset, and the unit and
 * description the file carries for it in /summary_fields. */
typedef struct {
    const char *name;
    char kind;
    size_t offset, size;
    const char *units, *description;
} H5rField;
const H5rField *h5r_summary_fields(int *n);

/* The group name of a cell: "model__codec__kv" with characters other than [A-Za-z0-9_+=-] mapped to '_'. */
void h5r_cell_name(const char *model, const char *codec, const char *kv, char *buf, size_t n);


/* ---------------------------------------------------------------- one cell (names: results_schema.h) */

/* Writes dataset `id` of the schema under loc (a cell or model group; the name may hold one '/': its group
 * must exist) with the schema's units and description. */
qb_status h5r_write_rs(hid_t loc, rs_id id, hid_t type, int rank, const hsize_t *dims, const void *data);

/* Tensor groups of the memory arrays: attn, mlp, lm_head, embed, norms. */
#define H5R_MEM_GROUPS 5

/* What measure_memory returns: the loaded model's bytes at rest and parameters by tensor group. */
typedef struct {
    int64_t bytes[H5R_MEM_GROUPS], params[H5R_MEM_GROUPS];
    int64_t kv_bytes; /* the KV cache at ctx */
} CellMemory;

/* What measure_greedy returns (P prompts × T steps; heap arrays, cell_results_free frees them). */
typedef struct {
    int n_prompts, steps, batch; /* batch: prompts decoded together (the reference's) */
    int *tokens;                 /* [P, T] free-running greedy tokens */
    int *argmax;                 /* [P, T] teacher-forced argmax */
    int *first_div;              /* [P] first step differing from the reference (T when none) */
    double *match, *agree;       /* [P] fraction of steps equal to the reference, free-running / teacher-forced */
    double *survival;            /* [T] prompts identical to the reference through step t */
    size_t n_flips;              /* teacher-forced steps whose argmax differs from the reference token */
    int *flip_prompt, *flip_step;/* [n_flips] */
    float *flip_margin;          /* [n_flips] the reference's top-1 − top-2 logit there */
} CellGreedyResult;

/* What measure_ppl returns (N scored tokens in W windows; heap arrays). */
typedef struct {
    int n_windows;
    int64_t n_tokens;
    double *nll, *kl, *dp;        /* [N] the codec's nll, KL(P_ref‖P_codec), P_codec − P_ref of the ref's top */
    int8_t *same;                 /* [N] 1 when the argmaxes agree */
    double *wnll, *wref, *wkl, *wcnt; /* [W] sums of the codec's nll, the reference's nll, KL; scored tokens */
    int64_t *wcnt64;              /* [W] wcnt as integers (the stored form) */
} CellPplResult;

/* What measure_speed returns (R repeats; heap arrays). */
typedef struct {
    int repeats, prompt_tokens, decode_tokens, threads;
    double *prefill_s, *decode_s; /* [R] wall seconds */
} CellSpeedResult;

/* Everything one cell stores. Strings are borrowed; a NULL section (has_* 0) is not written. */
typedef struct {
    const char *model, *codec, *codec_canonical, *kv;
    int64_t cell_index;
    CellMemory memory;
    int has_greedy, has_ppl, has_speed;
    CellGreedyResult greedy;
    CellPplResult ppl;
    CellSpeedResult speed;
} CellResults;

/* Frees the arrays of r's sections (not the borrowed strings) and zeroes them. */
void cell_results_free(CellResults *r);

/* The only writer of a cell: creates group `path` in `file` and writes r into it (attributes, then the
 * memory, greedy, tf, ppl and speed groups as present), every name from results_schema.h. */
qb_status h5r_write_cell(hid_t file, const char *path, const CellResults *r);

#endif
