/* config.c — reads a Phi-3 family config.json (+ generation_config.json) into a Config.
 *
 * Follows transformers' Phi3Config: defaults where transformers has them (num_key_value_heads = heads,
 * head_dim = hidden / heads, partial_rotary_factor = 1), and LongRoPE parameters from `rope_scaling` or its
 * newer name `rope_parameters` (which may also carry rope_theta, partial_rotary_factor and
 * original_max_position_embeddings). Anything we do not implement is an error naming the key. */
#include "config.h"

#include "qb_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (16u << 20)

/* Field getters over qb_json: 1 read, 0 absent (optional), -1 error (*st set). `where` is the object's
 * key path ("" for the root). */
static int get_int(const char *path, const char *where, const cJSON *obj, const char *key, int required, int lo,
                   int hi, int *out, qb_status *st) {
    int present = 0;
    if ((*st = qb_json_int32(path, where, obj, key, required, lo, hi, out, &present))) return -1;
    return present;
}

static int get_num(const char *path, const char *where, const cJSON *obj, const char *key, int required, double lo,
                   double hi, double *out, qb_status *st) {
    int present = 0;
    if ((*st = qb_json_num(path, where, obj, key, required, lo, hi, out, &present))) return -1;
    return present;
}

static int get_bool(const char *path, const cJSON *obj, const char *key, int *out, qb_status *st) {
    int present = 0;
    if ((*st = qb_json_bool(path, "", obj, key, 0, out, &present))) return -1;
    return present;
}

/* eos_token_id: an int or a list of ints; merged (deduplicated) into c->eos_ids. */
static qb_status add_eos(const char *path, const cJSON *obj, Config *c) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "eos_token_id");
    if (!v || cJSON_IsNull(v)) return QB_OK;
    const cJSON *items[QB_MAX_EOS];
    int n = 0;
    if (cJSON_IsNumber(v)) {
        items[n++] = v;
    } else if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (n == QB_MAX_EOS) return qb_errorf(QB_ERR_INPUT, "%s: more than %d eos ids", path, QB_MAX_EOS);
            items[n++] = e;
        }
    } else {
        return qb_errorf(QB_ERR_INPUT, "%s: field \"eos_token_id\" must be an integer or a list of integers", path);
    }
    for (int i = 0; i < n; i++) {
        long long x;
        qb_status st = qb_json_as_int(path, "eos_token_id", items[i], 0, 1000000000, &x);
        if (st) return st;
        int id = (int)x, seen = 0;
        for (int k = 0; k < c->n_eos; k++) seen |= c->eos_ids[k] == id;
        if (!seen) {
            if (c->n_eos == QB_MAX_EOS) return qb_errorf(QB_ERR_INPUT, "%s: more than %d eos ids", path, QB_MAX_EOS);
            c->eos_ids[c->n_eos++] = id;
        }
    }
    return QB_OK;
}

/* bos and eos ids must name rows of the embedding: an eos outside the vocabulary would never stop a
 * generation (and a bos would index past the table). */
static qb_status check_ids(const char *path, const Config *c) {
    if (c->bos_id >= c->vocab)
        return qb_errorf(QB_ERR_INPUT, "%s: bos_token_id: %d is outside the vocabulary (vocab_size %d)", path, c->bos_id,
                         c->vocab);
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] >= c->vocab)
            return qb_errorf(QB_ERR_INPUT, "%s: eos_token_id: %d is outside the vocabulary (vocab_size %d)", path,
                             c->eos_ids[i], c->vocab);
    return QB_OK;
}

static qb_status get_factor_list(const char *path, const cJSON *rs, const char *key, int n, float **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rs, key);
    if (!v || !cJSON_IsArray(v))
        return qb_errorf(QB_ERR_INPUT, "%s: rope_scaling.%s must be a list of numbers", path, key);
    if (cJSON_GetArraySize(v) != n)
        return qb_errorf(QB_ERR_INPUT, "%s: rope_scaling.%s has %d entries, expected rotary_dim/2 = %d", path, key,
                         cJSON_GetArraySize(v), n);
    float *f = qb_malloc((size_t)n * sizeof(float), key);
    if (!f) return QB_ERR_NOMEM;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || e->valuedouble <= 0) {
            free(f);
            return qb_errorf(QB_ERR_INPUT, "%s: rope_scaling.%s[%d] must be a positive number", path, key, i);
        }
        f[i++] = (float)e->valuedouble;
    }
    *out = f;
    return QB_OK;
}

