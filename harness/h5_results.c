/* h5_results.c — HDF5 results file: checked writers and readers, the summary compound type, file creation
 * with provenance, and the crash-safe commit (see h5_results.h and docs/results.md). */
#include "h5_results.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"

/* The summary fields: SUMMARY_FIELDS in results_schema.h. */

void h5r_row_init(SummaryRow *r, const char *model, const char *codec, const char *kv, int64_t cell_index) {
    memset(r, 0, sizeof *r);
#define FS(f, u, d)
#define FI(f, u, d) r->f = 0;
#define FD(f, u, d) r->f = NAN;
    SUMMARY_FIELDS
#undef FS
#undef FI
#undef FD
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->codec, sizeof r->codec, "%s", codec);
    snprintf(r->kv, sizeof r->kv, "%s", kv);
    snprintf(r->status, sizeof r->status, "pending");
    r->cell_index = cell_index;
}

void h5r_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* The memory type of SummaryRow (fixed-length NUL-terminated strings, int64, float64). */
static hid_t summary_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(SummaryRow));
    if (t < 0) return -1;
    int bad = 0;
#define FS(f, u, d)                                                                                         \
    {                                                                                                      \
        hid_t s = H5Tcopy(H5T_C_S1);                                                                       \
        bad |= s < 0 || H5Tset_size(s, sizeof(((SummaryRow *)0)->f)) < 0 ||                               \
               H5Tset_strpad(s, H5T_STR_NULLTERM) < 0 || H5Tset_cset(s, H5T_CSET_UTF8) < 0 ||                 \
               H5Tinsert(t, #f, offsetof(SummaryRow, f), s) < 0; \
        if (s >= 0) H5Tclose(s);                                                                           \
    }
#define FI(f, u, d) bad |= H5Tinsert(t, #f, offsetof(SummaryRow, f), H5T_NATIVE_INT64) < 0;
#define FD(f, u, d) bad |= H5Tinsert(t, #f, offsetof(SummaryRow, f), H5T_NATIVE_DOUBLE) < 0;
    SUMMARY_FIELDS
#undef FS
#undef FI
#undef FD
    if (bad) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

qb_status h5r_attr_str(hid_t loc, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
    int ok = t >= 0 && sp >= 0 && H5Tset_size(t, strlen(value) + 1) >= 0 && H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0 &&
             H5Tset_cset(t, H5T_CSET_UTF8) >= 0;
    if (ok) {
        if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
        a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, t, value) >= 0;
    }
    if (a >= 0) ok &= H5Aclose(a) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return ok ? QB_OK : qb_errorf(QB_ERR_IO, "HDF5: cannot write string attribute '%s'", name);
}

static qb_status attr_num(hid_t loc, const char *name, hid_t type, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    int ok = sp >= 0;
    if (ok) {
        if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
        a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, type, v) >= 0;
    }
    if (a >= 0) ok &= H5Aclose(a) >= 0;
    if (sp >= 0) H5Sclose(sp);
    return ok ? QB_OK : qb_errorf(QB_ERR_IO, "HDF5: cannot write attribute '%s'", name);
}

qb_status h5r_attr_i64(hid_t loc, const char *name, int64_t value) { return attr_num(loc, name, H5T_NATIVE_INT64, &value); }
qb_status h5r_attr_f64(hid_t loc, const char *name, double value) { return attr_num(loc, name, H5T_NATIVE_DOUBLE, &value); }

qb_status h5r_group(hid_t loc, const char *name, hid_t *out) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        if (lcpl >= 0) H5Pclose(lcpl);
        return qb_errorf(QB_ERR_IO, "HDF5: cannot create property list for group '%s'", name);
    }
    *out = H5Gcreate2(loc, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    return *out >= 0 ? QB_OK : qb_errorf(QB_ERR_IO, "HDF5: cannot create group '%s'", name);
}

/* Every non-empty dataset is chunked and carries a Fletcher-32 checksum (verified by HDF5 on every read: a
 * damaged cell fails to read instead of carrying wrong numbers forward). Large arrays are also shuffled and
 * deflated; the checksum comes last so it covers the stored (compressed) bytes. */
static int set_chunked(hid_t dcpl, int rank, const hsize_t *dims, hsize_t total) {
    if (total == 0) return 1; /* nothing to checksum; HDF5 refuses chunks larger than a 0 extent */
    hsize_t chunk[8];
    if (rank > 8) return 0;
    for (int i = 0; i < rank; i++) chunk[i] = dims[i];
    hsize_t elems = total;
    for (int i = 0; i < rank && elems > 65536; i++)
        while (chunk[i] > 1 && elems > 65536) {
            elems /= chunk[i];
            chunk[i] = (chunk[i] + 1) / 2;
            elems *= chunk[i];
        }
    if (H5Pset_chunk(dcpl, rank, chunk) < 0) return 0;
    if (total >= 4096 && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 4) < 0)) return 0;
    return H5Pset_fletcher32(dcpl) >= 0;
}

