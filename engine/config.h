/* config.h — a Phi-3 family model's hyperparameters, read from a Hugging Face config.json (and
 * generation_config.json for the eos ids). Anything we do not implement is an error, never a guess. */
#ifndef QB_CONFIG_H
#define QB_CONFIG_H

#include "util.h"

#define QB_MAX_EOS 16

typedef struct Config {
    int hidden;            /* hidden_size */
    int intermediate;      /* intermediate_size */
    int n_layers;          /* num_hidden_layers */
    int n_heads;           /* num_attention_heads */
    int n_kv_heads;        /* num_key_value_heads (default n_heads) */
    int head_dim;          /* head_dim (default hidden / n_heads) */
    int vocab;             /* vocab_size */
    float rms_eps;         /* rms_norm_eps */
    double rope_theta;     /* rope_theta */
    int max_pos;           /* max_position_embeddings */
    int orig_max_pos;      /* original_max_position_embeddings (0 if absent) */
    double partial_rotary; /* partial_rotary_factor (default 1) */
    int rotary_dim;        /* head_dim × partial_rotary, even */
    int longrope;          /* 1 when rope_scaling is longrope */
    float *short_factor;   /* [rotary_dim/2] (longrope only; owned) */
    float *long_factor;    /* [rotary_dim/2] */
    double attention_factor; /* multiplies cos and sin (1 without longrope) */
    int sliding_window;    /* 0 = none */
    int tie_embeddings;    /* tie_word_embeddings */
    int bos_id;            /* -1 if absent */
    int eos_ids[QB_MAX_EOS]; /* union of config.json and generation_config.json eos ids */
    int n_eos;
    char torch_dtype[16];  /* informational */
} Config;

/* Reads dir/config.json and, if present, dir/generation_config.json. */
qb_status config_load(const char *dir, Config *c);
/* Parses config.json text (path is used in error messages only). */
qb_status config_parse(const char *path, const char *json, Config *c);
void config_free(Config *c);
int config_is_eos(const Config *c, int id);

#endif
