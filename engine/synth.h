/* synth.h — writes a synthetic Phi-3 checkpoint directory (config.json, generation_config.json, sharded
 * safetensors + index, optional tokenizer.json) with random weights initialised the way transformers
 * initialises Phi3ForCausalLM: every Linear and the embedding normal(0, initializer_range) (the embedding's
 * padding row zero), every RMSNorm weight 1. Deterministic: the same options give byte-identical files. */
#ifndef QB_SYNTH_H
#define QB_SYNTH_H

#include <stdint.h>
#include "safetensors.h"
#include "util.h"

#define SYNTH_MAX_EOS 4

/* The hyperparameters of a preset (what config.json will say). */
typedef struct {
    const char *name;          /* "toy", "phi3.5-mini" */
    const char *name_or_path;  /* "_name_or_path" in config.json */
    int hidden, intermediate, n_layers, n_heads, n_kv_heads, vocab;
    int max_pos, orig_max_pos, sliding_window;
    double rope_theta, rms_eps, init_range;
    int bos, eos, pad;               /* config.json's ids */
    int gen_eos[SYNTH_MAX_EOS];      /* generation_config.json's eos_token_id (a list when n_gen_eos > 1) */
    int n_gen_eos;
    const double *short_factor;      /* [head_dim/2] */
    const double *long_factor;
} synth_preset;

typedef struct {
    const char *preset;     /* preset name (required) */
    const char *out_dir;    /* created if missing (required) */
    int layers;             /* 0 = the preset's layer count */
    st_dtype dtype;         /* ST_BF16, ST_F16 or ST_F32 */
    uint64_t seed;
    uint64_t shard_size;    /* max bytes of tensor data per shard; 0 = SYNTH_DEFAULT_SHARD */
    const char *tokenizer;  /* tokenizer.json to copy in, or NULL */
    int force;              /* write into a non-empty directory (removing old model files) */
    int quiet;              /* no progress lines on stderr */
    int config_only;        /* config.json + generation_config.json (+ tokenizer) only, no weights */
} synth_options;

#define SYNTH_DEFAULT_SHARD 4000000000ull /* "4GB" as transformers spells sizes: decimal */

/* What was written (for the command's summary line). */
typedef struct {
    int n_tensors;
    int n_shards;
    uint64_t total_bytes;   /* tensor data bytes (the index's metadata.total_size) */
    uint64_t n_params;
} synth_result;

const synth_preset *synth_find_preset(const char *name);
/* Comma-separated preset names, for usage text. */
const char *synth_preset_names(void);
qb_status synth_write(const synth_options *o, synth_result *res);

#endif