qb_status h5r_write(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data,
                    const char *units, const char *description) {
    hsize_t total = 1;
    for (int i = 0; i < rank; i++) total *= dims[i];
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    int ok = sp >= 0 && dcpl >= 0 && set_chunked(dcpl, rank, dims, total);
    if (ok) d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ok = ok && d >= 0 && (total == 0 || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    qb_status st = ok ? QB_OK : qb_errorf(QB_ERR_IO, "HDF5: cannot write dataset '%s'", name);
    if (!st && (st = h5r_attr_str(d, rs_name(RS_UNITS), units)) == QB_OK)
        st = h5r_attr_str(d, rs_name(RS_DESCRIPTION), description);
    if (!st) st = QB_OK;
    else qb_error_prefix(name);
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return st;
}

qb_status h5r_read_attr_str(hid_t file, const char *obj, const char *name, char **out) {
    *out = NULL;
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT), ft = -1, mt = -1;
    if (a < 0) return qb_errorf(QB_ERR_INPUT, "%s: no attribute '%s'", obj, name);
    qb_status st = QB_OK;
    ft = H5Aget_type(a);
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0) {
        st = qb_errorf(QB_ERR_INPUT, "%s: attribute '%s' is not a fixed-length string", obj, name);
        goto done;
    }
    size_t n = H5Tget_size(ft);
    mt = H5Tcopy(ft); /* same character set as the file (UTF-8): HDF5 will not convert between sets */
    if (mt < 0 || H5Tset_size(mt, n + 1) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0) {
        st = qb_errorf(QB_ERR_IO, "%s: attribute '%s': HDF5 type error", obj, name);
        goto done;
    }
    if (!(*out = qb_calloc(n + 1, 1, "attribute"))) {
        st = QB_ERR_NOMEM;
        goto done;
    }
    if (H5Aread(a, mt, *out) < 0) {
        free(*out);
        *out = NULL;
        st = qb_errorf(QB_ERR_IO, "%s: cannot read attribute '%s'", obj, name);
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return st;
}

qb_status h5r_read(hid_t file, const char *path, hid_t type, void **out, size_t *n) {
    *out = NULL;
    *n = 0;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return qb_errorf(QB_ERR_INPUT, "%s: no such dataset", path);
    hid_t sp = H5Dget_space(d);
    hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    qb_status st = QB_OK;
    if (cnt < 0) st = qb_errorf(QB_ERR_INPUT, "%s: cannot read dataspace", path);
    else if (!(*out = qb_malloc((size_t)cnt * H5Tget_size(type), path))) st = QB_ERR_NOMEM;
    else if (cnt && H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0) {
        st = qb_errorf(QB_ERR_IO, "%s: cannot read dataset", path);
        free(*out);
        *out = NULL;
    } else
        *n = (size_t)cnt;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return st;
}

/* /summary_fields: one row per /summary field (HDF5 compound members cannot carry attributes), so the file
 * explains itself: pd.DataFrame(f["summary_fields"][:]) lists name, kind, units, description. */
#define SF_NAME 32
#define SF_UNITS 16
#define SF_DESC 192
typedef struct {
    char name[SF_NAME], kind[2], units[SF_UNITS], description[SF_DESC];
} SummaryFieldRow;

static hid_t str_type(size_t n) {
    hid_t s = H5Tcopy(H5T_C_S1);
    if (s >= 0 && (H5Tset_size(s, n) < 0 || H5Tset_strpad(s, H5T_STR_NULLTERM) < 0 || H5Tset_cset(s, H5T_CSET_UTF8) < 0)) {
        H5Tclose(s);
        s = -1;
    }
    return s;
}

