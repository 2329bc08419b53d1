/* checkpoint.h — a Hugging Face checkpoint directory: model.safetensors, or the shards named by
 * model.safetensors.index.json. Finds tensors by name across shards. */
#ifndef QB_CHECKPOINT_H
#define QB_CHECKPOINT_H

#include "safetensors.h"
#include "util.h"

typedef struct {
    char *dir;
    st_file *files;   /* opened shards (or the single file) */
    char **file_names;
    int n_files;
    /* from the index: tensor name → shard number (parallel arrays), n_map = 0 without an index */
    char **map_names;
    int *map_file;
    int n_map;
} Checkpoint;

qb_status ckpt_open(const char *dir, Checkpoint *ck);
void ckpt_close(Checkpoint *ck);
/* Finds a tensor. Absent → NULL and, when `path_out` is set, the file it should have been in. */
const st_tensor *ckpt_find(const Checkpoint *ck, const char *name, const st_file **file);
/* Every tensor of the checkpoint must be one the model reads for config c: the embedding, the final norm,
 * lm_head (ignored but allowed when embeddings are tied) and the six tensors of each layer below
 * num_hidden_layers. Anything else — typically layers past num_hidden_layers, i.e. a config that does not
 * describe this file — is an error (QB_ERR_INPUT) naming the count and the first such tensor: benchmarking
 * a silently truncated model would measure something else than the file. The one exception is the
 * rotary_emb.inv_freq buffer old transformers versions saved (recomputed from the config). */
struct Config;
qb_status ckpt_check_unused(const Checkpoint *ck, const struct Config *c);
/* Total bytes of tensor data over all files. */
uint64_t ckpt_data_bytes(const Checkpoint *ck);

#endif
