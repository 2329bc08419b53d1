/* report_data.c — the read-side view of a results file shared by plot, report and gate (see report_data.h).
 * Attributes a report only quotes are optional (an empty string when absent) so a file from an older runner
 * still plots; /summary itself is required. */
#include "report_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *opt_attr(hid_t file, const char *obj, const char *name) {
    char *s = NULL;
    if (H5Aexists_by_name(file, obj, name, H5P_DEFAULT) > 0) {
        if (h5r_read_attr_str(file, obj, name, &s) == QB_OK) return s;
    }
    qb_error_clear();
    return strdup("");
}

qb_status rd_open(const char *path, RdFile *f) {
    memset(f, 0, sizeof *f);
    f->file = -1;
    h5r_quiet();
    qb_status st = h5r_open(path, &f->file);
    if (st) return st;
    f->path = strdup(path);
    if (H5Lexists(f->file, rs_name(RS_SUMMARY), H5P_DEFAULT) <= 0) {
        st = qb_errorf(QB_ERR_INPUT, "%s: no /summary table (not a qinsbench results file?)", path);
        goto fail;
    }
    if ((st = h5r_read_summary(f->file, &f->rows, &f->n))) {
        qb_error_prefix(path);
        goto fail;
    }
    f->config_name = opt_attr(f->file, "/", rs_name(RS_ROOT_CONFIG_NAME));
    f->config_path = opt_attr(f->file, "/", rs_name(RS_ROOT_CONFIG_PATH));
    f->config_text = opt_attr(f->file, "/", rs_name(RS_ROOT_CONFIG_TEXT));
    f->git_commit = opt_attr(f->file, "/", rs_name(RS_ROOT_GIT_COMMIT));
    f->compiler = opt_attr(f->file, "/", rs_name(RS_ROOT_COMPILER));
    f->cflags = opt_attr(f->file, "/", rs_name(RS_ROOT_CFLAGS));
    f->cpu_model = opt_attr(f->file, "/", rs_name(RS_ROOT_CPU_MODEL));
    f->start_time = opt_attr(f->file, "/", rs_name(RS_ROOT_START_TIME));
    f->qinsbench_version = opt_attr(f->file, "/", rs_name(RS_ROOT_QINSBENCH_VERSION));
    f->hdf5_version = opt_attr(f->file, "/", rs_name(RS_ROOT_HDF5_VERSION));
    /* Strings from the file end up in markdown tables and gnuplot strings: a NUL-terminated row is
     * guaranteed by h5r_read_summary's fixed-length types, but make sure of it once here. */
    for (size_t i = 0; i < f->n; i++) {
        SummaryRow *r = &f->rows[i];
        r->model[H5R_MODEL_LEN - 1] = r->codec[H5R_CODEC_LEN - 1] = r->kv[H5R_KV_LEN - 1] = 0;
        r->status[H5R_STATUS_LEN - 1] = 0;
    }
    return QB_OK;
fail:
    rd_close(f);
    return st;
}

void rd_close(RdFile *f) {
    if (f->file >= 0) H5Fclose(f->file);
    free(f->path);
    free(f->rows);
    char **strs[] = {&f->config_name, &f->config_path, &f->config_text, &f->git_commit, &f->compiler, &f->cflags,
                     &f->cpu_model, &f->start_time, &f->qinsbench_version, &f->hdf5_version};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) free(*strs[i]);
    memset(f, 0, sizeof *f);
    f->file = -1;
}

int rd_ok(const SummaryRow *r) { return !strcmp(r->status, "ok"); }

int rd_exists(const RdFile *f, const char *obj) {
    /* H5Lexists needs every intermediate link to exist: walk the path. */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", obj);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (H5Lexists(f->file, buf, H5P_DEFAULT) <= 0) return 0;
            *p = '/';
        }
    return H5Lexists(f->file, buf, H5P_DEFAULT) > 0;
}

qb_status rd_cell(const RdFile *f, const SummaryRow *r, const char *name, hid_t type, void **out, size_t *n) {
    char cell[512], path[1024];
    h5r_cell_name(r->model, r->codec, r->kv, cell, sizeof cell);
    snprintf(path, sizeof path, "%s/%s/%s", rs_name(RS_CELLS), cell, name);
    *out = NULL;
    *n = 0;
    if (!rd_exists(f, path)) return qb_errorf(QB_ERR_INPUT, "%s: no dataset %s", f->path, path);
    qb_status st = h5r_read(f->file, path, type, out, n);
    if (st) qb_error_prefix(f->path);
    return st;
}

qb_status rd_model(const RdFile *f, const char *model, const char *name, hid_t type, void **out, size_t *n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", rs_name(RS_MODELS), model, name);
    *out = NULL;
    *n = 0;
    if (!rd_exists(f, path)) return qb_errorf(QB_ERR_INPUT, "%s: no dataset %s", f->path, path);
    qb_status st = h5r_read(f->file, path, type, out, n);
    if (st) qb_error_prefix(f->path);
    return st;
}

char *rd_model_attr(const RdFile *f, const char *model, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", rs_name(RS_MODELS), model);
    if (!rd_exists(f, path)) return strdup("");
    return opt_attr(f->file, path, name);
}

size_t rd_models(const RdFile *f, const char **out, size_t max) {
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        size_t j = 0;
        while (j < k && strcmp(out[j], f->rows[i].model)) j++;
        if (j == k && k < max) out[k++] = f->rows[i].model;
    }
    return k;
}

const SummaryRow *rd_find(const RdFile *f, const char *model, const char *codec, const char *kv) {
    for (size_t i = 0; i < f->n; i++) {
        const SummaryRow *r = &f->rows[i];
        if (!strcmp(r->model, model) && !strcmp(r->codec, codec) && (!kv || !strcmp(r->kv, kv))) return r;
    }
    return NULL;
}

void rd_md_cell(FILE *o, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", o);
        else if (*s == '\n') fputc(' ', o);
        else fputc(*s, o);
    }
}

const char *rd_fmt_rate(char *b, size_t n, double v, double lo, double hi) {
    if (!isfinite(v)) snprintf(b, n, "–");
    else if (isfinite(lo) && isfinite(hi)) snprintf(b, n, "%.2f%% [%.2f, %.2f]", 100 * v, 100 * lo, 100 * hi);
    else snprintf(b, n, "%.2f%%", 100 * v);
    return b;
}