static qb_status write_summary_fields(hid_t file) {
    int n;
    const H5rField *fl = h5r_summary_fields(&n);
    SummaryFieldRow *rows = qb_calloc((size_t)n, sizeof *rows, "summary fields");
    if (!rows) return QB_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        /* the table is ours: a description that does not fit is a bug caught by every run */
        if (strlen(fl[i].name) >= SF_NAME || strlen(fl[i].units) >= SF_UNITS || strlen(fl[i].description) >= SF_DESC) {
            free(rows);
            return qb_errorf(QB_ERR_INTERNAL, "/summary_fields: field '%s' does not fit the table", fl[i].name);
        }
        snprintf(rows[i].name, SF_NAME, "%s", fl[i].name);
        rows[i].kind[0] = fl[i].kind;
        snprintf(rows[i].units, SF_UNITS, "%s", fl[i].units);
        snprintf(rows[i].description, SF_DESC, "%s", fl[i].description);
    }
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(SummaryFieldRow)), s1 = str_type(SF_NAME), s2 = str_type(2),
          s3 = str_type(SF_UNITS), s4 = str_type(SF_DESC), sp = -1, d = -1;
    int ok = t >= 0 && s1 >= 0 && s2 >= 0 && s3 >= 0 && s4 >= 0 &&
             H5Tinsert(t, "name", offsetof(SummaryFieldRow, name), s1) >= 0 &&
             H5Tinsert(t, "kind", offsetof(SummaryFieldRow, kind), s2) >= 0 &&
             H5Tinsert(t, rs_name(RS_UNITS), offsetof(SummaryFieldRow, units), s3) >= 0 &&
             H5Tinsert(t, rs_name(RS_DESCRIPTION), offsetof(SummaryFieldRow, description), s4) >= 0;
    if (ok && H5Lexists(file, rs_name(RS_SUMMARY_FIELDS), H5P_DEFAULT) > 0) ok = H5Ldelete(file, rs_name(RS_SUMMARY_FIELDS), H5P_DEFAULT) >= 0;
    hsize_t dims[1] = {(hsize_t)n};
    if (ok) ok = (sp = H5Screate_simple(1, dims, NULL)) >= 0;
    if (ok) ok = (d = H5Dcreate2(file, rs_name(RS_SUMMARY_FIELDS), t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0;
    if (ok) ok = H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0;
    qb_status st = ok ? QB_OK : qb_errorf(QB_ERR_IO, "/summary_fields: cannot write the table");
    if (!st) st = h5r_attr_str(d, rs_name(RS_DESCRIPTION), "one row per /summary field, in its order: name, kind (s string, "
                                                 "i int64, d float64), units, description");
    if (!st) st = h5r_attr_str(d, rs_name(RS_UNITS), "per column: text");
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    hid_t ts[] = {s1, s2, s3, s4, t};
    for (int i = 0; i < 5; i++)
        if (ts[i] >= 0) H5Tclose(ts[i]);
    free(rows);
    return st;
}

qb_status h5r_write_summary(hid_t file, const SummaryRow *rows, size_t n) {
    if (H5Lexists(file, rs_name(RS_SUMMARY), H5P_DEFAULT) > 0 && H5Ldelete(file, rs_name(RS_SUMMARY), H5P_DEFAULT) < 0)
        return qb_errorf(QB_ERR_IO, "/summary: cannot delete the old table");
    hid_t mt = summary_type();
    if (mt < 0) return qb_errorf(QB_ERR_INTERNAL, "/summary: cannot build the compound type");
    hid_t ft = H5Tcopy(mt);
    qb_status st;
    if (ft < 0 || H5Tpack(ft) < 0) st = qb_errorf(QB_ERR_INTERNAL, "/summary: cannot pack the compound type");
    else {
        hsize_t dims[1] = {n};
        hid_t sp = H5Screate_simple(1, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        hid_t d = sp >= 0 && dcpl >= 0 && set_chunked(dcpl, 1, dims, n)
                      ? H5Dcreate2(file, rs_name(RS_SUMMARY), ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)
                      : -1;
        if (dcpl >= 0) H5Pclose(dcpl);
        if (d < 0 || (n && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0))
            st = qb_errorf(QB_ERR_IO, "/summary: cannot write %zu rows", n);
        else if (!(st = h5r_attr_str(d, rs_name(RS_DESCRIPTION),
                                     "one row per (model, codec, kv) cell; each field's unit and meaning: /summary_fields")))
            st = h5r_attr_str(d, rs_name(RS_UNITS), "per field: /summary_fields");
        if (d >= 0) H5Dclose(d);
        if (sp >= 0) H5Sclose(sp);
    }
    if (ft >= 0) H5Tclose(ft);
    H5Tclose(mt);
    return st ? st : write_summary_fields(file);
}

qb_status h5r_read_summary(hid_t file, SummaryRow **rows, size_t *n) {
    *rows = NULL;
    *n = 0;
    hid_t mt = summary_type();
    if (mt < 0) return qb_errorf(QB_ERR_INTERNAL, "/summary: cannot build the compound type");
    hid_t d = H5Dopen2(file, rs_name(RS_SUMMARY), H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
    hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    qb_status st = QB_OK;
    if (d < 0) st = qb_errorf(QB_ERR_INPUT, "summary: no such dataset");
    else if (cnt < 0) st = qb_errorf(QB_ERR_INPUT, "summary: cannot read dataspace");
    else if (!(*rows = qb_calloc(cnt ? (size_t)cnt : 1, sizeof **rows, "summary"))) st = QB_ERR_NOMEM;
    else {
        /* Fields an older file lacks keep their "not measured" value: HDF5 converts members by name and leaves
         * the others as they are in the buffer. */
        for (hssize_t i = 0; i < cnt; i++) h5r_row_init(&(*rows)[i], "", "", "", 0);
        if (cnt && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, *rows) < 0) {
            st = qb_errorf(QB_ERR_IO, "summary: cannot read dataset");
            free(*rows);
            *rows = NULL;
        } else
            *n = (size_t)cnt;
    }
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    /* NUL-terminate strings whatever the file holds. */
    for (size_t i = 0; !st && i < *n; i++) {
        SummaryRow *r = &(*rows)[i];
        r->model[H5R_MODEL_LEN - 1] = r->codec[H5R_CODEC_LEN - 1] = r->kv[H5R_KV_LEN - 1] =
            r->status[H5R_STATUS_LEN - 1] = r->ppl_kind[H5R_KIND_LEN - 1] = 0;
    }
    H5Tclose(mt);
    return st;
}

/* The HDF5 signature sits at offset 0, 512, 1024, 2048… (a user block may precede it). */
static int has_hdf5_signature(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return 0;
    int found = 0;
    for (off_t at = 0; !found && at <= (off_t)1 << 20; at = at ? at * 2 : 512) {
        unsigned char b[8];
        if (pread(fd, b, 8, at) != 8) break;
        found = !memcmp(b, sig, 8);
    }
    close(fd);
    return found;
}

qb_status h5r_open(const char *path, hid_t *out) {
    if (!qb_file_exists(path)) return qb_errorf(QB_ERR_INPUT, "%s: no such file", path);
    htri_t ok = H5Fis_hdf5(path);
    *out = ok > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (*out >= 0) return QB_OK;
    /* an HDF5 signature that HDF5 cannot open: a truncated or overwritten results file */
    if (has_hdf5_signature(path))
        return qb_errorf(QB_ERR_INPUT, "%s is damaged: run with --fresh, or delete it", path);
    return qb_errorf(QB_ERR_INPUT, "%s: not an HDF5 file", path);
}

/* H5Ovisit callback: reads every dataset whole, so HDF5 verifies its Fletcher-32 checksum. */
static herr_t check_one(hid_t obj, const char *name, const H5O_info_t *info, void *op) {
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    if (d < 0) goto bad;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    size_t sz = t >= 0 ? H5Tget_size(t) : 0;
    void *buf = n > 0 && sz ? malloc((size_t)n * sz) : NULL;
    int ok = n == 0 || (buf && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    free(buf);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    if (ok) return 0;
bad:
    snprintf((char *)op, 256, "%s", name);
    return 1;
}

qb_status h5r_check(hid_t file, const char *obj) {
    hid_t g = H5Oopen(file, obj, H5P_DEFAULT);
    if (g < 0) return qb_errorf(QB_ERR_INPUT, "%s: missing", obj);
    char bad[256] = "";
#if H5_VERSION_GE(1, 12, 0)
    herr_t r = H5Ovisit3(g, H5_INDEX_NAME, H5_ITER_NATIVE, check_one, bad, H5O_INFO_BASIC);
#else
    herr_t r = H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_NATIVE, check_one, bad, H5O_INFO_BASIC);
#endif
    H5Oclose(g);
    if (r > 0 || bad[0]) return qb_errorf(QB_ERR_INPUT, "%s/%s: data damaged (checksum or read failure)", obj, bad);
    return r < 0 ? qb_errorf(QB_ERR_INPUT, "%s: cannot be read whole", obj) : QB_OK;
}

static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p += 1 + (p[1] == ' ');
                p[strcspn(p, "\n")] = 0;
                snprintf(buf, n, "%s", p);
            }
            break;
        }
    fclose(f);
}

