/* What emu_runtime.cpp shares with emu_cublas.cpp (tests/cuda_emu/; see include/cuda_runtime.h). */
#ifndef LRPE_CUDA_EMU_INTERNAL_H
#define LRPE_CUDA_EMU_INTERNAL_H

#include "cuda_runtime.h"

namespace emu {

/* One allocation of the emulator: device memory (cudaMalloc) or pinned host memory (cudaMallocHost). */
struct region {
    uintptr_t begin;
    size_t bytes;
    bool pinned;
};
/* The allocation that holds p (one past its end counts as inside); false when p is in none. */
bool find_region(const void *p, region *r);
/* 1 when [p, p + bytes) lies inside one device allocation. */
bool device_range(const void *p, size_t bytes);
/* Device memory as the emulator's own host code touches it: unpoisoned between open and close. */
void open_range(const void *p, size_t bytes);
void close_range(const void *p, size_t bytes);
/* Performs the deferred device-to-host copies (every stream operation starts with it). */
void flush(void);
/* 1 for stream 0 and every stream created and not destroyed. */
bool valid_stream(cudaStream_t s);
/* One line "cuda-emu: ..." on stderr. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A bug the GPU would have too: one line, the stack (under ASan), abort. */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace emu

#endif
