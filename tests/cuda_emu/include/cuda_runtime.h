/* The CUDA emulator of the test tier `make cuda-emu-test` (tests/cuda_emu/emu.mk): the part of the
 * CUDA runtime API and of the CUDA C++ device language that backend/cuda/ uses, implemented on the
 * CPU, so that the CUDA backend's kernels run unmodified (after cu2cpp.pl) under the project's own
 * test suite, with AddressSanitizer and UndefinedBehaviorSanitizer. It is NOT a GPU, and says so:
 * cudaGetDeviceProperties names the device "emulated GPU (...)", so backend_gpus reports it, and the
 * first device query prints one line saying that the runtime is emulated.
 *
 * How it runs
 * - cu2cpp.pl copies backend/cuda/ into build/cuda-emu/src/, rewriting the two things C++ cannot
 *   parse: launches k<<<grid, block, smem, stream>>>(args) become
 *   emu::launch(k, "k", __FILE__, __LINE__, emu::cfg(grid, block, smem, stream))(args), and
 *   __shared__ declarations become references to the block's shared memory (emu::shared,
 *   emu::dynamic_shared). A #line keeps every file:line that of the original source.
 * - A launch runs its blocks one at a time, in a shuffled but fixed order. The threads of a block are
 *   fibers on one OS thread (own stacks, cooperative switches): a thread runs until __syncthreads or
 *   a warp intrinsic, then the first runnable thread in priority order runs; a barrier opens when all
 *   threads of the block (or the 32 lanes of the warp) have arrived, and then too the first thread in
 *   priority order goes on (not the one that arrived last). Priority: thread 0 first or
 *   thread n-1 first, alternating from block to block (the first block's picked by a hash of
 *   the launch's number), so one warp runs ahead to the next __syncthreads before the next warp starts, and a
 *   missing barrier (between warps, or between lanes without __syncwarp) shows up whichever side
 *   writes first. Deterministic: the same run gives the same bits. LRPE_CUDA_EMU_STATS=1 prints, at
 *   exit, the launches and blocks of every launch site (which kernels the tests ran).
 * - Warp intrinsics (__shfl*_sync, __ballot/__any/__all_sync, __syncwarp) exchange values through a
 *   per-warp buffer at a warp barrier.
 * - Device memory is host memory (256-byte aligned), filled with 0xFF bytes (NaN floats, -1 ints) by
 *   cudaMalloc, and ASan-poisoned while host code runs: host code that dereferences a device pointer
 *   gets an ASan "use-after-poison" report. A launch unpoisons, for its duration, the allocations its
 *   arguments point into (a kernel may reach device memory only through its arguments).
 * - Streams are one in-order queue executed at once, except device-to-host copies into pinned
 *   memory: they wait for the next synchronization (or the next operation), and the destination is
 *   poisoned until then, so reading it before cudaStreamSynchronize is an ASan report.
 * - cuBLAS (cublas_v2.h) runs on OpenBLAS (emu_cublas.cpp).
 *
 * Checked: launch configuration (block <= 1024 threads, grid limits, __launch_bounds__, dynamic
 * shared memory above 48 KiB without cudaFuncSetAttribute, static shared above 48 KiB, static +
 * dynamic above sm_80's 163 KiB), kernel arguments that point into host memory, out-of-bounds device
 * or shared memory (ASan), __syncthreads not reached by every thread of the block, full-mask warp
 * intrinsics with missing or exited lanes or with lanes in different intrinsics, deadlocks, memcpy
 * directions and ranges, cuBLAS arguments (leading dimensions, matrix extents inside one allocation).
 * Uninitialized shared or device memory reads as NaN / -1.
 *
 * NOT emulated: timing, concurrency and the GPU memory model (blocks never run at the same time, so
 * races between blocks and missing fences are not seen; no caches, no weak ordering, no torn reads);
 * warp-level races beyond the exchange of the intrinsics (lanes do not run in lockstep: code that
 * needs lockstep without __syncwarp fails here, as it may under Volta's independent scheduling);
 * partial-mask warp intrinsics; atomics; device float arithmetic bit for bit (host libm expf / logf /
 * sincos, no fused multiply-add contraction, which nvcc does by default: results agree within
 * rounding, not bitwise); TF32 / BF16 tensor cores (inputs are rounded, products run in float);
 * registers and occupancy (__launch_bounds__ only caps the block size); events, graphs, multiple
 * devices or streams running concurrently, unified memory, textures, cooperative groups, dynamic
 * parallelism, printf in kernels. */
#ifndef LRPE_CUDA_EMU_RUNTIME_H
#define LRPE_CUDA_EMU_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>