static qb_status fsync_path(const char *path, int dir) {
    int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return qb_errorf(QB_ERR_IO, "%s: open for fsync: %s", path, strerror(errno));
    int r = fsync(fd);
    close(fd);
    return r == 0 || dir ? QB_OK : qb_errorf(QB_ERR_IO, "%s: fsync: %s", path, strerror(errno));
}

/* fsync tmp, rename it over path, fsync the directory: the visible file is always whole. */
static qb_status publish(const char *tmp, const char *path) {
    qb_status st = fsync_path(tmp, 0);
    if (st) {
        unlink(tmp);
        return st;
    }
    if (rename(tmp, path)) {
        st = qb_errorf(QB_ERR_IO, "%s: rename to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return st;
    }
    char *d = strdup(path);
    if (d) {
        fsync_path(dirname(d), 1);
        free(d);
    }
    return QB_OK;
}

static char *tmp_name(const char *path) {
    size_t n = strlen(path) + 5;
    char *t = qb_malloc(n, "file name");
    if (t) snprintf(t, n, "%s.tmp", path);
    return t;
}

/* Files are built in memory (HDF5's core driver, no backing store) and written out by write_image with
 * plain checked write(2)s. Why: libhdf5 1.10 segfaults (H5Ocopy, or H5Fclose) when its own writes hit
 * ENOSPC — measured: `run --out` on a 2 MiB tmpfs exited 139 at about half the sizes tried. Our writes
 * turn a full disk into "No space left on device" and exit 2. Cost: the file's size in memory while it is
 * written (results files are small: the per-token arrays, not logits). */
static hid_t core_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* no HDF5 flock: a reader (show, plot) holding a shared lock on OUT must not make the commit fail; the
     * writer is already alone (h5r_lock) and publishes by rename */
    if (fapl >= 0 && (H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 || H5Pset_file_locking(fapl, 0, 1) < 0)) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

hid_t h5r_fcreate(void) {
    hid_t fapl = core_fapl();
    if (fapl < 0) return -1;
    /* the name is never touched on disk (no backing store); unique so HDF5 never takes two for one file */
    static unsigned serial;
    char name[64];
    snprintf(name, sizeof name, "qinsbench-in-memory-%ld-%u.h5", (long)getpid(), serial++);
    hid_t f = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    return f;
}

static qb_status write_all(int fd, const char *path, const char *buf, size_t n) {
    for (size_t o = 0; o < n;) {
        ssize_t w = write(fd, buf + o, n - o);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return qb_errorf(QB_ERR_IO, "%s: write: %s", path, w < 0 ? strerror(errno) : "no progress");
        o += (size_t)w;
    }
    return QB_OK;
}

qb_status h5r_fclose(hid_t f, const char *path) {
    qb_status st = QB_OK;
    char *img = NULL;
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) st = qb_errorf(QB_ERR_IO, "%s: HDF5 flush failed", path);
    ssize_t n = st ? -1 : H5Fget_file_image(f, NULL, 0);
    if (!st && n <= 0) st = qb_errorf(QB_ERR_IO, "%s: HDF5 cannot size the file image", path);
    if (!st && !(img = qb_malloc((size_t)n, path))) st = QB_ERR_NOMEM;
    if (!st && H5Fget_file_image(f, img, (size_t)n) != n) st = qb_errorf(QB_ERR_IO, "%s: HDF5 file image failed", path);
    if (H5Fclose(f) < 0 && !st) st = qb_errorf(QB_ERR_IO, "%s: cannot close", path);
    if (!st) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) st = qb_errorf(QB_ERR_IO, "%s: %s", path, strerror(errno));
        else {
            st = write_all(fd, path, img, (size_t)n);
            if (!st && fsync(fd)) st = qb_errorf(QB_ERR_IO, "%s: fsync: %s", path, strerror(errno));
            if (close(fd) && !st) st = qb_errorf(QB_ERR_IO, "%s: close: %s", path, strerror(errno));
            if (st) unlink(path);
        }
    }
    free(img);
    return st;
}

