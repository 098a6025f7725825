// The CUDA emulator's runtime (tests/cuda_emu/; what it does and does not emulate: include/cuda_runtime.h):
// memory, copies, streams, errors, the emulated device, and the scheduler that runs a launch's
// blocks, one thread per fiber.
#include "emu_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#if !defined(__x86_64__) || defined(EMU_UCONTEXT)
#include <ucontext.h>
#endif

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
extern "C" int __sanitizer_get_ownership(const volatile void *p); // allocator_interface.h, not in GCC's headers
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace emu {

// sm_80 (A100), the oldest target of `make CUDA=1`: the strictest limits of the GPUs the code runs on.
static const size_t SMEM_DEFAULT = 48 << 10;  // shared memory per block without opt-in (static, or dynamic)
static const size_t SMEM_OPTIN = 166912;      // static + dynamic per block with cudaFuncSetAttribute
static const size_t TOTAL_MEM = (size_t)16 << 30; // notional device memory (cudaMalloc fails beyond it)
static const unsigned char POISON = 0xFF;     // fresh device / shared memory: NaN floats, -1 ints

// ------------------------------------------------------------------ messages and errors

void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cuda-emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cuda-emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
#if EMU_ASAN
    __sanitizer_print_stack_trace();
#endif
    abort();
}

static thread_local cudaError_t last_error = cudaSuccess;

// Records a failed call's error (as the runtime does) and returns it.
static cudaError_t fail(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}

// ------------------------------------------------------------------ memory

static std::mutex mem_mu;
static std::map<uintptr_t, region> regions; // by first byte
static size_t device_bytes;                  // live cudaMalloc bytes

// ASan: makes [p, p + n) unaddressable (an access is a "use-after-poison" report), or addressable again.
static void poison(const void *p, size_t n) {
#if EMU_ASAN
    if (n) __asan_poison_memory_region(p, n);
#endif
}
static void unpoison(const void *p, size_t n) {
#if EMU_ASAN
    if (n) __asan_unpoison_memory_region(p, n);
#endif
}

bool find_region(const void *p, region *r) {
    std::lock_guard<std::mutex> g(mem_mu);
    const uintptr_t a = (uintptr_t)p;
    auto it = regions.upper_bound(a);
    if (it == regions.begin()) return false;
    --it;
    if (a > it->second.begin + it->second.bytes) return false;
    *r = it->second;
    return true;
}

bool device_range(const void *p, size_t bytes) {
    region r;
    return find_region(p, &r) && !r.pinned && (uintptr_t)p + bytes <= r.begin + r.bytes;
}

void open_range(const void *p, size_t bytes) {
    if (device_range(p, bytes)) unpoison(p, bytes);
}
void close_range(const void *p, size_t bytes) {
    if (device_range(p, bytes)) poison(p, bytes);
}

// A new allocation of `bytes` (256-byte aligned, as cudaMalloc), registered; NULL when out of memory.
static void *new_region(size_t bytes, bool pinned) {
    void *p = nullptr;
    if (posix_memalign(&p, 256, bytes ? bytes : 1)) return nullptr;
    std::lock_guard<std::mutex> g(mem_mu);
    regions[(uintptr_t)p] = region{(uintptr_t)p, bytes, pinned};
    if (!pinned) device_bytes += bytes;
    return p;
}

// Unregisters and frees the allocation that starts at p; false when p starts none of this kind.
static bool free_region(void *p, bool pinned) {
    region r;
    {
        std::lock_guard<std::mutex> g(mem_mu);
        auto it = regions.find((uintptr_t)p);
        if (it == regions.end() || it->second.pinned != pinned) return false;
        r = it->second;
        regions.erase(it);
        if (!pinned) device_bytes -= r.bytes;
    }
    unpoison(p, r.bytes);
    free(p);
    return true;
}

// ------------------------------------------------------------------ copies and the stream

struct pending_copy {
    void *dst;
    const void *src;
    size_t bytes;
};
static std::vector<pending_copy> pending; // device-to-host copies into pinned memory, not yet done

