/* Run-time detection of the SIMD instruction sets the CPU kernels use. */
#include <string.h>

#include "cpu_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

/* XGETBV reads XCR0, which says which register state the OS saves on a
 * context switch; AVX is only safe when the OS preserves YMM (bits 1, 2). */
static uint64_t cpu_read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void cpu_detect_features(cpu_features *out)
{
    memset(out, 0, sizeof *out);
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return;
    int has_fma = (ecx >> 12) & 1, has_osxsave = (ecx >> 27) & 1, has_avx = (ecx >> 28) & 1;
    if (!has_fma || !has_osxsave || !has_avx)
        return;
    if ((cpu_read_xcr0() & 0x6) != 0x6)
        return;
    if (__get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    out->avx2_fma = (ebx >> 5) & 1;
    /* AVX-512 additionally needs the opmask and both ZMM halves saved
     * (XCR0 bits 5, 6, 7). */
    out->avx512f = out->avx2_fma && ((ebx >> 16) & 1) && (cpu_read_xcr0() & 0xE6) == 0xE6;
}
#else
void cpu_detect_features(cpu_features *out)
{
    memset(out, 0, sizeof *out);
}
#endif