/* Opens an existing file into memory, read-write: changes reach the disk only through h5r_fclose. */
static hid_t open_in_memory(const char *path) {
    hid_t fapl = core_fapl();
    if (fapl < 0) return -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    return f;
}

qb_status h5r_create(const char *path, const H5Root *root) { return h5r_create_plan(path, root, 0, NULL); }

qb_status h5r_create_plan(const char *path, const H5Root *root, int cells_total, const char *resume_command) {
    char *tmp = tmp_name(path);
    if (!tmp) return QB_ERR_NOMEM;
    hid_t f = h5r_fcreate();
    if (f < 0) {
        qb_status st = qb_errorf(QB_ERR_IO, "%s: cannot create HDF5 file", tmp);
        free(tmp);
        return st;
    }
    char buf[512], cpu[256];
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(buf, sizeof buf, "%u.%u.%u", maj, min, rel);
    cpu_model(cpu, sizeof cpu);
    time_t now = time(NULL);
    char ts[64];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    struct utsname u;
    char kernel[600] = "unknown", host[256] = "unknown";
    if (!uname(&u)) {
        snprintf(kernel, sizeof kernel, "%s %s %s", u.sysname, u.release, u.machine);
        snprintf(host, sizeof host, "%s", u.nodename);
    }
    char *blas = openblas_get_config();
    qb_status st = QB_OK;
    hid_t g = -1;
    if (!st) st = h5r_attr_i64(f, rs_name(RS_ROOT_SCHEMA_VERSION), H5R_SCHEMA_VERSION);
    char version[96];
    snprintf(version, sizeof version, "qinsbench %s", qb_git_rev);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_QINSBENCH_VERSION), version);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_GIT_COMMIT), qb_git_rev);
#ifdef __VERSION__
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_COMPILER), "cc " __VERSION__);
#endif
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_CFLAGS), qb_build_cflags);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_OPENBLAS_CONFIG), blas ? blas : "unknown");
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_HDF5_VERSION), buf);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_CPU_MODEL), cpu);
    if (!st) st = h5r_attr_i64(f, rs_name(RS_ROOT_THREADS), root->threads);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_OMP_WAIT_POLICY), getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "");
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_START_TIME), ts);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_CONFIG_NAME), root->config_name);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_CONFIG_PATH), root->config_path);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_CONFIG_TEXT), root->config_text);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_SHARD), root->shard ? root->shard : "");
    if (!st) st = h5r_attr_i64(f, rs_name(RS_ROOT_CELLS_TOTAL), cells_total);
    if (!st) st = h5r_attr_str(f, rs_name(RS_ROOT_RESUME_COMMAND), resume_command ? resume_command : "");
    if (!st && !(st = h5r_group(f, rs_name(RS_PROVENANCE), &g))) {
        if (!st) st = h5r_attr_str(g, rs_name(RS_PROV_HOSTNAME), host);
        if (!st) st = h5r_attr_str(g, rs_name(RS_PROV_KERNEL), kernel);
        if (!st) st = h5r_attr_str(g, rs_name(RS_PROV_COMMAND_LINE), root->command_line ? root->command_line : "");
        if (!st) st = h5r_attr_str(g, rs_name(RS_ROOT_START_TIME), ts);
        if (!st) st = h5r_attr_str(g, rs_name(RS_DESCRIPTION),
                                   "where and how this file was made; the root attributes hold the versions");
        H5Gclose(g);
    }
    if (!st && !(st = h5r_group(f, rs_name(RS_MODELS), &g))) {
        st = h5r_attr_str(g, rs_name(RS_DESCRIPTION), "per model: its path and the reference codec's outputs");
        H5Gclose(g);
    }
    if (!st && !(st = h5r_group(f, rs_name(RS_CELLS), &g))) {
        st = h5r_attr_str(g, rs_name(RS_DESCRIPTION), "per (model, codec, kv) cell: the raw arrays behind /summary");
        H5Gclose(g);
    }
    if (!st) st = h5r_write_summary(f, NULL, 0);
    if (st) {
        qb_error_prefix(tmp);
        H5Fclose(f);
    } else if (!(st = h5r_fclose(f, tmp)))
        st = publish(tmp, path);
    free(tmp);
    return st;
}

