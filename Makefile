# lrpe build. `make` builds ./lrpe; `make test` installs what is missing, builds and runs every
# test; `make deps` installs the system packages; `make clean`.
# Switches: SANITIZE=1 (AddressSanitizer + UndefinedBehaviorSanitizer, separate build folder),
#           WERROR=1 (warnings are errors; CI sets it), NATIVE=1 (-march=native),
#           BLAS=openmp|pthread (OpenBLAS threading variant; see README, "Threads"),
#           CUDA=1 (the CUDA backend, built with nvcc from CUDA_HOME; separate build folder),
#           MPI=1 (data-parallel training over MPI ranks, with Open MPI's mpicc; separate build folder).

CC      ?= gcc
BLAS    ?= openmp
VERSION := 0.1.0
GIT     := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
TRIPLET := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLASDIR := /usr/lib/$(TRIPLET)/openblas-$(BLAS)

OPT      = -O3
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -fopenmp -fno-trapping-math -fno-math-errno -ffp-contract=off -g
CPPFLAGS = -I/usr/include/$(TRIPLET)/openblas-$(BLAS) -MMD -MP

# The layers, enforced: a folder's sources see only the headers of the folders below them (README,
# "Layout"). util <- core <- encodings <- backend <- model; core <- tasks; the harness groups on top; tests,
# fuzz targets and benchmarks see what they test.
INC_util           := -Iutil
INC_core           := $(INC_util) -Icore
INC_encodings      := $(INC_core) -Iencodings
INC_backend        := $(INC_encodings) -Ibackend
INC_backend_cuda   := $(INC_backend)
INC_model          := $(INC_backend) -Imodel
INC_tasks          := $(INC_core) -Itasks
INC_harness_store  := $(INC_util) -Iharness/store
INC_harness_spec   := $(INC_model) -Itasks -Iharness/spec
INC_harness_report := $(INC_util) -Itasks -Iharness/store -Iharness/report
INC_harness_run    := $(INC_harness_spec) -Iharness/store -Iharness/run
INC_harness_cli    := $(INC_harness_run) -Iharness/report -Iharness/cli
INC_tests          := $(INC_harness_cli) -Itests
INC_fuzz           := $(INC_harness_cli) -Ifuzz
INC_bench          := $(INC_core)
# the include flags of the folder of source $(1): INC_core for core/x.c, INC_harness_run for harness/run/x.c
incs = $(INC_$(subst /,_,$(patsubst %/,%,$(dir $(1)))))
LDLIBS  := -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas -lsqlite3 -lyaml -lz -lm
LDFLAGS := -fopenmp

BUILD := build/release
ifeq ($(SANITIZE),1)
  BUILD := build/sanitize
  OPT    = -O1
  CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(WERROR),1)
  CFLAGS += -Werror
endif
# The CUDA backend: sm_80 and sm_90 code plus sm_90 PTX; cuBLAS for the matrix products.
CUDA_HOME ?= /usr/local/cuda
NVCC      := $(CUDA_HOME)/bin/nvcc
NVFLAGS   := -std=c++17 -O3 -g -lineinfo -D_GNU_SOURCE --expt-relaxed-constexpr \
             -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90] \
             -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-fopenmp
ifeq ($(CUDA),1)
  BUILD := $(BUILD)-cuda
  CPPFLAGS += -DLRPE_CUDA
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
  ifeq ($(WERROR),1)
    NVFLAGS += -Werror all-warnings -Xcompiler -Werror
  endif
endif
# MPI: `lrpe run` under mpirun or srun trains each run over the ranks (harness/run/dist.c)
ifeq ($(MPI),1)
  BUILD := $(BUILD)-mpi
  CC := mpicc
  CPPFLAGS += -DLRPE_MPI
endif
ifeq ($(NATIVE),1)
  OPT += -march=native