// Copies bytes between any mix of host and device memory.
static void copy_bytes(void *dst, const void *src, size_t bytes) {
    open_range(dst, bytes), open_range(src, bytes);
    memmove(dst, src, bytes);
    close_range(dst, bytes), close_range(src, bytes);
}

void flush(void) {
    for (const pending_copy &c : pending) {
        unpoison(c.dst, c.bytes);
        copy_bytes(c.dst, c.src, c.bytes);
    }
    pending.clear();
}

static std::set<cudaStream_t> streams;

bool valid_stream(cudaStream_t s) { return !s || streams.count(s); }

} // namespace emu

using namespace emu;

// The checks of one side of a copy: inside one device allocation, or host memory (not device).
static bool copy_side_ok(const char *what, const void *p, size_t bytes, bool device) {
    region r;
    const bool in = find_region(p, &r) && !r.pinned;
    if (device && !device_range(p, bytes)) {
        say("cudaMemcpy: the %s %p..+%zu is not inside one device allocation%s", what, p, bytes,
            in ? " (it runs past the end)" : " (a host pointer?)");
        return false;
    }
    if (!device && in) {
        say("cudaMemcpy: the %s %p is device memory, but the copy's kind says host", what, p);
        return false;
    }
    return true;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    if (!valid_stream(s)) return fail(cudaErrorInvalidResourceHandle);
    flush();
    if (!bytes) return cudaSuccess;
    if (kind == cudaMemcpyDefault) {
        region r;
        const bool dd = find_region(dst, &r) && !r.pinned, sd = find_region(src, &r) && !r.pinned;
        kind = dd ? (sd ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                  : (sd ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    }
    if ((unsigned)kind > cudaMemcpyDeviceToDevice) return fail(cudaErrorInvalidMemcpyDirection);
    const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (!copy_side_ok("destination", dst, bytes, dst_dev) || !copy_side_ok("source", src, bytes, src_dev))
        return fail(cudaErrorInvalidValue);
    region r;
    if (kind == cudaMemcpyDeviceToHost && find_region(dst, &r) && r.pinned) {
        // asynchronous for real: the bytes arrive at the next synchronization; reading them before is a bug
        pending.push_back({dst, src, bytes});
        poison(dst, bytes);
        return cudaSuccess;
    }
    copy_bytes(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, 0);
    flush();
    return e;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s) {
    if (!valid_stream(s)) return fail(cudaErrorInvalidResourceHandle);
    flush();
    if (!bytes) return cudaSuccess;
    if (!device_range(p, bytes)) {
        say("cudaMemset: %p..+%zu is not inside one device allocation", p, bytes);
        return fail(cudaErrorInvalidValue);
    }
    open_range(p, bytes);
    memset(p, value, bytes);
    close_range(p, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemset(void *p, int value, size_t bytes) { return cudaMemsetAsync(p, value, bytes, 0); }

cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = nullptr;
    {
        std::lock_guard<std::mutex> g(mem_mu);
        if (bytes > TOTAL_MEM - device_bytes) return fail(cudaErrorMemoryAllocation);
    }
    if (!bytes) return cudaSuccess;
    void *q = new_region(bytes, false);
    if (!q) return fail(cudaErrorMemoryAllocation);
    memset(q, POISON, bytes); // uninitialized, as on the GPU: NaN floats, -1 ints
    poison(q, bytes);
    *p = q;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    flush();
    if (!p) return cudaSuccess;
    if (!free_region(p, false)) {
        say("cudaFree(%p): not the start of a live device allocation", p);
        return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void **p, size_t bytes) {
    *p = new_region(bytes, true);
    return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

cudaError_t cudaFreeHost(void *p) {
    flush();
    if (!p) return cudaSuccess;
    if (!free_region(p, true)) {
        say("cudaFreeHost(%p): not a live pinned allocation", p);
        return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    std::lock_guard<std::mutex> g(mem_mu);
    *free_bytes = TOTAL_MEM - device_bytes, *total_bytes = TOTAL_MEM;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    *s = (cudaStream_t) new char; // a unique token
    streams.insert(*s);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    flush();
    if (!s || !streams.erase(s)) return fail(cudaErrorInvalidResourceHandle);
    delete (char *)s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    if (!valid_stream(s)) return fail(cudaErrorInvalidResourceHandle);
    flush();
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    flush();
    return cudaSuccess;
}

// ------------------------------------------------------------------ the device

cudaError_t cudaGetDeviceCount(int *n) {
    static std::once_flag told;
    std::call_once(told, [] { say("no GPU here: the CUDA runtime and cuBLAS are emulated on the CPU (tests/cuda_emu)"); });
    *n = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t cudaGetDevice(int *device) {
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "emulated GPU (tests/cuda_emu: CUDA emulated on the CPU, sm_80 limits)");
    p->totalGlobalMem = TOTAL_MEM;
    p->sharedMemPerBlock = SMEM_DEFAULT, p->sharedMemPerBlockOptin = SMEM_OPTIN;
    p->major = 8, p->minor = 0, p->warpSize = 32, p->maxThreadsPerBlock = 1024, p->multiProcessorCount = 1;
    p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = INT_MAX, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *v) {
    *v = 0;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *v) {
    *v = 0;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    }
    return "unknown error";
}

// ------------------------------------------------------------------ per-kernel facts

namespace {
struct kernel_facts {
    int max_threads = 1024;              // __launch_bounds__
    size_t max_dynamic = emu::SMEM_DEFAULT; // cudaFuncAttributeMaxDynamicSharedMemorySize
    size_t static_bytes = 0;             // static shared memory, known after its first block ran
    bool ran = false;
};
std::mutex facts_mu;
kernel_facts &facts(const void *kernel) { // under facts_mu
    static std::map<const void *, kernel_facts> *m = new std::map<const void *, kernel_facts>;
    return (*m)[kernel];
}
} // namespace

int emu::launch_bounds(const void *kernel, int max_threads) {
    std::lock_guard<std::mutex> g(facts_mu);
    facts(kernel).max_threads = max_threads;
    return 0;
}

cudaError_t cudaFuncSetAttribute(const void *kernel, cudaFuncAttribute attr, int value) {
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return fail(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> g(facts_mu);
    kernel_facts &f = facts(kernel);
    if (value < 0 || (size_t)value + f.static_bytes > SMEM_OPTIN) {
        say("cudaFuncSetAttribute: %d bytes of dynamic shared memory (+ %zu static) exceed sm_80's %zu", value,
            f.static_bytes, SMEM_OPTIN);
        return fail(cudaErrorInvalidValue);
    }
    f.max_dynamic = (size_t)value;
    return cudaSuccess;
}

// ------------------------------------------------------------------ fibers

namespace {

// A saved execution context: on x86-64 the stack pointer (the callee-saved registers, MXCSR and the
// x87 control word are pushed on the stack by emu_ctx_switch); elsewhere ucontext.
#if defined(__x86_64__) && !defined(EMU_UCONTEXT)
struct context {
    void *sp;
};
extern "C" void emu_ctx_switch(void **save_sp, void *load_sp);
extern "C" void emu_fiber_start(void);
asm(R"(
    .text
    .globl emu_ctx_switch
    .type emu_ctx_switch, @function
emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_ctx_switch, .-emu_ctx_switch

    .globl emu_fiber_start
    .type emu_fiber_start, @function
emu_fiber_start:
    call *%r12
    ud2
    .size emu_fiber_start, .-emu_fiber_start
)");
// A context that starts entry() on the stack [lo, lo + bytes): the frame emu_ctx_switch pops.
static void context_init(context *c, char *lo, size_t bytes, void (*entry)(void)) {
    void **sp = (void **)((((uintptr_t)(lo + bytes)) & ~(uintptr_t)15) - 64);
    uint32_t csr[2] = {0, 0};
    asm volatile("stmxcsr %0" : "=m"(csr[0]));
    asm volatile("fnstcw %0" : "=m"(*(uint16_t *)&csr[1]));
    memcpy(&sp[0], csr, 8);
    sp[1] = sp[2] = sp[3] = nullptr;                      // r15 r14 r13
    sp[4] = (void *)entry;                                // r12: called by emu_fiber_start
    sp[5] = sp[6] = nullptr;                              // rbx rbp
    sp[7] = (void *)emu_fiber_start;                      // return address
    c->sp = sp;
}
// Saves the running context into save and resumes load.
static inline void context_switch(context *save, context *load) { emu_ctx_switch(&save->sp, load->sp); }
#else
struct context {
    ucontext_t uc;
};
static void context_init(context *c, char *lo, size_t bytes, void (*entry)(void)) {
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo, c->uc.uc_stack.ss_size = bytes, c->uc.uc_link = nullptr;
    makecontext(&c->uc, entry, 0);
}
static inline void context_switch(context *save, context *load) { swapcontext(&save->uc, &load->uc); }
#endif

const size_t STACK_BYTES = 256 << 10, GUARD_BYTES = 16 << 10;

enum fiber_state { F_RUN, F_BARRIER, F_WARP, F_DONE };

struct fiber {
    context ctx;
    char *stack = nullptr; // lowest usable byte (a guard region below it)
    fiber_state state = F_DONE;
    unsigned warp_ops = 0; // warp intrinsics so far: their parity picks the exchange buffer
};

struct warp {
    int size, live, arrived; // lanes, lanes not exited, lanes waiting in an intrinsic
    int kind[2];             // the intrinsic of the exchange in progress (per buffer)
    uint64_t buf[2][32];
};

// The block an OS thread is running, and its fibers.
struct block {
    const char *name, *file;
    int line;
    uint3 idx;
    int n, live, arrived, done, cur; // threads; not exited; waiting at __syncthreads; finished; running
    bool backward;                   // priority: thread 0 first, or thread n-1 first
    int hint;                        // no thread before this position (in priority order) can run
    fiber *f;
    warp w[32];
    context sched;                   // the scheduler (the OS thread's own stack)
    const void *sched_lo = nullptr;  // its stack, for ASan
    size_t sched_bytes = 0;
    void (*body)(void *);
    void *state;
    std::vector<void *> shared;      // static shared memory by slot
    size_t static_bytes, dynamic_bytes;
    void *dynamic;
};

thread_local block *cur_block;
thread_local std::vector<fiber> fiber_pool;

const char *kind_name(int k) { return k == WARP_SHFL ? "a shuffle" : k == WARP_VOTE ? "a vote" : "__syncwarp"; }

// A bug of the running kernel: one line naming the launch, block and thread, then abort.
[[noreturn]] __attribute__((format(printf, 1, 2))) void kernel_fatal(const char *fmt, ...) {
    const block &b = *cur_block;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fatal("%s:%d: %s<<<>>> block (%u,%u,%u) thread (%u,%u,%u): %s", b.file, b.line, b.name, b.idx.x, b.idx.y,
          b.idx.z, threadIdx.x, threadIdx.y, threadIdx.z, msg);
}

// ASan's fiber annotations: the stack [lo, lo + bytes) runs next (start), the switch is done (finish).
void asan_start(const void *lo, size_t bytes) {
#if EMU_ASAN
    __sanitizer_start_switch_fiber(nullptr, lo, bytes);
#endif
}
void asan_finish(const void **lo, size_t *bytes) {
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, lo, bytes);
#endif
}

// Scheduler -> fiber i, until it waits or finishes.
void run_fiber(block &b, int i) {
    b.cur = i;
    const unsigned bx = blockDim.x, by = blockDim.y;
    threadIdx = uint3{(unsigned)i % bx, ((unsigned)i / bx) % by, (unsigned)i / (bx * by)};
    asan_start(b.f[i].stack, STACK_BYTES);
    context_switch(&b.sched, &b.f[i].ctx);
    asan_finish(nullptr, nullptr);
}

// Fiber -> scheduler (the fiber resumes here when the scheduler runs it again).
void yield_fiber(block &b) {
    fiber &f = b.f[b.cur];
    asan_start(b.sched_lo, b.sched_bytes);
    context_switch(&f.ctx, &b.sched);
    asan_finish(nullptr, nullptr);
}

// A thread's life: the kernel, then the checks of an exit.
void fiber_main(void) {
    block &b = *cur_block;
    asan_finish(&b.sched_lo, &b.sched_bytes);
    b.body(b.state);
    const int t = b.cur;
    warp &w = b.w[t >> 5];
    b.live--, w.live--, b.done++;
    b.f[t].state = F_DONE;
    if (b.arrived)
        kernel_fatal("this thread exited while %d thread(s) of the block wait at __syncthreads (a barrier "
                     "in divergent code: undefined on the GPU)", b.arrived);
    if (w.arrived)
        kernel_fatal("this lane exited while %d lane(s) of its warp wait in a full-mask warp intrinsic", w.arrived);
    asan_start(b.sched_lo, b.sched_bytes);
    context_switch(&b.f[t].ctx, &b.sched);
    __builtin_unreachable();
}

// The fibers' stacks: 256 KiB each with a guard below, made once per OS thread and reused.
fiber *fibers(int n) {
    if ((int)fiber_pool.size() < n) fiber_pool.resize(n);
    for (int i = 0; i < n; i++) {
        fiber &f = fiber_pool[i];
        if (f.stack) continue;
        char *m = (char *)mmap(nullptr, STACK_BYTES + GUARD_BYTES, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) fatal("out of memory for fiber stacks");
        mprotect(m, GUARD_BYTES, PROT_NONE);
        f.stack = m + GUARD_BYTES;
    }
    return fiber_pool.data();
}

// Makes thread i runnable again.
void wake(block &b, int i) {
    b.f[i].state = F_RUN;
    const int pos = b.backward ? b.n - 1 - i : i;
    if (pos < b.hint) b.hint = pos;
}

// Runs one block: always the first runnable thread in priority order (thread 0 first, or thread n-1
// first when backward), so the first warp runs ahead to the next __syncthreads (or to its end)
// before the next warp starts, as a GPU may schedule it: a missing barrier between warps shows.
void run_block(block &b, bool backward) {
    b.live = b.n, b.arrived = 0, b.done = 0, b.backward = backward, b.hint = 0;
    b.f = fibers(b.n);
    for (int k = 0; k * 32 < b.n; k++) {
        warp &w = b.w[k];
        w.size = w.live = b.n - 32 * k < 32 ? b.n - 32 * k : 32;
        w.arrived = 0;
    }
    for (int i = 0; i < b.n; i++) {
        context_init(&b.f[i].ctx, b.f[i].stack, STACK_BYTES, fiber_main);
        b.f[i].state = F_RUN, b.f[i].warp_ops = 0;
    }
    b.static_bytes = 0;
    b.dynamic = nullptr;
    if (posix_memalign(&b.dynamic, 16, b.dynamic_bytes)) fatal("out of memory for shared memory");
    memset(b.dynamic, POISON, b.dynamic_bytes);
    while (b.done < b.n) {
        int k = b.hint, i = 0;
        for (; k < b.n; k++) {
            i = backward ? b.n - 1 - k : k;
            if (b.f[i].state == F_RUN) break;
        }
        if (k == b.n) {
            int bar = 0, wrp = 0;
            for (int j = 0; j < b.n; j++) bar += b.f[j].state == F_BARRIER, wrp += b.f[j].state == F_WARP;
            b.cur = 0;
            threadIdx = uint3{0, 0, 0};
            kernel_fatal("deadlock: %d thread(s) wait at __syncthreads and %d in warp intrinsics, none can go on",
                         bar, wrp);
        }
        b.hint = k;
        run_fiber(b, i);
    }
    for (void *&p : b.shared)
        if (p) free(p), p = nullptr;
    free(b.dynamic);
}

// 64-bit mix (splitmix64) for the block order.
uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// The order blocks run in: LRPE_CUDA_EMU_ORDER=forward | reverse | shuffle (default: a shuffle
// seeded by the launch's number, so the same run repeats it).
std::vector<uint64_t> block_order(uint64_t nblocks, uint64_t seed) {
    static const char *mode = getenv("LRPE_CUDA_EMU_ORDER") ? getenv("LRPE_CUDA_EMU_ORDER") : "shuffle";
    std::vector<uint64_t> o(nblocks);
    for (uint64_t i = 0; i < nblocks; i++) o[i] = strcmp(mode, "reverse") == 0 ? nblocks - 1 - i : i;
    if (strcmp(mode, "shuffle") == 0)
        for (uint64_t i = nblocks; i > 1; i--) std::swap(o[i - 1], o[mix(seed * 1000003u + i) % i]);
    return o;
}

// The live host heap buffer [*lo, *lo + *n) that word w of a by-value kernel argument points into
// (ASan knows; without ASan: never). A struct may hold stale garbage (unused array entries), so
// such a buffer is not an error by itself: it is poisoned for the launch, and only a kernel that
// reads or writes it gets an ASan report.
bool host_heap(uintptr_t w, void **lo, size_t *n) {
#if EMU_ASAN
    if (w < ((uintptr_t)1 << 44) || w >= ((uintptr_t)1 << 47)) return false; // not a user-space pointer
    const char *kind = __asan_locate_address((void *)w, nullptr, 0, lo, n);
    return kind && strcmp(kind, "heap") == 0 && *n && w >= (uintptr_t)*lo && w < (uintptr_t)*lo + *n &&
           __sanitizer_get_ownership(*lo);
#else
    return false;
#endif
}

// The launch running now, for the words that follow a sanitizer's report.
struct launch_note {
    const char *name, *file;
    int line;
    size_t host_buffers;
};
launch_note running;

// After a sanitizer's report: which launch, block and thread it came from.
void on_death(void) {
    if (!running.name) return;
    say("the report above came from kernel %s, launched at %s:%d, block (%u,%u,%u) thread (%u,%u,%u)%s", running.name,
        running.file, running.line, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z,
        running.host_buffers ? "; host heap buffers that its struct arguments point to were poisoned for the launch: "
                               "use-after-poison on one of them is the kernel touching host memory" : "");
}

std::atomic<long> launches{0};

// LRPE_CUDA_EMU_STATS=1: at exit, every launch site with its launches and blocks (which kernels,
// hence which code paths, the tests ran).
struct site_count {
    const char *name;
    long launches;
    uint64_t blocks;
};
std::map<std::pair<std::string, int>, site_count> *site_counts;

// The table of LRPE_CUDA_EMU_STATS=1 (at exit).
void print_counts(void) {
    for (const auto &s : *site_counts)
        fprintf(stderr, "cuda-emu stats: %s:%d %s: %ld launches, %llu blocks\n", s.first.first.c_str(),
                s.first.second, s.second.name, s.second.launches, (unsigned long long)s.second.blocks);
}

// Counts one launch of the site file:line.
void count_launch(const char *file, int line, const char *name, uint64_t blocks) {
    static const bool on = getenv("LRPE_CUDA_EMU_STATS") && strcmp(getenv("LRPE_CUDA_EMU_STATS"), "0") != 0;
    if (!on) return;
    if (!site_counts) site_counts = new std::map<std::pair<std::string, int>, site_count>, atexit(print_counts);
    site_count &c = (*site_counts)[{file, line}];
    c.name = name, c.launches++, c.blocks += blocks;
}

} // namespace

thread_local uint3 threadIdx, blockIdx;
thread_local dim3 blockDim, gridDim;

int emu::lane(void) { return cur_block->cur & 31; }

int emu::new_shared_slot(void) {
    static std::atomic<int> slots{0};
    return slots++;
}

void *emu::shared_slot(int slot, size_t bytes, size_t align) {
    block &b = *cur_block;
    if ((int)b.shared.size() <= slot) b.shared.resize(slot + 1, nullptr);
    if (!b.shared[slot]) {
        if (posix_memalign(&b.shared[slot], align < 16 ? 16 : align, bytes)) fatal("out of memory for shared memory");
        memset(b.shared[slot], POISON, bytes);
        b.static_bytes += bytes;
        if (b.static_bytes > SMEM_DEFAULT)
            kernel_fatal("%zu bytes of static shared memory, above the 48 KiB a block may declare", b.static_bytes);
        if (b.static_bytes + b.dynamic_bytes > SMEM_OPTIN)
            kernel_fatal("%zu bytes of static + %zu of dynamic shared memory, above sm_80's %zu", b.static_bytes,
                         b.dynamic_bytes, SMEM_OPTIN);
    }
    return b.shared[slot];
}

void *emu::dynamic_shared(void) { return cur_block->dynamic; }

void __syncthreads(void) {
    block &b = *cur_block;
    if (b.live != b.n)
        kernel_fatal("__syncthreads after %d of the block's %d threads exited (a barrier in divergent code: "
                     "undefined on the GPU)", b.n - b.live, b.n);
    if (++b.arrived == b.n) { // the last one opens the barrier; the first in priority order goes on
        b.arrived = 0;
        for (int i = 0; i < b.n; i++)
            if (b.f[i].state == F_BARRIER) wake(b, i);
        wake(b, b.cur);
    } else {
        b.f[b.cur].state = F_BARRIER;
    }
    yield_fiber(b);
}

const uint64_t *emu::warp_exchange(unsigned mask, int kind, uint64_t v) {
    block &b = *cur_block;
    const int t = b.cur, lane = t & 31;
    warp &w = b.w[t >> 5];
    if (mask != 0xffffffffu) kernel_fatal("%s with mask %#x: only full masks are emulated", kind_name(kind), mask);
    if (w.size != 32)
        kernel_fatal("%s with a full mask in a warp of %d threads (the block's %d threads are not a multiple of 32)",
                     kind_name(kind), w.size, b.n);
    if (w.live != 32) kernel_fatal("%s with a full mask after %d lane(s) of the warp exited", kind_name(kind), 32 - w.live);
    fiber &f = b.f[t];
    const int par = f.warp_ops++ & 1;
    if (w.arrived == 0) w.kind[par] = kind;
    else if (w.kind[par] != kind)
        kernel_fatal("the lanes of a warp are in different intrinsics (%s and %s)", kind_name(w.kind[par]), kind_name(kind));
    w.buf[par][lane] = v;
    if (++w.arrived == 32) { // the last lane opens the exchange; the first in priority order goes on
        w.arrived = 0;
        for (int i = t & ~31; i < (t & ~31) + 32; i++)
            if (b.f[i].state == F_WARP) wake(b, i);
        wake(b, t);
    } else {
        f.state = F_WARP;
    }
    yield_fiber(b);
    return w.buf[par];
}

// ------------------------------------------------------------------ launches

// A launch that cannot start: one line (the runtime would only return the error), the error recorded.
static void refuse(const char *name, const char *file, int line, cudaError_t e, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void refuse(const char *name, const char *file, int line, cudaError_t e, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    say("%s:%d: launch of %s refused: %s", file, line, name, msg);
    fail(e);
}

void emu::run(const void *kernel, const char *name, const char *file, int line, const cfg &c, const arg_desc *args,
              int nargs, void (*body)(void *), void *state) {
    if (!valid_stream(c.stream)) return refuse(name, file, line, cudaErrorInvalidResourceHandle, "unknown stream");
    flush();
    const dim3 g = c.grid, bd = c.block;
    const uint64_t threads = (uint64_t)bd.x * bd.y * bd.z;
    if (!g.x || !g.y || !g.z || !threads)
        return refuse(name, file, line, cudaErrorInvalidConfiguration, "grid %ux%ux%u, block %ux%ux%u: a zero size",
                      g.x, g.y, g.z, bd.x, bd.y, bd.z);
    if (bd.x > 1024 || bd.y > 1024 || bd.z > 64 || threads > 1024)
        return refuse(name, file, line, cudaErrorInvalidConfiguration, "block %ux%ux%u: above 1024 threads", bd.x,
                      bd.y, bd.z);
    if (g.x > (unsigned)INT_MAX || g.y > 65535 || g.z > 65535)
        return refuse(name, file, line, cudaErrorInvalidConfiguration, "grid %ux%ux%u: above the limits", g.x, g.y,
                      g.z);
    kernel_facts kf;
    {
        std::lock_guard<std::mutex> lk(facts_mu);
        kf = facts(kernel);
    }
    if (threads > (uint64_t)kf.max_threads)
        return refuse(name, file, line, cudaErrorLaunchOutOfResources, "%llu threads per block, above its "
                      "__launch_bounds__(%d)", (unsigned long long)threads, kf.max_threads);
    if (c.smem > kf.max_dynamic)
        return refuse(name, file, line, cudaErrorInvalidValue, "%zu bytes of dynamic shared memory, above the %zu "
                      "allowed (more than 48 KiB needs cudaFuncSetAttribute)", c.smem, kf.max_dynamic);
    if (kf.ran && kf.static_bytes + c.smem > SMEM_OPTIN)
        return refuse(name, file, line, cudaErrorInvalidValue, "%zu bytes of static + %zu of dynamic shared memory, "
                      "above sm_80's %zu", kf.static_bytes, c.smem, SMEM_OPTIN);
    // the arguments: pointers must be device memory (or pinned, or NULL); the allocations they and the
    // words of by-value structs point into are open for the launch, the host heap buffers closed
    static std::once_flag death;
    std::call_once(death, [] {
#if EMU_ASAN
        __sanitizer_set_death_callback(on_death);
#endif
    });
    const std::vector<fiber> &pool = fiber_pool;
    fibers((int)threads); // before the scan: its buffer is the emulator's, never a kernel's
    std::vector<region> open;
    std::vector<std::pair<void *, size_t>> closed;
    auto use = [&](const region &r) {
        for (const region &o : open)
            if (o.begin == r.begin) return;
        open.push_back(r);
    };
    for (int i = 0; i < nargs; i++) {
        region r;
        if (args[i].bytes == 0) {
            if (!args[i].ptr) continue;
            if (!find_region(args[i].ptr, &r))
                fatal("%s:%d: launch of %s: argument %d is %p, which is not device memory (a host pointer: the GPU "
                      "would fault)", file, line, name, i + 1, args[i].ptr);
            use(r);
            continue;
        }
        for (size_t off = 0; off + sizeof(uintptr_t) <= args[i].bytes; off += sizeof(uintptr_t)) {
            uintptr_t w;
            memcpy(&w, (const char *)args[i].ptr + off, sizeof w);
            void *lo;
            size_t n;
            if (find_region((const void *)w, &r)) use(r);
            else if (host_heap(w, &lo, &n) && lo != (const void *)pool.data()) {
                bool seen = false;
                for (const auto &h : closed) seen |= h.first == lo;
                if (!seen) closed.emplace_back(lo, n);
            }
        }
    }
    for (const region &r : open)
        if (!r.pinned) unpoison((const void *)r.begin, r.bytes);
    for (const auto &h : closed) poison(h.first, h.second);
    const uint64_t nblocks = (uint64_t)g.x * g.y * g.z;
    const uint64_t launch_no = (uint64_t)launches++;
    const std::vector<uint64_t> order = block_order(nblocks, launch_no);
    count_launch(file, line, name, nblocks);
    block b;
    b.name = name, b.file = file, b.line = line;
    b.n = (int)threads, b.body = body, b.state = state, b.dynamic_bytes = c.smem;
    b.shared.reserve(64);
    block *outer = cur_block;
    cur_block = &b;
    running = launch_note{name, file, line, closed.size()};
    gridDim = g, blockDim = bd;
    size_t static_bytes = 0;
    for (uint64_t k = 0; k < nblocks; k++) {
        const uint64_t id = order[k];
        b.idx = blockIdx = uint3{(unsigned)(id % g.x), (unsigned)(id / g.x % g.y), (unsigned)(id / g.x / g.y)};
        run_block(b, ((k ^ mix(launch_no)) & 1) != 0);
        if (b.static_bytes > static_bytes) static_bytes = b.static_bytes;
    }
    running = launch_note{};
    cur_block = outer;
    for (const auto &h : closed) unpoison(h.first, h.second);
    for (const region &r : open)
        if (!r.pinned) poison((const void *)r.begin, r.bytes);
    std::lock_guard<std::mutex> lk(facts_mu);
    kernel_facts &f = facts(kernel);
    f.ran = true, f.static_bytes = static_bytes;
}