qb_status h5r_commit(const char *path, const char *src_file, const char *const *src_objs,
                     const char *const *dst_paths, int n_objs, const SummaryRow *rows, size_t n) {
    return h5r_commit_drop(path, src_file, src_objs, dst_paths, n_objs, NULL, 0, rows, n);
}

qb_status h5r_commit_drop(const char *path, const char *src_file, const char *const *src_objs,
                          const char *const *dst_paths, int n_objs, const char *const *drop, int n_drop,
                          const SummaryRow *rows, size_t n) {
    char *tmp = tmp_name(path);
    if (!tmp) return QB_ERR_NOMEM;
    qb_status st = QB_OK;
    hid_t f = -1, src = -1, lcpl = -1;
    if ((f = open_in_memory(path)) < 0) {
        st = has_hdf5_signature(path) ? qb_errorf(QB_ERR_INPUT, "%s is damaged: run with --fresh, or delete it", path)
                                      : qb_errorf(QB_ERR_IO, "%s: cannot open for writing", path);
        goto done;
    }
    for (int i = 0; i < n_drop; i++)
        if (H5Lexists(f, drop[i], H5P_DEFAULT) > 0 && H5Ldelete(f, drop[i], H5P_DEFAULT) < 0) {
            st = qb_errorf(QB_ERR_IO, "%s: cannot delete %s", path, drop[i]);
            goto done;
        }
    if (src_file && n_objs > 0) {
        if ((src = H5Fopen(src_file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
            st = qb_errorf(QB_ERR_IO, "%s: cannot open", src_file);
            goto done;
        }
        lcpl = H5Pcreate(H5P_LINK_CREATE);
        if (lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
            st = qb_errorf(QB_ERR_IO, "HDF5: cannot create a link property list");
            goto done;
        }
        for (int i = 0; i < n_objs; i++) {
            if (H5Lexists(f, dst_paths[i], H5P_DEFAULT) > 0) continue;
            if (H5Ocopy(src, src_objs[i], f, dst_paths[i], H5P_DEFAULT, lcpl) < 0) {
                st = qb_errorf(QB_ERR_IO, "%s: cannot copy %s:%s to %s", path, src_file, src_objs[i], dst_paths[i]);
                goto done;
            }
        }
    }
    st = h5r_write_summary(f, rows, n);
    if (st) qb_error_prefix(path);
done:
    if (lcpl >= 0) H5Pclose(lcpl);
    if (src >= 0) H5Fclose(src);
    if (f >= 0) {
        if (st) H5Fclose(f);
        else if (!(st = h5r_fclose(f, tmp))) st = publish(tmp, path);
    }
    free(tmp);
    return st;
}

/* ---------------------------------------------------------------- completeness (for show) */

static int64_t read_attr_i64(hid_t file, const char *name, int64_t dflt) {
    if (H5Aexists_by_name(file, "/", name, H5P_DEFAULT) <= 0) return dflt;
    hid_t a = H5Aopen_by_name(file, "/", name, H5P_DEFAULT, H5P_DEFAULT);
    int64_t v = dflt;
    if (a >= 0) {
        if (H5Aread(a, H5T_NATIVE_INT64, &v) < 0) v = dflt;
        H5Aclose(a);
    }
    return v;
}

int h5r_report_state(hid_t file, const char *path, const SummaryRow *rows, size_t n) {
    int rc = 0;
    for (size_t r = 0; r < n; r++) {
        char g[512], obj[600];
        h5r_cell_name(rows[r].model, rows[r].codec, rows[r].kv, g, sizeof g);
        snprintf(obj, sizeof obj, "%s/%s", rs_name(RS_CELLS), g);
        if (!strcmp(rows[r].status, "ok") && h5r_check(file, obj)) {
            fprintf(stderr, "%s: DAMAGED: %s (its numbers above are not trustworthy; `run` with the same --out "
                            "recomputes it)\n", path, qb_last_error());
            rc = 1;
        }
    }
    int64_t total = read_attr_i64(file, rs_name(RS_ROOT_CELLS_TOTAL), 0);
    char *resume = NULL;
    if (h5r_read_attr_str(file, "/", rs_name(RS_ROOT_RESUME_COMMAND), &resume)) resume = NULL;
    const char *how = resume && resume[0] ? resume : "the same `qinsbench run` command";
    if (n == 0) {
        fprintf(stderr, "%s: empty: no cell was finished%s%s\n", path, resume && resume[0] ? " — run: " : "",
                resume && resume[0] ? resume : "");
        rc = 1;
    } else if (total > 0 && (int64_t)n < total)
        fprintf(stderr, "%s: partial: %zu of %lld cells done — resume with: %s\n", path, n, (long long)total, how);
    free(resume);
    return rc;
}

/* ---------------------------------------------------------------- the lock */

qb_status h5r_lock(const char *path, int *fd_out) {
    *fd_out = -1;
    char lock[4200];
    snprintf(lock, sizeof lock, "%s.lock", path);
    for (int attempt = 0; attempt < 8; attempt++) {
        int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return qb_errorf(QB_ERR_IO, "%s: cannot create the lock file: %s", lock, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB)) {
            int e = errno;
            char buf[32] = "";
            ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
            close(fd);
            if (e != EWOULDBLOCK) return qb_errorf(QB_ERR_IO, "%s: flock: %s", lock, strerror(e));
            long pid = r > 0 ? strtol(buf, NULL, 10) : 0;
            if (pid > 0)
                return qb_errorf(QB_ERR_INPUT, "%s is being written by pid %ld (lock: %s); wait for it or stop it", path,
                                 pid, lock);
            return qb_errorf(QB_ERR_INPUT, "%s is being written by another process (lock: %s)", path, lock);
        }
        /* the holder may have unlinked the file between our open and flock: lock the file the path names */
        struct stat a, b;
        if (fstat(fd, &a) || stat(lock, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
            close(fd);
            continue;
        }
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)len, 0) != len) {
            qb_status st = qb_errorf(QB_ERR_IO, "%s: cannot write the lock file: %s", lock, strerror(errno));
            unlink(lock);
            close(fd);
            return st;
        }
        *fd_out = fd;
        return QB_OK;
    }
    return qb_errorf(QB_ERR_IO, "%s.lock: the lock file keeps changing", path);
}

