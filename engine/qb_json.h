/* qb_json.h — the one set of JSON helpers every parser of outside JSON uses (config.json, the shard index,
 * tokenizer.json, experiment configs, gate thresholds): strict parsing with duplicate-key detection in
 * O(n log n), typed getters with range checks, unknown-key detection. Messages have the form
 * `file: key.path: what is wrong`.
 *
 * Why strict: Python's json keeps the last of duplicated keys and cJSON the first, so a file with a key
 * twice means different things to transformers and to us — refuse rather than guess. Why range checks
 * before any conversion: casting a double such as 1e19 to an integer type is undefined behaviour. */
#ifndef QB_JSON_H
#define QB_JSON_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "util.h"

/* Parses len bytes of text into *out (free with cJSON_Delete). Refuses a NUL byte, anything but whitespace
 * after the value, and a key that appears twice in one object anywhere in the tree. */
qb_status qb_json_parse(const char *file, const char *text, size_t len, cJSON **out);
/* The duplicate-key check alone: each object's keys are sorted and neighbours compared. */
qb_status qb_json_check_duplicates(const char *file, const cJSON *root);
/* Key comparisons made by the duplicate check in this thread so far (tests bound it by c · n log2 n). */
uint64_t qb_json_key_compares(void);

/* "where.key" (or "key" when where is empty) into buf; returns buf. */
const char *qb_json_path(char *buf, size_t size, const char *where, const char *key);
/* The first key of obj not in the NULL-terminated list `allowed`, or NULL. */
const char *qb_json_unknown_key(const cJSON *obj, const char *const *allowed);
/* Refuses a key not in `allowed`: "file: where.key: unknown key". */
qb_status qb_json_check_keys(const char *file, const char *where, const cJSON *obj, const char *const *allowed);

/* 1 and *out set when v is an integer number inside [lo, hi] (checked as a double before any cast), else 0;
 * sets no message (for callers that word their own). */
int qb_json_is_int(const cJSON *v, long long lo, long long hi, long long *out);

/* Value conversions; `path` names the value in messages ("greedy.steps", "codecs[2]").
 * An integer must be a number with no fraction inside [lo, hi]; it is range-checked as a double first. */
qb_status qb_json_as_int(const char *file, const char *path, const cJSON *v, long long lo, long long hi,
                         long long *out);
qb_status qb_json_as_num(const char *file, const char *path, const cJSON *v, double lo, double hi, double *out);
qb_status qb_json_as_bool(const char *file, const char *path, const cJSON *v, int *out);
/* *out points into the tree. */
qb_status qb_json_as_str(const char *file, const char *path, const cJSON *v, const char **out);

/* Keyed getters on an object (`where` is its path). An absent key or a null value: an error
 * "file: where.key: missing" when required, else QB_OK with *present = 0 and *out untouched.
 * present may be NULL. */
qb_status qb_json_int(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                      long long lo, long long hi, long long *out, int *present);
/* The same into an int (lo, hi must lie inside int's range). */
qb_status qb_json_int32(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                        int lo, int hi, int *out, int *present);
qb_status qb_json_num(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                      double lo, double hi, double *out, int *present);
qb_status qb_json_bool(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                       int *out, int *present);
qb_status qb_json_str(const char *file, const char *where, const cJSON *obj, const char *key, int required,
                      const char **out, int *present);

#endif
