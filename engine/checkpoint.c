/* checkpoint.c — opens a Hugging Face checkpoint directory as published on the hub: either one
 * model.safetensors, or model-0000K-of-0000N.safetensors shards listed by model.safetensors.index.json. */
#include "checkpoint.h"

#include "config.h"

#include "qb_json.h"

#include <stdlib.h>
#include <string.h>

#define INDEX_MAX_BYTES (64u << 20)

/* A shard name from the index must be a plain file name inside the directory. */
static int safe_file_name(const char *s) {
    if (!*s || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    return 1;
}

static qb_status open_file(Checkpoint *ck, const char *name, int *index_out) {
    for (int i = 0; i < ck->n_files; i++)
        if (!strcmp(ck->file_names[i], name)) {
            *index_out = i;
            return QB_OK;
        }
    char *path = qb_path_join(ck->dir, name);
    if (!path) return QB_ERR_NOMEM;
    st_file *files = realloc(ck->files, (size_t)(ck->n_files + 1) * sizeof *files);
    char **names = realloc(ck->file_names, (size_t)(ck->n_files + 1) * sizeof *names);
    if (files) ck->files = files;
    if (names) ck->file_names = names;
    char *dup = strdup(name);
    if (!files || !names || !dup) {
        free(path);
        free(dup);
        return qb_errorf(QB_ERR_NOMEM, "out of memory opening %s", name);
    }
    qb_status st = st_open(path, &ck->files[ck->n_files]);
    free(path);
    if (st) {
        free(dup);
        return st;
    }
    ck->file_names[ck->n_files] = dup;
    *index_out = ck->n_files++;
    return QB_OK;
}

static qb_status read_index(Checkpoint *ck, const char *index_path) {
    char *json = NULL;
    size_t len = 0;
    qb_status st = qb_read_file(index_path, &json, &len, INDEX_MAX_BYTES);
    if (st) return st;
    cJSON *root = NULL;
    st = qb_json_parse(index_path, json, len, &root); /* refuses duplicate keys, naming them */
    free(json);
    if (st) return st;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qb_errorf(QB_ERR_INPUT, "%s: not a JSON object", index_path);
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!wm || !cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return qb_errorf(QB_ERR_INPUT, "%s: missing \"weight_map\" object", index_path);
    }
    int n = cJSON_GetArraySize(wm);
    ck->map_names = calloc((size_t)n + 1, sizeof(char *));
    ck->map_file = calloc((size_t)n + 1, sizeof(int));
    if (!ck->map_names || !ck->map_file) {
        cJSON_Delete(root);
        return qb_errorf(QB_ERR_NOMEM, "out of memory reading %s", index_path);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e) || !safe_file_name(e->valuestring)) {
            st = qb_errorf(QB_ERR_INPUT, "%s: weight_map entry \"%s\" must name a file in the directory", index_path,
                           e->string);
            break;
        }
        int fi;
        if ((st = open_file(ck, e->valuestring, &fi))) break;
        ck->map_names[ck->n_map] = strdup(e->string);
        if (!ck->map_names[ck->n_map]) {
            st = qb_errorf(QB_ERR_NOMEM, "out of memory reading %s", index_path);
            break;
        }
        ck->map_file[ck->n_map++] = fi;
        if (!st_find(&ck->files[fi], e->string)) {
            st = qb_errorf(QB_ERR_INPUT, "%s: tensor %s is mapped to %s, which does not hold it", index_path,
                           e->string, e->valuestring);
            break;
        }
    }
    cJSON_Delete(root);
    return st;
}