/* ------------------------------------------------------------------ runtime API types */

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorLaunchOutOfResources = 701,
} cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01

typedef struct emu_stream *cudaStream_t;

/* library_types.h */
typedef enum cudaDataType_t { CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType;
typedef enum libraryPropertyType_t { MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL } libraryPropertyType;

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin;
    int major, minor, warpSize, maxThreadsPerBlock, multiProcessorCount;
    int maxThreadsDim[3], maxGridSize[3];
};

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

/* ------------------------------------------------------------------ runtime API (emu_runtime.cpp) */

/* Device memory: host memory filled with 0xFF, ASan-poisoned outside kernels and copies. */
cudaError_t cudaMalloc(void **p, size_t bytes);
template <class T> static inline cudaError_t cudaMalloc(T **p, size_t bytes) { return cudaMalloc((void **)p, bytes); }
/* Frees device memory (waits for the stream first, as the real one does). */
cudaError_t cudaFree(void *p);
/* Pinned host memory: ordinary host memory that kernels may also read. */
cudaError_t cudaMallocHost(void **p, size_t bytes);
template <class T> static inline cudaError_t cudaMallocHost(T **p, size_t bytes) {
    return cudaMallocHost((void **)p, bytes);
}
cudaError_t cudaFreeHost(void *p);
/* Copies at once, except device-to-host into pinned memory (deferred to the next sync). */
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s = 0);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
/* What is left of the notional device memory (totalGlobalMem). */
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
/* Streams: one in-order queue, run at once; synchronize performs the deferred copies. */
cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize(void);
/* One emulated device, 0. */
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
/* The "emulated GPU": sm_80's limits (the oldest target of `make CUDA=1`), 16 GiB notional memory. */
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
/* 0: there is no driver and no CUDA runtime. */
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaRuntimeGetVersion(int *v);
/* Records a kernel's opt-in to more than 48 KiB of dynamic shared memory (checked at launch). */
cudaError_t cudaFuncSetAttribute(const void *kernel, cudaFuncAttribute attr, int value);
template <class T> static inline cudaError_t cudaFuncSetAttribute(T *kernel, cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute((const void *)kernel, attr, value);
}
/* The error of the last failed call or launch (cleared by GetLastError, kept by PeekAtLastError). */
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);

/* ------------------------------------------------------------------ device language */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...) /* cu2cpp.pl turns these into emu::launch_bounds */

/* The running thread's coordinates (set by the scheduler at every switch). */
extern thread_local uint3 threadIdx, blockIdx;
extern thread_local dim3 blockDim, gridDim;
static constexpr int warpSize = 32;

/* Block barrier: every thread of the block must arrive (none may have exited). */
void __syncthreads(void);

namespace emu {
enum warp_kind { WARP_SHFL = 1, WARP_VOTE, WARP_SYNC };
/* The running thread's lane (0..31). */
int lane(void);
/* A full-mask warp exchange: publishes v, waits for the 32 lanes, returns the values of all lanes
 * (valid until this lane's next warp intrinsic). */
const uint64_t *warp_exchange(unsigned mask, int kind, uint64_t v);
/* The source lane of a shuffle that reads `src` in sections of `width` lanes: src within the
 * caller's section, or the caller's own lane when src lies in a later section (CUDA's rule). */
static inline int shfl_lane(int src, int width) {
    const int me = lane(), base = me & ~(width - 1);
    return src >= base + width ? me : src;
}
template <class T> static inline T shfl(unsigned mask, T v, int src) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a 4- or 8-byte value");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    const uint64_t *all = warp_exchange(mask, WARP_SHFL, bits);
    T r;
    memcpy(&r, &all[src], sizeof r);
    return r;
}
} // namespace emu

template <class T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    return emu::shfl(mask, v, (emu::lane() & ~(width - 1)) + (src & (width - 1)));
}
template <class T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    return emu::shfl(mask, v, emu::shfl_lane(emu::lane() ^ lane_mask, width));
}
template <class T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    const int me = emu::lane();
    return emu::shfl(mask, v, (me & (width - 1)) + (int)delta < width ? me + (int)delta : me);
}
template <class T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    const int me = emu::lane();
    return emu::shfl(mask, v, (me & (width - 1)) >= (int)delta ? me - (int)delta : me);
}
/* Bit i set when lane i's predicate is non-zero. */
static inline unsigned __ballot_sync(unsigned mask, int pred) {
    const uint64_t *all = emu::warp_exchange(mask, emu::WARP_VOTE, pred != 0);
    unsigned bits = 0;
    for (int i = 0; i < 32; i++) bits |= (unsigned)all[i] << i;
    return bits;
}
static inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
static inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == 0xffffffffu; }
static inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::warp_exchange(mask, emu::WARP_SYNC, 0); }
static inline unsigned __activemask(void) { return 0xffffffffu; }