qb_status config_parse(const char *path, const char *json, Config *c) {
    memset(c, 0, sizeof *c);
    c->bos_id = -1;
    qb_status st = QB_OK;
    cJSON *root = NULL;
    /* duplicated keys are refused here (Python's json keeps the last, cJSON the first) */
    if ((st = qb_json_parse(path, json, strlen(json), &root))) return st;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qb_errorf(QB_ERR_INPUT, "%s: not a JSON object", path);
    }
    const int BIG = 1 << 24;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && !(cJSON_IsString(mt) && !strcmp(mt->valuestring, "phi3"))) {
        st = qb_errorf(QB_ERR_UNSUPPORTED, "%s: model_type %s%s%s is not supported (phi3 only)", path,
                       cJSON_IsString(mt) ? "\"" : "", cJSON_IsString(mt) ? mt->valuestring : "(not a string)",
                       cJSON_IsString(mt) ? "\"" : "");
        goto done;
    }
    if (get_int(path, "", root, "hidden_size", 1, 1, BIG, &c->hidden, &st) < 0 ||
        get_int(path, "", root, "intermediate_size", 1, 1, BIG, &c->intermediate, &st) < 0 ||
        get_int(path, "", root, "num_hidden_layers", 1, 1, 4096, &c->n_layers, &st) < 0 ||
        get_int(path, "", root, "num_attention_heads", 1, 1, 65536, &c->n_heads, &st) < 0 ||
        get_int(path, "", root, "vocab_size", 1, 1, BIG, &c->vocab, &st) < 0 ||
        get_int(path, "", root, "max_position_embeddings", 1, 1, 1 << 30, &c->max_pos, &st) < 0)
        goto done;
    c->n_kv_heads = c->n_heads;
    if (get_int(path, "", root, "num_key_value_heads", 0, 1, 65536, &c->n_kv_heads, &st) < 0) goto done;
    double eps = 1e-5, theta = 10000.0, prf = 1.0;
    if (get_num(path, "", root, "rms_norm_eps", 0, 0.0, 1.0, &eps, &st) < 0) goto done;
    c->rms_eps = (float)eps;
    const cJSON *hact = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (hact && !(cJSON_IsString(hact) && !strcmp(hact->valuestring, "silu"))) {
        st = qb_errorf(QB_ERR_UNSUPPORTED, "%s: hidden_act %s is not supported (silu only)", path,
                       cJSON_IsString(hact) ? hact->valuestring : "(not a string)");
        goto done;
    }
    /* attention_bias: Phi-3's projections have no bias whatever the config says (transformers ignores it) */

    /* LongRoPE and RoPE parameters: top-level keys, possibly overridden by the newer rope_parameters /
     * rope_scaling object. */
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) rs = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (rs && (cJSON_IsNull(rs) || (cJSON_IsObject(rs) && !rs->child))) rs = NULL; /* {} = none */
    if (rs && !cJSON_IsObject(rs)) {
        st = qb_errorf(QB_ERR_INPUT, "%s: rope_scaling must be an object or null", path);
        goto done;
    }
    /* rope_theta, partial_rotary_factor and original_max_position_embeddings may stand at the top level,
     * inside the rope object (newer transformers write them there too), or both. transformers takes the
     * top-level value; two different values are refused rather than guessed between. */
    {
        static const struct {
            const char *key;
            double lo, hi, def;
        } keys[3] = {{"rope_theta", 1e-6, 1e30, 10000.0},
                     {"partial_rotary_factor", 1e-6, 1.0, 1.0},
                     {"original_max_position_embeddings", 1, 1 << 30, 4096.0}};
        double val[3];
        for (int k = 0; k < 3; k++) {
            double top = 0, in = 0;
            int has_top = get_num(path, "", root, keys[k].key, 0, keys[k].lo, keys[k].hi, &top, &st);
            int has_in = rs ? get_num(path, "rope_scaling", rs, keys[k].key, 0, keys[k].lo, keys[k].hi, &in, &st) : 0;
            if (has_top < 0 || has_in < 0) goto done;
            if (has_top && has_in && top != in) {
                st = qb_errorf(QB_ERR_INPUT, "%s: %s is %.17g at the top level but %.17g inside rope_scaling", path,
                               keys[k].key, top, in);
                goto done;
            }
            /* absent everywhere: Phi3Config's defaults (original_max_position_embeddings 4096) */
            val[k] = has_top ? top : has_in ? in : keys[k].def;
        }
        theta = val[0];
        prf = val[1];
        if (val[2] != floor(val[2])) {
            st = qb_errorf(QB_ERR_INPUT, "%s: original_max_position_embeddings must be an integer", path);
            goto done;
        }
        c->orig_max_pos = (int)val[2];
    }
    c->rope_theta = theta;
    c->partial_rotary = prf;

    c->head_dim = 0;
    if (get_int(path, "", root, "head_dim", 0, 1, 65536, &c->head_dim, &st) < 0) goto done;
    if (c->head_dim == 0) {
        if (c->hidden % c->n_heads != 0) {
            st = qb_errorf(QB_ERR_INPUT, "%s: hidden_size %d is not divisible by num_attention_heads %d", path,
                           c->hidden, c->n_heads);
            goto done;
        }
        c->head_dim = c->hidden / c->n_heads;
    }
    if (c->n_heads % c->n_kv_heads != 0) {
        st = qb_errorf(QB_ERR_INPUT, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path,
                       c->n_heads, c->n_kv_heads);
        goto done;
    }
    /* transformers: int(head_dim * partial_rotary_factor) */
    c->rotary_dim = (int)((double)c->head_dim * prf);
    if (c->rotary_dim < 2 || c->rotary_dim % 2 != 0) {
        st = qb_errorf(QB_ERR_INPUT, "%s: rotary dimension head_dim × partial_rotary_factor = %d must be even and ≥ 2",
                       path, c->rotary_dim);
        goto done;
    }

    c->attention_factor = 1.0;
    if (rs) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!type) type = cJSON_GetObjectItemCaseSensitive(rs, "type");
        if (!type || !cJSON_IsString(type)) {
            st = qb_errorf(QB_ERR_INPUT, "%s: rope_scaling has no \"type\" or \"rope_type\" string", path);
            goto done;
        }
        if (!strcmp(type->valuestring, "longrope") || !strcmp(type->valuestring, "su")) { /* "su": its old name */
            c->longrope = 1;
            if ((st = get_factor_list(path, rs, "short_factor", c->rotary_dim / 2, &c->short_factor)) ||
                (st = get_factor_list(path, rs, "long_factor", c->rotary_dim / 2, &c->long_factor)))
                goto done;
            double af = 0;
            int has_af = get_num(path, "rope_scaling", rs, "attention_factor", 0, 1e-6, 1e6, &af, &st);
            if (has_af < 0) goto done;
            if (has_af) {
                c->attention_factor = af;
            } else {
                /* transformers 5 takes rope_scaling.factor when given, else max / original_max */
                double factor = (double)c->max_pos / (double)c->orig_max_pos;
                int has_factor = get_num(path, "rope_scaling", rs, "factor", 0, 1e-6, 1e9, &factor, &st);
                if (has_factor < 0) goto done;
                c->attention_factor = factor <= 1.0 ? 1.0 : sqrt(1.0 + log(factor) / log((double)c->orig_max_pos));
            }
        } else if (!strcmp(type->valuestring, "default")) {
            /* plain RoPE written explicitly by newer transformers */
        } else {
            st = qb_errorf(QB_ERR_UNSUPPORTED, "%s: rope type \"%s\" is not supported (longrope or none)", path,
                           type->valuestring);
            goto done;
        }
    }

    int sw = 0;
    if (get_int(path, "", root, "sliding_window", 0, 1, 1 << 30, &sw, &st) < 0) goto done;
    c->sliding_window = sw;
    c->tie_embeddings = 0;
    if (get_bool(path, root, "tie_word_embeddings", &c->tie_embeddings, &st) < 0) goto done;
    if (get_int(path, "", root, "bos_token_id", 0, 0, BIG, &c->bos_id, &st) < 0) goto done;
    if ((st = add_eos(path, root, c))) goto done;
    if ((st = check_ids(path, c))) goto done;
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    if (!td) td = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if (td && cJSON_IsString(td)) snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", td->valuestring);
done:
    cJSON_Delete(root);
    if (st) config_free(c);
    return st;
}

