/* expconfig.h — an experiment config (one JSON file describes a whole sweep: models × codecs × KV modes, and
 * the greedy / perplexity / speed workloads), parsed strictly with cJSON: an unknown key or a wrong type is
 * an error naming its key path ("greedy.steps: expected an integer"). */
#ifndef QB_EXPCONFIG_H
#define QB_EXPCONFIG_H

#include <stdint.h>
#include "codec.h"
#include "model.h"
#include "util.h"

typedef struct {
    char *label; /* short name used in results ("austen-toy") */
    char *path;  /* checkpoint directory, relative to the working directory (the repo root) */
} ExpModel;

/* One greedy prompt as written in the config: text, or token ids (for models without a tokenizer). */
typedef struct {
    char *text;  /* NULL when ids */
    int *ids;
    int n_ids;
} ExpPrompt;

typedef struct {
    char *name;
    char *text;          /* the config file's full text (stored in results; resume and merge compare it) */
    ExpModel *models;
    int n_models;
    /* Codecs and KV modes: each entry as written (its label in the results: the summary's codec and kv
     * columns and the cell names, so changing it would change every results file) and parsed once, here (a
     * bad entry is an error naming the config file and the entry). Everything but labels uses the parsed
     * form; canonical text comes from codec_spec_format. */
    char *reference;     /* the reference entry as written (default "fp32") */
    CodecSpec reference_spec;
    char **codecs;       /* [n_codecs] entries as written */
    CodecSpec *codec_specs; /* [n_codecs] parsed */
    int n_codecs;
    char **kv;           /* [n_kv] KV modes as written (default ["f32"]) */
    kv_mode *kv_modes;   /* [n_kv] parsed */
    int n_kv;
    /* greedy */
    int has_greedy;
    ExpPrompt *prompts;  /* after `count` is applied */
    int n_prompts;
    int steps;
    /* perplexity */
    int has_ppl;
    char *corpus;        /* text file, or NULL */
    char *corpus_ids;    /* whitespace-separated ids file, or NULL */
    int window, stride;
    long max_tokens;     /* 0 = whole corpus */
    int corpus_lines;    /* documents "lines": each non-empty line is one <s> … </s> document */
    /* speed */
    int has_speed;
    int speed_prompt_tokens, speed_decode_tokens, speed_repeats;
    int threads;         /* 0 = all cores */
    uint64_t seed;
    int ctx;             /* KV length; 0 = the smallest the workloads need */
    int bootstrap;       /* bootstrap resamples (default 1000) */
} ExpConfig;

/* Reads and validates a config file. Paths inside are taken as given (relative to the working directory);
 * prompts_file is read here, so `prompts` is always filled. */
qb_status exp_config_load(const char *path, ExpConfig *cfg);
/* Same, from text (path names the source in error messages; relative prompts_file paths are opened as is). */
qb_status exp_config_parse(const char *path, const char *text, ExpConfig *cfg);
void exp_config_free(ExpConfig *cfg);

/* Parses whitespace- and/or comma-separated non-negative ids (for id prompts and corpus_ids files).
 * Returns 0 with *ids heap-allocated, or -1 if any item is not an integer in [0, max_id]. */
int exp_parse_ids(const char *s, long long max_id, int **ids, int *n);

#endif
