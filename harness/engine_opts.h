/* engine_opts.h — the options every model-running command shares (--model, --codec, --kv, --threads,
 * --ctx, --rope-crossing), parsed in one place so they mean the same everywhere. */
#ifndef QB_ENGINE_OPTS_H
#define QB_ENGINE_OPTS_H

#include "model.h"

typedef struct {
    const char *model; /* --model DIR */
    ModelOptions mo;
} EngineArgs;

/* getopt_long entries; their short codes are 0x1000+ so they never clash with a command's own. */
enum { EO_MODEL = 0x1000, EO_CODEC, EO_KV, EO_THREADS, EO_CTX, EO_ROPE };
#define ENGINE_LONGOPTS                                                                                       \
    {"model", required_argument, 0, EO_MODEL}, {"codec", required_argument, 0, EO_CODEC},                     \
        {"kv", required_argument, 0, EO_KV}, {"threads", required_argument, 0, EO_THREADS},                   \
        {"ctx", required_argument, 0, EO_CTX}, {"rope-crossing", required_argument, 0, EO_ROPE}

#define ENGINE_USAGE                                                                                          \
    "  --model DIR        Hugging Face checkpoint directory (config.json + safetensors)\n"                  \
    "  --codec SPEC       weight codec: NAME[:OPTION=VALUE,...], default fp32; e.g. qins:scale=tensor,apply=attn+mlp\n" \
    "                     (`qinsbench codec --help` lists the codecs and their options)\n"                  \
    "  --kv MODE          KV cache: f32 (default), f16, qins-v\n"                                           \
    "  --threads N        threads (default: all cores)\n"                                                   \
    "  --ctx N            KV cache length in tokens (default: min(max_position_embeddings, 4096))\n"        \
    "  --rope-crossing M  keep (default: cached keys keep their rotation) | recompute (re-prefill at the\n"  \
    "                     original_max crossing, as transformers' generate() does)\n"

void engine_args_init(EngineArgs *ea);
/* Handles one getopt result if it is an engine option: returns 1 consumed, 0 not ours, 2 error (printed). */
int engine_opt(const char *cmd, int opt, const char *arg, EngineArgs *ea);

#endif