/* Rounded arithmetic: plain IEEE operations (the emulator is compiled with -ffp-contract=off). */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __frcp_rn(float a) { return 1.0f / a; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
/* Fast-math intrinsics: the accurate host functions (glibc's math.h declares __expf, __logf, ...). */
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
/* Bit casts and bit counts. */
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }
static inline long long __double_as_longlong(double d) { long long i; memcpy(&i, &d, 8); return i; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
/* CUDA's min / max overloads. */
#define EMU_MINMAX(T)                                          \
    static inline T min(T a, T b) { return b < a ? b : a; }    \
    static inline T max(T a, T b) { return a < b ? b : a; }
EMU_MINMAX(int)
EMU_MINMAX(unsigned)
EMU_MINMAX(long)
EMU_MINMAX(unsigned long)
EMU_MINMAX(long long)
EMU_MINMAX(unsigned long long)
EMU_MINMAX(float)
EMU_MINMAX(double)
#undef EMU_MINMAX
static inline double min(float a, double b) { return min((double)a, b); }
static inline double min(double a, float b) { return min(a, (double)b); }
static inline double max(float a, double b) { return max((double)a, b); }
static inline double max(double a, float b) { return max(a, (double)b); }

/* ------------------------------------------------------------------ launches and shared memory */

namespace emu {

/* The launch configuration <<<grid, block, smem, stream>>>. */
struct cfg {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    cfg(dim3 g, dim3 b, size_t s = 0, cudaStream_t st = 0) : grid(g), block(b), smem(s), stream(st) {}
};

/* One kernel argument as the launch checks it: a pointer (must be device memory, pinned or NULL),
 * or the bytes of a by-value struct (its pointers are checked the same way). */
struct arg_desc {
    const void *ptr;
    size_t bytes; // 0: ptr is the argument's value; > 0: ptr points to the argument's bytes
};
template <class T> static inline arg_desc describe(const T &v) {
    if constexpr (std::is_pointer<T>::value) return {(const void *)v, 0};
    else if constexpr (std::is_class<T>::value) return {(const void *)&v, sizeof(T)};
    else return {nullptr, 0};
}

/* Checks a launch and runs body(state) on every thread of every block; sets the last error on a
 * bad configuration (the kernel does not run then). */
void run(const void *kernel, const char *name, const char *file, int line, const cfg &c, const arg_desc *args,
         int nargs, void (*body)(void *), void *state);

/* The launcher that cu2cpp.pl writes in place of <<< >>>: converts the arguments to the kernel's
 * parameter types, as a call would, and runs it. */
template <class... P> struct launcher {
    void (*kernel)(P...);
    const char *name, *file;
    int line;
    cfg c;
    void operator()(P... a) const { // the arguments convert as in a call of the kernel
        struct state_t {
            void (*k)(P...);
            std::tuple<std::decay_t<P>...> args;
        } st{kernel, std::tuple<std::decay_t<P>...>(a...)};
        go(st, std::index_sequence_for<P...>{});
    }
    template <class S, size_t... I> void go(S &st, std::index_sequence<I...>) const {
        const arg_desc d[sizeof...(I) + 1] = {describe(std::get<I>(st.args))..., {nullptr, 0}};
        run((const void *)kernel, name, file, line, c, d, (int)sizeof...(I),
            [](void *p) { std::apply(((S *)p)->k, ((S *)p)->args); }, &st);
    }
};
template <class... P>
static inline launcher<P...> launch(void (*kernel)(P...), const char *name, const char *file, int line, cfg c) {
    return launcher<P...>{kernel, name, file, line, c};
}

/* __launch_bounds__(n) of a kernel: a launch with more threads per block fails, as on the GPU. */
int launch_bounds(const void *kernel, int max_threads);

/* Static shared memory: one instance per block of each `__shared__` declaration (slot), 0xFF-filled. */
int new_shared_slot(void);
void *shared_slot(int slot, size_t bytes, size_t align);
template <class T, class Site> static inline T &shared(Site) {
    static const int slot = new_shared_slot(); // one per declaration (each lambda has its own type)
    return *(T *)shared_slot(slot, sizeof(T), alignof(T));
}
/* The block's dynamic shared memory (the launch's smem bytes, 0xFF-filled). */
void *dynamic_shared(void);

} // namespace emu

#endif