qb_status ckpt_open(const char *dir, Checkpoint *ck) {
    memset(ck, 0, sizeof *ck);
    if (!qb_dir_exists(dir)) return qb_errorf(QB_ERR_INPUT, "%s: model directory does not exist", dir);
    ck->dir = strdup(dir);
    if (!ck->dir) return qb_errorf(QB_ERR_NOMEM, "out of memory");
    char *index = qb_path_join(dir, "model.safetensors.index.json");
    char *single = qb_path_join(dir, "model.safetensors");
    qb_status st = QB_OK;
    if (!index || !single) {
        st = QB_ERR_NOMEM;
    } else if (qb_file_exists(single)) { /* transformers' order: the single file first, then the index */
        int fi;
        st = open_file(ck, "model.safetensors", &fi);
    } else if (qb_file_exists(index)) {
        st = read_index(ck, index);
    } else {
        st = qb_errorf(QB_ERR_INPUT, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    free(index);
    free(single);
    if (st) ckpt_close(ck);
    return st;
}

void ckpt_close(Checkpoint *ck) {
    for (int i = 0; i < ck->n_files; i++) {
        st_close(&ck->files[i]);
        free(ck->file_names[i]);
    }
    for (int i = 0; i < ck->n_map; i++) free(ck->map_names[i]);
    free(ck->files);
    free(ck->file_names);
    free(ck->map_names);
    free(ck->map_file);
    free(ck->dir);
    memset(ck, 0, sizeof *ck);
}

const st_tensor *ckpt_find(const Checkpoint *ck, const char *name, const st_file **file) {
    if (ck->n_map > 0) {
        for (int i = 0; i < ck->n_map; i++)
            if (!strcmp(ck->map_names[i], name)) {
                const st_file *f = &ck->files[ck->map_file[i]];
                if (file) *file = f;
                return st_find(f, name);
            }
        return NULL;
    }
    for (int i = 0; i < ck->n_files; i++) {
        const st_tensor *t = st_find(&ck->files[i], name);
        if (t) {
            if (file) *file = &ck->files[i];
            return t;
        }
    }
    return NULL;
}

uint64_t ckpt_data_bytes(const Checkpoint *ck) {
    uint64_t total = 0;
    for (int i = 0; i < ck->n_files; i++)
        for (int k = 0; k < ck->files[i].n_tensors; k++) total += ck->files[i].tensors[k].nbytes;
    return total;
}

/* 1 when the model reads tensor `name` under config c (see ckpt_check_unused). */
static int tensor_used(const char *name, const Config *c) {
    static const char *const top[] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
    static const char *const per_layer[] = {"input_layernorm.weight",          "self_attn.qkv_proj.weight",
                                            "self_attn.o_proj.weight",         "post_attention_layernorm.weight",
                                            "mlp.gate_up_proj.weight",         "mlp.down_proj.weight",
                                            "self_attn.rotary_emb.inv_freq"};
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
        if (!strcmp(name, top[i])) return 1;
    const char *p = "model.layers.";
    if (strncmp(name, p, strlen(p))) return 0;
    const char *s = name + strlen(p);
    long l = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 9; s++, digits++) l = l * 10 + (*s - '0');
    if (!digits || *s != '.' || l >= c->n_layers || (digits > 1 && s[-digits] == '0')) return 0;
    for (size_t i = 0; i < sizeof per_layer / sizeof *per_layer; i++)
        if (!strcmp(s + 1, per_layer[i])) return 1;
    return 0;
}

qb_status ckpt_check_unused(const Checkpoint *ck, const Config *c) {
    const char *first = NULL;
    long n = 0;
    for (int i = 0; i < ck->n_files; i++)
        for (int k = 0; k < ck->files[i].n_tensors; k++)
            if (!tensor_used(ck->files[i].tensors[k].name, c)) {
                if (!first) first = ck->files[i].tensors[k].name;
                n++;
            }
    if (!n) return QB_OK;
    return qb_errorf(QB_ERR_INPUT,
                     "%s: the checkpoint holds %ld tensor%s the config does not use (first: %s; config.json has "
                     "num_hidden_layers = %d): the config does not describe these weights", ck->dir, n,
                     n == 1 ? "" : "s", first, c->n_layers);
}