endif
CFLAGS += $(OPT)
ifeq ($(SANITIZE),1)
  # attention's small-product kernel keeps its accumulators in registers only when optimized: at
  # -O1 the sanitizer pass of the tests ran 10-30x slower
  $(BUILD)/core/gemm_avx512.o $(BUILD)/core/gemm_avx2.o: CFLAGS += -O2
endif

CORE_SRC    := $(wildcard util/*.c) $(wildcard core/*.c) $(wildcard encodings/*.c) $(wildcard backend/*.c) \
               $(wildcard model/*.c) $(wildcard tasks/*.c)
# without CUDA a stub answers every request for the GPU (backend/cuda_stub.c)
ifeq ($(CUDA),1)
  CORE_SRC := $(filter-out backend/cuda_stub.c,$(CORE_SRC))
  CU_SRC   := $(wildcard backend/cuda/*.cu)
endif
HARNESS_SRC := $(filter-out harness/cli/main.c,$(wildcard harness/*/*.c))
TEST_SRC    := $(wildcard tests/*.c)
LIB_OBJ     := $(patsubst %.c,$(BUILD)/%.o,$(CORE_SRC) $(HARNESS_SRC)) $(patsubst %.cu,$(BUILD)/%.o,$(CU_SRC))
MAIN_OBJ    := $(BUILD)/harness/cli/main.o
TEST_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(TEST_SRC))

.PHONY: all test deps clean lrpe
all: lrpe

# ./lrpe always points at the build of the current mode (re-linked every time: it is a symlink)
lrpe: $(BUILD)/lrpe
	ln -sf $< $@

$(BUILD)/lrpe: $(MAIN_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the tests count our own heap allocations (tests/alloc_count.c)
WRAP_ALLOC := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc
$(BUILD)/lrpe_tests: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) $(WRAP_ALLOC) -o $@ $^ $(LDLIBS)

# the build's identity lives in one object, rebuilt every time, so nothing names a stale commit
BUILD_ID := -DLRPE_VERSION='"$(VERSION)"' -DLRPE_GIT='"$(GIT)"' -DLRPE_CFLAGS='"$(strip $(CFLAGS))"'
$(BUILD)/util/version.o: CPPFLAGS += $(BUILD_ID)
$(BUILD)/util/version.o: FORCE
# the source tree, where a built lrpe finds data/ and scripts/ when it is not installed (paths.c)
$(BUILD)/harness/cli/paths.o: CPPFLAGS += -DLRPE_SOURCE_DIR='"$(CURDIR)"'
.PHONY: FORCE
FORCE:

# the flags that shape every object (-Werror does not), rewritten only when they change: an edit
# of CFLAGS rebuilds the objects rather than linking old ones with new. Expanded here, once: a
# target's own flags (version.o's commit) must not reach it
FLAGS_STAMP := $(BUILD)/cflags.txt
CODE_FLAGS := $(CC) $(CPPFLAGS) $(filter-out -Werror,$(CFLAGS))
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CODE_FLAGS)' | cmp -s - $@ || echo '$(CODE_FLAGS)' > $@

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(call incs,$<) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(call incs,$<) $(CPPFLAGS) $(NVFLAGS) -c -o $@ $<

deps:
	@bash scripts/install-deps.sh

# Prepares the datasets under data/ and checks their checksums (scripts/prepare-data.sh; quick when done)
.PHONY: data
data:
	@bash scripts/prepare-data.sh

# Tests run with a fixed thread count so results (and the determinism test) do not depend on
# the machine, and with OpenMP threads that sleep rather than spin while waiting (unless the caller
# sets OMP_WAIT_POLICY): on a shared, busy machine spinning threads made a learning test 4x slower
# (76.7 s vs 18.3 s). LRPE_TEST_FILTER=substring runs a subset. Where Open MPI's mpicc is installed
# the MPI build (build/release-mpi/lrpe) is made too, for the MPI tests of tests/test_cluster.c.
test: deps data
	@$(MAKE) --no-print-directory lrpe $(BUILD)/lrpe_tests
	@if command -v mpicc >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory MPI=1 SANITIZE= CUDA= BUILD=build/release-mpi build/release-mpi/lrpe; fi
	LRPE_MPI_BIN=$${LRPE_MPI_BIN:-build/release-mpi/lrpe} LRPE_THREADS=$${LRPE_THREADS:-2} \
		OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} $(BUILD)/lrpe_tests $(LRPE_TEST_FILTER)

# The whole study: installs what is missing, prepares the data, builds, trains every experiment of
# experiments/paper/ at TIER (smoke | default | full; see scripts/reproduce.sh) and writes the report.
TIER ?= default
.PHONY: reproduce
reproduce: deps data
	@$(MAKE) --no-print-directory lrpe
	bash scripts/reproduce.sh $(TIER)

clean:
	rm -rf build lrpe

# Installs lrpe under $(DESTDIR)$(PREFIX): bin/lrpe; share/man/man1/lrpe.1 and the bash completion,
# both generated by the binary from its own option tables and key schema (lrpe help --man,
# lrpe help --bash-completion); share/lrpe/ with the data preparation (scripts/) that `lrpe data`
# runs into share/lrpe/data/, and the study's specs (experiments/). INSTALL_BIN installs another
# build of lrpe (the tests install the binary they test). make uninstall removes all of it, the
# prepared data included.
PREFIX      ?= /usr/local
INSTALL_BIN ?= $(BUILD)/lrpe
SHARE_DIR    = $(DESTDIR)$(PREFIX)/share/lrpe
MAN_PAGE     = $(DESTDIR)$(PREFIX)/share/man/man1/lrpe.1
COMPLETION   = $(DESTDIR)$(PREFIX)/share/bash-completion/completions/lrpe
.PHONY: install uninstall
install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE_DIR)/scripts $(dir $(MAN_PAGE)) $(dir $(COMPLETION))
	install -m 755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/lrpe
	install -m 755 scripts/prepare-data.sh scripts/install-deps.sh $(SHARE_DIR)/scripts/
	install -m 644 scripts/data.sha256 $(SHARE_DIR)/scripts/
	cp -R experiments $(SHARE_DIR)/
	$(INSTALL_BIN) help --man > $(MAN_PAGE).tmp && mv $(MAN_PAGE).tmp $(MAN_PAGE)
	$(INSTALL_BIN) help --bash-completion > $(COMPLETION).tmp && mv $(COMPLETION).tmp $(COMPLETION)
	@echo "installed $(DESTDIR)$(PREFIX)/bin/lrpe; prepare the datasets with: lrpe data"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/lrpe $(MAN_PAGE) $(COMPLETION)
	rm -rf $(SHARE_DIR)

-include $(shell find build -name '*.d' 2>/dev/null)

# The CUDA backend run on the CPU under a host emulator of CUDA (tests/cuda_emu/): make cuda-emu-test
include tests/cuda_emu/emu.mk

# Side-by-side timing of a training step (lrpe bench) with each OpenBLAS threading variant (A B A B);
# needs libopenblas-pthread-dev as well. See README, "Threads". BLAS_BENCH_ARGS: lrpe bench's keys.
BLAS_BENCH_ARGS ?= task.kind=synthetic task.dataset=copy task.vocab=256 task.seq_len=256 train.batch=16 \
                   model.d_model=256 model.layers=4 --steps 10
.PHONY: bench-blas-variant
bench-blas-variant:
	@dpkg-query -W libopenblas-pthread-dev >/dev/null 2>&1 || { echo "bench-blas-variant: needs libopenblas-pthread-dev (apt-get install -y libopenblas-pthread-dev)" >&2; exit 2; }
	@$(MAKE) --no-print-directory BLAS=openmp BUILD=build/bench-openmp build/bench-openmp/lrpe
	@$(MAKE) --no-print-directory BLAS=pthread BUILD=build/bench-pthread build/bench-pthread/lrpe
	@for i in 1 2 3; do for v in openmp pthread; do echo "== OpenBLAS $$v build"; \
		build/bench-$$v/lrpe bench --no-db $(BLAS_BENCH_ARGS) 2>/dev/null | tail -1; done; done

# The matrix products of a training step at the model's shapes with OpenBLAS, BLIS and libxsmm side
# by side, and lrpe's bf16 and fp32 kernels (bench/blas_libs.c; README, "Performance"). OpenBLAS runs the core lrpe itself selects
# (lrpe version) unless OPENBLAS_CORETYPE is set. BENCH_ROUNDS: rounds of A B C (default 5).
BENCH_ROUNDS ?= 5
GEMM_OBJ := $(addprefix $(BUILD)/core/,gemm.o gemm_small.o gemm_avx512.o gemm_avx2.o gemm_bf16.o)
.PHONY: bench-blas
bench-blas: lrpe
	@LRPE_DEPS_FIX="make bench-blas" bash scripts/install-deps.sh libblis-openmp-dev libxsmm-dev
	@mkdir -p $(BUILD)/bench
	$(CC) -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -fopenmp -Icore bench/blas_libs.c $(GEMM_OBJ) -o $(BUILD)/bench/blas_libs \
		$(LDFLAGS) -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas /usr/lib/libxsmm.a /usr/lib/libxsmmnoblas.a -ldl -lm
	@core=$${OPENBLAS_CORETYPE:-$$(./lrpe version | sed -n 's/^blas core: \([^,]*\),.*/\1/p')}; \
		echo "OpenBLAS core $$core; OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive}"; \
		OPENBLAS_CORETYPE=$$core OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} $(BUILD)/bench/blas_libs $(BENCH_ROUNDS)

# This tree's kernel for the linear layers (core/gemm_small.c and the kernels it runs) and causal
# attention (core/attn_linear.c, attn_softmax.c) against the same files at BASE (a commit), on a
# shard of a step, in pairs on one thread (bench/pair.c; README, "Timed in pairs").
# PAIR_ARGS="d_model rows pairs"; taskset -c N make bench-pair times core N.
BASE ?= HEAD~1
PAIR_DIR := $(BUILD)/bench/pair
PAIR_SRC := gemm_small gemm_avx512 gemm_avx2 attn_linear attn_softmax
.PHONY: bench-pair
bench-pair: lrpe
	@rm -rf $(PAIR_DIR) && mkdir -p $(PAIR_DIR)
	@git archive $(BASE) core | tar -x -C $(PAIR_DIR) || { echo "bench-pair: cannot read core/ at BASE=$(BASE)" >&2; exit 2; }
	@# the base's files compile against the base's headers (beside them); its kernels came in files of their own later
	@for f in $(PAIR_SRC); do [ -f $(PAIR_DIR)/core/$$f.c ] || continue; \
		$(CC) $(INC_util) $(CPPFLAGS) $(CFLAGS) -c -o $(PAIR_DIR)/$$f.o $(PAIR_DIR)/core/$$f.c || exit 2; done
	@# every global of the base's products renamed *_base in all its objects (its gemm_avx512 is gemm_own_base),
	@# so that the base's attention calls the base's small products; the attention objects keep only their kernel
	@nm --defined-only -g $(PAIR_DIR)/gemm_*.o | awk 'NF == 3 {print $$3, ($$3 == "gemm_avx512" ? "gemm_own" : $$3) "_base"}' \
		> $(PAIR_DIR)/small.syms
	@for f in $(PAIR_DIR)/gemm_*.o; do objcopy --redefine-syms=$(PAIR_DIR)/small.syms $$f || exit 2; done
	@for f in attn_linear attn_softmax; do objcopy --redefine-syms=$(PAIR_DIR)/small.syms --redefine-sym $$f=$${f}_base \
		--keep-global-symbol=$${f}_base $(PAIR_DIR)/$$f.o || exit 2; done
	$(CC) $(INC_core) $(CPPFLAGS) $(CFLAGS) bench/pair.c $(PAIR_DIR)/*.o \
		$(filter $(BUILD)/core/% $(BUILD)/util/%,$(LIB_OBJ)) -o $(PAIR_DIR)/pair $(LDFLAGS) $(LDLIBS)
	@echo "== this tree against $(BASE) ($$(git rev-parse --short $(BASE)))"
	OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive $(PAIR_DIR)/pair $(PAIR_ARGS)

# Forward + backward time per token of causal linear vs softmax attention at T = 256 .. 16384 with
# the tokens per call held constant (linear should stay flat). BENCH_ARGS="reps tokens [linear|softmax]".
.PHONY: bench-attn
bench-attn:
	@$(MAKE) --no-print-directory $(BUILD)/attn_scaling
	$(BUILD)/attn_scaling $(BENCH_ARGS)

$(BUILD)/attn_scaling: $(BUILD)/bench/attn_scaling.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# lrpe against the same model in PyTorch (bench/torch_peer.py), A B A B per configuration; needs
# python3-torch. Knobs: REPS=3 THREADS=2 OUT=bench/peer-results.tsv (see bench/peer.sh).
.PHONY: bench-peer
bench-peer: deps
	@LRPE_DEPS_FIX="make bench-peer" bash scripts/install-deps.sh python3-torch
	@$(MAKE) --no-print-directory lrpe
	@bash bench/peer.sh

# libFuzzer targets of fuzz/, one per parser of outside input (fuzz/README.md), built with clang
# under AddressSanitizer + UndefinedBehaviorSanitizer into build/fuzz/ and run FUZZ_SECONDS each
# by fuzz/run.sh (corpora, dictionaries, limits, one summary line per target, and on a crash, leak,
# timeout or OOM a failure naming the target and the input). FUZZ_TARGETS="spec merge" runs some.
# The library is compiled with clang as well; its OpenMP pragmas then need LLVM's runtime
# (libomp-14-dev; GCC's libgomp, which OpenBLAS loads, stays beside it): the parsers fuzzed here
# never enter a parallel region, so the two runtimes never both run. -Wno-pass-failed: clang
# reports every `omp simd` loop it does not vectorize at -O1 with sanitizers.
FUZZ_SECONDS ?= 60
FUZZ_ALL     := spec safetensors checkpoint lm imgcls wordnet mail merge
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-pass-failed -fopenmp -g -O1 \
                -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(CORE_SRC) $(HARNESS_SRC))

.PHONY: fuzz fuzz-build
fuzz: deps
	@bad="$(filter-out $(FUZZ_ALL),$(FUZZ_TARGETS))"; [ -z "$$bad" ] || \
		{ echo "make fuzz: unknown FUZZ_TARGETS:$$bad (there are: $(FUZZ_ALL))" >&2; exit 2; }
	@LRPE_DEPS_FIX="make fuzz" bash scripts/install-deps.sh clang libclang-rt-14-dev libomp-14-dev
	@$(MAKE) --no-print-directory fuzz-build
	@bash fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))
# the targets' own objects come from a pattern rule: keep them (make deletes intermediate files)
.SECONDARY: $(patsubst %,$(FUZZ_BUILD)/obj/fuzz/fuzz_%.o,$(FUZZ_ALL) util)

$(FUZZ_BUILD)/obj/util/version.o: CPPFLAGS += $(BUILD_ID)
$(FUZZ_BUILD)/obj/util/version.o: FORCE

$(FUZZ_BUILD)/liblrpe.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz/fuzz_%.o $(FUZZ_BUILD)/obj/fuzz/fuzz_util.o $(FUZZ_BUILD)/liblrpe.a
	clang -fsanitize=fuzzer $(FUZZ_SAN) -fopenmp -o $@ $^ $(LDLIBS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(call incs,$<) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<
