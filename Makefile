# qinsbench — build, test, benchmarks. `make help` lists the targets.
#
# Layout: engine/*.c → build/libqinsengine.a (the inference library: no HDF5, no gnuplot);
# harness/*.c except main.c → build/libqinsharness.a; harness/main.c → build/qinsbench.
# tests/test_*.c → one Check executable each. mk/*.mk add targets (benchmarks, gate, report…).

CC      ?= cc
BUILD   ?= build
PKGS    := openblas hdf5 libcjson
# OpenBLAS on OpenMP (libopenblas-openmp-dev), so sgemm and our kernels share one thread pool (libgomp's);
# Debian installs its openblas.pc under the same name in its own directory, and its libopenblas.so.0 is
# found at run time through the rpath (the system-wide alternative may point at the pthread build).
# Measured, 8-layer Phi-3.5 shapes, pp512 tok/s: see the commit message that made this choice.
PKGCONF := PKG_CONFIG_PATH=/usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/openblas-openmp/pkgconfig$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH} pkg-config
OPT     ?= -O2 -march=native
SAN     ?=
CFLAGS  := -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -fopenmp $(SAN) \
           $(shell $(PKGCONF) --cflags $(PKGS) check 2>/dev/null) -Iengine -Iharness
LDLIBS  := $(shell $(PKGCONF) --libs $(PKGS) 2>/dev/null) -Wl,-rpath,$(shell $(PKGCONF) --variable=libdir openblas) \
           -lm -lpthread
GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

ENGINE_SRC  := $(sort $(wildcard engine/*.c))
HARNESS_SRC := $(filter-out harness/main.c,$(sort $(wildcard harness/*.c)))
TEST_SRC    := $(sort $(wildcard tests/test_*.c))
ENGINE_OBJ  := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
HARNESS_OBJ := $(HARNESS_SRC:%.c=$(BUILD)/%.o) $(BUILD)/build_info.o
TEST_BIN    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HEADERS     := $(wildcard engine/*.h harness/*.h tests/*.h)

.PHONY: all test test-asan clean deps deps-dev help
all: $(BUILD)/qinsbench

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The commit and flags a binary reports (--version, the results' provenance) live in one generated file,
# rewritten only when they change, so an incremental build never records a stale commit: with them as -D
# flags, a binary built right after a commit still said the commit before it (no object was recompiled).
$(BUILD)/build_info.c: FORCE
	@mkdir -p $(BUILD)
	@printf 'const char qb_git_rev[] = "%s";\nconst char qb_build_cflags[] = "%s";\n' '$(GIT_REV)' '$(OPT) $(SAN)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/build_info.o: $(BUILD)/build_info.c harness/build_info.h
	$(CC) $(CFLAGS) -include harness/build_info.h -c $< -o $@
.PHONY: FORCE
FORCE:

$(BUILD)/libqinsengine.a: $(ENGINE_OBJ)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/libqinsharness.a: $(HARNESS_OBJ)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/qinsbench: $(BUILD)/harness/main.o $(BUILD)/libqinsharness.a $(BUILD)/libqinsengine.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libqinsharness.a $(BUILD)/libqinsengine.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libqinsharness.a $(BUILD)/libqinsengine.a -o $@ $(LDLIBS) $(shell pkg-config --libs check)

# Every test binary runs even if an earlier one fails; the target fails if any did.
test: $(BUILD)/qinsbench $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do echo "== $$t"; QB_BIN=$(BUILD)/qinsbench $$t || fail=1; done; \
	 if [ $$fail -ne 0 ]; then echo "make test: FAILED"; exit 1; fi; echo "make test: all test binaries passed"

# AddressSanitizer + UBSan build of the same tests (separate build directory). CK_FORK=no keeps ASan's
# leak checker meaningful inside Check's test cases.
test-asan:
	CK_FORK=no $(MAKE) BUILD=$(BUILD)-asan OPT="-O1 -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

# What build + demo + tests need. Targets that need more (test-slurm: slurm-wlm, munge; fuzz: clang)
# install their own extras when run as root, and add them to EXTRA_DEBS for `make deps-dev`.
DEPS_DEBS := build-essential pkg-config libopenblas-openmp-dev libhdf5-dev libcjson-dev check gnuplot-nox
deps:
	@$(call apt_install,$(DEPS_DEBS))
deps-dev:
	@$(call apt_install,$(DEPS_DEBS) $(EXTRA_DEBS))
apt_install = if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); \
	else echo "make $@: run as root, or: sudo apt-get install $(1)"; exit 1; fi

clean:
	rm -rf build build-asan build-*

help:
	@echo "make            build build/qinsbench and build/libqinsengine.a"
	@echo "make deps       install the Debian packages build, demo and tests need (as root)"
	@echo "make deps-dev   the same plus every developer target's extras (Slurm, fuzzing…)"
	@echo "make test       build and run the Check tests"
	@echo "make test-asan  the same under AddressSanitizer + UBSan"
	@echo "make clean      remove build directories"
	@for f in $(sort $(wildcard mk/*.mk)); do sed -n 's/^## //p' $$f; done

-include $(sort $(wildcard mk/*.mk))