void h5r_unlock(const char *path, int fd) {
    if (fd < 0) return;
    char lock[4200];
    snprintf(lock, sizeof lock, "%s.lock", path);
    unlink(lock); /* while still holding it: a waiter that opened the old file re-checks the inode */
    close(fd);
}

void h5r_cell_name(const char *model, const char *codec, const char *kv, char *buf, size_t n) {
    snprintf(buf, n, "%s__%s__%s", model, codec, kv);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '+' || *p == '=' || *p == '-'))
            *p = '_';
}

const H5rField *h5r_summary_fields(int *n) {
    static const H5rField f[] = {
#define FS(x, u, d) {#x, 's', offsetof(SummaryRow, x), sizeof(((SummaryRow *)0)->x), u, d},
#define FI(x, u, d) {#x, 'i', offsetof(SummaryRow, x), 8, u, d},
#define FD(x, u, d) {#x, 'd', offsetof(SummaryRow, x), 8, u, d},
        SUMMARY_FIELDS
#undef FS
#undef FI
#undef FD
    };
    *n = (int)(sizeof f / sizeof f[0]);
    return f;
}

/* ---------------------------------------------------------------- one cell */

qb_status h5r_write_rs(hid_t loc, rs_id id, hid_t type, int rank, const hsize_t *dims, const void *data) {
    const RsEntry *e = rs_entry(id);
    return h5r_write(loc, e->name, type, rank, dims, data, e->units, e->description);
}

void cell_results_free(CellResults *r) {
    CellGreedyResult *g = &r->greedy;
    void *greedy[] = {g->tokens, g->argmax, g->first_div, g->match, g->agree, g->survival, g->flip_prompt,
                      g->flip_step, g->flip_margin};
    CellPplResult *p = &r->ppl;
    void *ppl[] = {p->nll, p->kl, p->dp, p->same, p->wnll, p->wref, p->wkl, p->wcnt, p->wcnt64};
    for (size_t i = 0; i < sizeof greedy / sizeof *greedy; i++) free(greedy[i]);
    for (size_t i = 0; i < sizeof ppl / sizeof *ppl; i++) free(ppl[i]);
    free(r->speed.prefill_s);
    free(r->speed.decode_s);
    memset(&r->greedy, 0, sizeof r->greedy);
    memset(&r->ppl, 0, sizeof r->ppl);
    memset(&r->speed, 0, sizeof r->speed);
}

/* A group of the cell (name from the schema), closed at once: the datasets are written by path. */
static qb_status cell_subgroup(hid_t cell, rs_id id, hid_t *g) { return h5r_group(cell, rs_name(id), g); }

static qb_status write_memory(hid_t cell, const CellMemory *m) {
    hid_t g;
    hsize_t d[1] = {H5R_MEM_GROUPS};
    qb_status st = cell_subgroup(cell, RS_MEMORY, &g);
    if (st) return st;
    if (!(st = h5r_attr_str(g, rs_name(RS_MEMORY_GROUPS), "attn, mlp, lm_head, embed, norms")) &&
        !(st = h5r_write_rs(cell, RS_MEM_WEIGHT_BYTES, H5T_NATIVE_INT64, 1, d, m->bytes)))
        st = h5r_write_rs(cell, RS_MEM_WEIGHT_PARAMS, H5T_NATIVE_INT64, 1, d, m->params);
    H5Gclose(g);
    return st;
}

