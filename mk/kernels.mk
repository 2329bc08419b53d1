# kernels.mk — the benchmark programs of bench/ (bench/README.md): one rule builds each bench/NAME.c into
# $(BUILD)/bench/NAME; each has a make target that runs it. Benchmarks, not tests.

BENCH_PROGS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

$(BUILD)/bench/%: bench/%.c $(BUILD)/libqinsharness.a $(BUILD)/libqinsengine.a $(HEADERS) bench/bench_util.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libqinsharness.a $(BUILD)/libqinsengine.a -o $@ $(LDLIBS)

## make bench-kernels  per-codec fused matvec kernels vs read bandwidth and OpenBLAS → results/bench-kernels.csv

.PHONY: bench-kernels
bench-kernels: $(BUILD)/bench/bench_kernels
	@mkdir -p results
	$(BUILD)/bench/bench_kernels results/bench-kernels.csv

## make bench-gemm-small  the small-batch product (batched decode) vs single-threaded sgemm, T = 2…128; then the runner's lockstep step (T = 23) streamed on 1 and 2 threads against the same in L2 (stdout)
.PHONY: bench-gemm-small
bench-gemm-small: $(BUILD)/bench/bench_gemm_small
	$(BUILD)/bench/bench_gemm_small

## make bench-act-q8  act=q8 products (q8_0, q4_0) vs the same codec with f32 activations, T = 1 and 128 (stdout)
.PHONY: bench-act-q8
bench-act-q8: $(BUILD)/bench/bench_act_q8
	OMP_WAIT_POLICY=passive $(BUILD)/bench/bench_act_q8

## make bench-peak  this core's ceilings: f32 FMA and vdpbf16ps register-only loops, the small-batch kernel's step in L1, the kernel in L2 (stdout)
.PHONY: bench-peak
bench-peak: $(BUILD)/bench/bench_peak
	$(BUILD)/bench/bench_peak

## make bench-prefill  prefill's products (T = 512, one Phi-3.5 layer) of q8_0, qins8, q4_0 paired with fp32, 1 and 2 threads (stdout)
.PHONY: bench-prefill
bench-prefill: $(BUILD)/bench/bench_prefill
	$(BUILD)/bench/bench_prefill

## make benches  build every benchmark program without running one (CI: they compile, with gcc and clang)
.PHONY: benches
benches: $(BENCH_PROGS) $(BUILD)/bench/bench_tokenizer
