# The CUDA backend on the CPU, under the CUDA emulator of tests/cuda_emu/ (what it emulates and what
# not: tests/cuda_emu/include/cuda_runtime.h). `make cuda-emu-test` builds build/cuda-emu/lrpe_tests:
# lrpe's C sources and tests as for `make CUDA=1`, plus backend/cuda/*.cu compiled as C++ by g++
# against the emulator after cu2cpp.pl rewrote their launches into build/cuda-emu/src/ (never the
# source tree), everything under AddressSanitizer + UndefinedBehaviorSanitizer at -O1. It then runs
# the tests whose names contain `backend` (every op, both attention kernels, the optimizer and the
# whole model on the CUDA backend against the CPU), `gpu_checkpoint` and `golden_cuda` (every PyTorch
# golden fixture on the CUDA backend), and fails when one of them
# fails or is skipped (under emulation the CUDA backend always opens). Included by the Makefile.

EMU_DIR   := tests/cuda_emu
EMU_BUILD := build/cuda-emu
EMU_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# lrpe's C flags at -O1 (as SANITIZE=1), with the CUDA entry points instead of the stub
EMU_CFLAGS   = $(filter-out -O%,$(CFLAGS)) -O1 $(EMU_SAN)
EMU_CPPFLAGS = $(CPPFLAGS) -DLRPE_CUDA
# -O2 for attention's small-product kernel, as in the SANITIZE=1 build (Makefile)
$(EMU_BUILD)/obj/core/gemm_small.o: EMU_CFLAGS += -O2
# the kernels as nvcc's host compiler sees them (NVFLAGS), no fused multiply-add contraction
EMU_CXXFLAGS := -std=c++17 -g -O1 $(EMU_SAN) -ffp-contract=off -Wall -Wextra -Wno-unused-parameter \
                -Wno-unknown-pragmas $(if $(filter 1,$(WERROR)),-Werror)
EMU_LDLIBS   := -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas -lsqlite3 -lyaml -lz -lm

EMU_C_SRC := $(filter-out backend/cuda_stub.c harness/cli/main.c,$(wildcard util/*.c core/*.c encodings/*.c \
               backend/*.c model/*.c tasks/*.c harness/*/*.c tests/*.c))
EMU_CU    := $(wildcard backend/cuda/*.cu)
EMU_GEN   := $(patsubst backend/cuda/%,$(EMU_BUILD)/src/%,$(EMU_CU) $(wildcard backend/cuda/*.cuh))
EMU_HDR   := $(wildcard $(EMU_DIR)/*.h $(EMU_DIR)/include/*.h)
EMU_OBJ   := $(patsubst %.c,$(EMU_BUILD)/obj/%.o,$(EMU_C_SRC)) \
             $(patsubst backend/cuda/%.cu,$(EMU_BUILD)/cu/%.o,$(EMU_CU)) \
             $(EMU_BUILD)/emu/emu_runtime.o $(EMU_BUILD)/emu/emu_cublas.o

.PHONY: cuda-emu-test cuda-emu-build
cuda-emu-build: $(EMU_BUILD)/lrpe_tests

# Each filter's output goes to the terminal and to build/cuda-emu/<filter>.log. A skipped CUDA test
# (cuda or gpu in its name) fails it; a CPU test of the same filters may skip for its own reason
# (the bf16 linear layer on a CPU without AVX512-BF16).
cuda-emu-test: $(EMU_BUILD)/lrpe_tests
	@for f in backend gpu_checkpoint golden_cuda; do \
		echo "== $(EMU_BUILD)/lrpe_tests $$f (the CUDA backend, emulated on the CPU)"; \
		{ LRPE_THREADS=$${LRPE_THREADS:-2} OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} \
		  $(EMU_BUILD)/lrpe_tests $$f 2>&1; echo $$? > $(EMU_BUILD)/$$f.rc; } | tee $(EMU_BUILD)/$$f.log; \
		[ "$$(cat $(EMU_BUILD)/$$f.rc)" = 0 ] || exit 1; \
		if grep -Eq '^skip [^:]*(cuda|gpu)' $(EMU_BUILD)/$$f.log; then \
			echo "cuda-emu-test: a CUDA test was skipped; under emulation every CUDA test must run" >&2; exit 1; fi; \
	done

$(EMU_BUILD)/lrpe_tests: $(EMU_OBJ)
	$(CXX) $(LDFLAGS) $(EMU_SAN) $(WRAP_ALLOC) -o $@ $^ $(EMU_LDLIBS)

$(EMU_BUILD)/obj/util/version.o: CPPFLAGS += $(BUILD_ID)
$(EMU_BUILD)/obj/util/version.o: FORCE

$(EMU_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(call incs,$<) $(EMU_CPPFLAGS) $(EMU_CFLAGS) -c -o $@ $<

.SECONDARY: $(EMU_GEN)
# the rewritten CUDA sources (.cu and .cuh side by side, so their includes find each other)
$(EMU_BUILD)/src/%: backend/cuda/% $(EMU_DIR)/cu2cpp.pl
	@mkdir -p $(dir $@)
	perl $(EMU_DIR)/cu2cpp.pl $< $@

$(EMU_BUILD)/cu/%.o: $(EMU_BUILD)/src/%.cu $(EMU_GEN) $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) -x c++ -I$(EMU_DIR)/include $(INC_backend) $(EMU_CPPFLAGS) $(EMU_CXXFLAGS) -c -o $@ $<

$(EMU_BUILD)/emu/%.o: $(EMU_DIR)/%.cpp $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) -I$(EMU_DIR)/include -I$(EMU_DIR) $(EMU_CPPFLAGS) $(EMU_CXXFLAGS) -c -o $@ $<