/* greedy/ (free-running) and tf/ (teacher-forced) of one cell. */
static qb_status write_greedy(hid_t cell, const CellGreedyResult *r) {
    hsize_t dpt[2] = {(hsize_t)r->n_prompts, (hsize_t)r->steps}, dp[1] = {(hsize_t)r->n_prompts},
            dt[1] = {(hsize_t)r->steps}, df[1] = {r->n_flips};
    hid_t g;
    qb_status st = h5r_attr_i64(cell, rs_name(RS_CELL_BATCH), r->batch);
    if (!st && !(st = cell_subgroup(cell, RS_GREEDY, &g))) {
        H5Gclose(g);
        if (!(st = h5r_write_rs(cell, RS_GREEDY_TOKENS, H5T_NATIVE_INT32, 2, dpt, r->tokens)) &&
            !(st = h5r_write_rs(cell, RS_GREEDY_MATCH, H5T_NATIVE_DOUBLE, 1, dp, r->match)) &&
            !(st = h5r_write_rs(cell, RS_GREEDY_FIRST_DIVERGENCE, H5T_NATIVE_INT32, 1, dp, r->first_div)))
            st = h5r_write_rs(cell, RS_GREEDY_SURVIVAL, H5T_NATIVE_DOUBLE, 1, dt, r->survival);
    }
    if (!st && !(st = cell_subgroup(cell, RS_TF, &g))) {
        H5Gclose(g);
        if (!(st = h5r_write_rs(cell, RS_TF_ARGMAX, H5T_NATIVE_INT32, 2, dpt, r->argmax)) &&
            !(st = h5r_write_rs(cell, RS_TF_AGREE, H5T_NATIVE_DOUBLE, 1, dp, r->agree)) &&
            !(st = h5r_write_rs(cell, RS_TF_FLIP_PROMPT, H5T_NATIVE_INT32, 1, df, r->flip_prompt)) &&
            !(st = h5r_write_rs(cell, RS_TF_FLIP_STEP, H5T_NATIVE_INT32, 1, df, r->flip_step)))
            st = h5r_write_rs(cell, RS_TF_FLIP_MARGIN, H5T_NATIVE_FLOAT, 1, df, r->flip_margin);
    }
    return st;
}

static qb_status write_ppl(hid_t cell, const CellPplResult *r) {
    hsize_t dn[1] = {(hsize_t)r->n_tokens}, dw[1] = {(hsize_t)r->n_windows};
    hid_t g;
    qb_status st = cell_subgroup(cell, RS_PPL, &g);
    if (st) return st;
    H5Gclose(g);
    if ((st = h5r_write_rs(cell, RS_PPL_NLL, H5T_NATIVE_DOUBLE, 1, dn, r->nll)) ||
        (st = h5r_write_rs(cell, RS_PPL_KL, H5T_NATIVE_DOUBLE, 1, dn, r->kl)) ||
        (st = h5r_write_rs(cell, RS_PPL_SAME_TOP, H5T_NATIVE_INT8, 1, dn, r->same)) ||
        (st = h5r_write_rs(cell, RS_PPL_DP_TOP, H5T_NATIVE_DOUBLE, 1, dn, r->dp)) ||
        (st = h5r_write_rs(cell, RS_PPL_WINDOW_NLL, H5T_NATIVE_DOUBLE, 1, dw, r->wnll)) ||
        (st = h5r_write_rs(cell, RS_PPL_WINDOW_REF_NLL, H5T_NATIVE_DOUBLE, 1, dw, r->wref)) ||
        (st = h5r_write_rs(cell, RS_PPL_WINDOW_KL, H5T_NATIVE_DOUBLE, 1, dw, r->wkl)))
        return st;
    return h5r_write_rs(cell, RS_PPL_WINDOW_COUNT, H5T_NATIVE_INT64, 1, dw, r->wcnt64);
}

static qb_status write_speed(hid_t cell, const CellSpeedResult *r) {
    hsize_t dr[1] = {(hsize_t)r->repeats};
    hid_t g;
    qb_status st = cell_subgroup(cell, RS_SPEED, &g);
    if (st) return st;
    if (!(st = h5r_attr_i64(g, rs_name(RS_SPEED_PROMPT_TOKENS), r->prompt_tokens)) &&
        !(st = h5r_attr_i64(g, rs_name(RS_SPEED_DECODE_TOKENS), r->decode_tokens)) &&
        !(st = h5r_attr_i64(g, rs_name(RS_SPEED_THREADS), r->threads)) &&
        !(st = h5r_write_rs(cell, RS_SPEED_PREFILL_SECONDS, H5T_NATIVE_DOUBLE, 1, dr, r->prefill_s)))
        st = h5r_write_rs(cell, RS_SPEED_DECODE_SECONDS, H5T_NATIVE_DOUBLE, 1, dr, r->decode_s);
    H5Gclose(g);
    return st;
}

qb_status h5r_write_cell(hid_t file, const char *path, const CellResults *r) {
    hid_t g;
    qb_status st = h5r_group(file, path, &g);
    if (st) return st;
    if (!(st = h5r_attr_str(g, rs_name(RS_CELL_MODEL), r->model)) &&
        !(st = h5r_attr_str(g, rs_name(RS_CELL_CODEC), r->codec)) &&
        !(st = h5r_attr_str(g, rs_name(RS_CELL_CODEC_CANONICAL), r->codec_canonical)) &&
        !(st = h5r_attr_str(g, rs_name(RS_CELL_KV), r->kv)) &&
        !(st = h5r_attr_i64(g, rs_name(RS_CELL_INDEX), r->cell_index)) &&
        !(st = h5r_attr_str(g, rs_name(RS_CELL_STATUS), "ok")))
        st = write_memory(g, &r->memory);
    if (!st && r->has_greedy) st = write_greedy(g, &r->greedy);
    if (!st && r->has_ppl) st = write_ppl(g, &r->ppl);
    if (!st && r->has_speed) st = write_speed(g, &r->speed);
    if (H5Gclose(g) < 0 && !st) st = qb_errorf(QB_ERR_IO, "%s: cannot close group", path);
    return st;
}
