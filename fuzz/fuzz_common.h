/* fuzz_common.h — shared by the libFuzzer targets (header-only: each target is one translation unit).
 * Inputs that the product reads from a path are handed over through a memfd (no disk traffic, no
 * temporary files left behind): fuzz_file() returns "/proc/self/fd/N" holding exactly the fuzzer's bytes. */
#ifndef QB_FUZZ_COMMON_H
#define QB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replaces the memfd named `name` with data; returns its /proc path (static buffer per slot). */
static inline const char *fuzz_file(int slot, const uint8_t *data, size_t size) {
    static int fds[4] = {-1, -1, -1, -1};
    static char paths[4][64];
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("qb_fuzz", 0);
        if (fds[slot] < 0) abort();
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    if (ftruncate(fds[slot], 0) || (size && pwrite(fds[slot], data, size, 0) != (ssize_t)size)) abort();
    return paths[slot];
}

/* A NUL-terminated heap copy. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

static char fuzz_dir_path[64];

/* Removes the scratch directory and its files at exit (libFuzzer exits through exit() when its time is up). */
static inline void fuzz_dir_remove(void) {
    DIR *d = opendir(fuzz_dir_path);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        char p[384];
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", fuzz_dir_path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(fuzz_dir_path);
}

/* A scratch directory (made once per process, under /dev/shm when there is one) holding files by name. */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/qb_fuzz_XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fuzz_dir_path)) abort();
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

static inline void fuzz_put(const char *name, const void *data, size_t size) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
}

#endif