qb_status config_load(const char *dir, Config *c) {
    memset(c, 0, sizeof *c);
    if (!qb_dir_exists(dir)) return qb_errorf(QB_ERR_INPUT, "%s: model directory does not exist", dir);
    char *path = qb_path_join(dir, "config.json");
    if (!path) return QB_ERR_NOMEM;
    char *json = NULL;
    qb_status st = qb_read_file(path, &json, NULL, CONFIG_MAX_BYTES);
    if (!st) st = config_parse(path, json, c);
    free(json);
    free(path);
    if (st) return st;

    /* generation_config.json: its eos ids (Phi-3.5 lists three) join the config's. */
    path = qb_path_join(dir, "generation_config.json");
    if (!path) {
        config_free(c);
        return QB_ERR_NOMEM;
    }
    if (qb_file_exists(path)) {
        st = qb_read_file(path, &json, NULL, CONFIG_MAX_BYTES);
        if (!st) {
            cJSON *g = NULL;
            st = qb_json_parse(path, json, strlen(json), &g);
            if (!st && !cJSON_IsObject(g)) st = qb_errorf(QB_ERR_INPUT, "%s: not a JSON object", path);
            if (!st) st = add_eos(path, g, c);
            if (!st) st = check_ids(path, c);
            cJSON_Delete(g);
            free(json);
        }
    }
    free(path);
    if (st) config_free(c);
    return st;
}

void config_free(Config *c) {
    free(c->short_factor);
    free(c->long_factor);
    c->short_factor = c->long_factor = NULL;
}

int config_is_eos(const Config *c, int id) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == id) return 1;
    return 0;
}
