// Device arithmetic shared by the kernels of backend/cuda/: core/fastmath.h's expf and erf written
// with round-to-nearest intrinsics (fused multiply-adds exactly where the CPU calls fmaf, no other
// contraction), so GELU and the softmax exponentials give the bits the CPU gives (the CPU build compiles C11 with -ffp-contract=off), and
// deterministic warp / block reductions.
#ifndef LRPE_CUDA_MATH_CUH
#define LRPE_CUDA_MATH_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#define FULL_MASK 0xffffffffu

// e^x as lrpe_expf (core/fastmath.h): x = n ln2 + r, Taylor polynomial of degree 7 by fused
// multiply-adds where the CPU uses fmaf, 2^n in the exponent bits.
__device__ __forceinline__ float dev_expf(float x) {
    float xc = x > -87.3f ? x : -87.3f;
    xc = xc < 88.3f ? xc : 88.3f;
    const float shift = 12582912.0f;
    float n = __fsub_rn(__fmaf_rn(xc, 1.44269504088896341f, shift), shift);
    float r = __fmaf_rn(n, -1.42860682030941723e-06f, __fmaf_rn(n, -0.693145751953125f, xc));
    float p = 1.0f / 5040.0f;
    p = __fmaf_rn(p, r, 1.0f / 720.0f);
    p = __fmaf_rn(p, r, 1.0f / 120.0f);
    p = __fmaf_rn(p, r, 1.0f / 24.0f);
    p = __fmaf_rn(p, r, 1.0f / 6.0f);
    p = __fmaf_rn(p, r, 0.5f);
    p = __fmaf_rn(p, r, 1.0f);
    p = __fmaf_rn(p, r, 1.0f);
    float scale = __int_as_float(((int32_t)n + 127) * (1 << 23));
    return x == x ? __fmul_rn(p, scale) : x;
}

// erf(x) as lrpe_erff_with (Abramowitz and Stegun 7.1.26), e_mx2 = e^(-x^2).
__device__ __forceinline__ float dev_erff_with(float x, float e_mx2) {
    float a = fabsf(x);
    float t = __fdiv_rn(1.0f, __fmaf_rn(0.3275911f, a, 1.0f));
    float p = __fmaf_rn(1.061405429f, t, -1.453152027f);
    p = __fmaf_rn(p, t, 1.421413741f);
    p = __fmaf_rn(p, t, -0.284496736f);
    p = __fmaf_rn(p, t, 0.254829592f);
    p = __fmul_rn(p, t);
    return copysignf(__fmaf_rn(-p, e_mx2, 1.0f), x);
}

// Sum over the 32 lanes by an xor butterfly: every lane gets the same bits (each step adds the
// same two numbers on both lanes of a pair), independent of the launch.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ int warp_sum_i(int v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// Block-wide sum of one double per thread (blockDim.x a multiple of 32, at most 1024): the warps'
// butterflies, then warp 0 over the warp sums; every thread gets the result. sh: 32 doubles of shared memory.
__device__ __forceinline__ double block_sum_d(double v, double *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum_d(v);
    __syncthreads(); // sh may still be read by a previous call
    if (lane == 0) sh[w] = v;
    __syncthreads();
    double s = lane < nw ? sh[lane] : 0.0;
    s = warp_sum_d(s);
    return s;
}
// The same for ints (counts: any order gives the same result).
__device__ __forceinline__ int block_sum_i(int v, int *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum_i(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    int s = lane < nw ? sh[lane] : 0;
    return warp_sum_i(s);
}

#endif
