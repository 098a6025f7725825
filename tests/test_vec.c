/* The span functions (core/vec.h's LRPE_VEC) vectorize: their AVX-512 clones use 512-bit
 * registers. AdamW's loop did not for a long time (sqrtf's errno path kept it scalar, 4x slower);
 * nothing but the machine code shows it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define CLONE_TAG ".arch_x86_64_v4>:"

TEST(vec_avx512_clones_use_zmm) {
#if !defined(__x86_64__)
    test_skip("not an x86-64 build: no AVX-512 clones");
#else
    if (TEST_SANITIZED) {
        test_skip("the sanitizer build is compiled at -O1, which does not vectorize; the release build is checked");
        return;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        test_skip("/proc/self/exe unreadable: cannot disassemble this binary");
        return;
    }
    exe[n] = '\0';
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "objdump -d --no-show-raw-insn '%s' 2>/dev/null", exe);
    FILE *p = popen(cmd, "r");
    if (!p) {
        test_skip("cannot run objdump (binutils)");
        return;
    }
    char line[1024], name[256] = "";
    int clones = 0, zmm = 0, in_clone = 0;
    /* a function's listing starts with "<addr> <name>:" and ends at a blank line */
    while (fgets(line, sizeof line, p)) {
        if (in_clone && (line[0] == '\n' || strstr(line, ">:\n"))) {
            CHECK(zmm > 0, "%s: no 512-bit register in its AVX-512 clone (the loop did not vectorize)", name);
            in_clone = 0;
        }
        char *tag = strstr(line, CLONE_TAG);
        if (tag && strchr(line, '<')) {
            const char *start = strchr(line, '<') + 1;
            snprintf(name, sizeof name, "%.*s", (int)(tag - start), start);
            in_clone = 1, zmm = 0, clones++;
            continue;
        }
        if (in_clone && strstr(line, "zmm")) zmm++;
    }
    if (in_clone) CHECK(zmm > 0, "%s: no 512-bit register in its AVX-512 clone", name);
    if (pclose(p) != 0 && clones == 0) {
        test_skip("objdump not found (binutils): the clones were not inspected");
        return;
    }
    if (clones == 0) test_skip("this build has no x86-64-v4 clones (no target_clones)");
    else CHECK(clones >= 20, "only %d AVX-512 clones found: the span functions are fewer than expected", clones);
#endif
}
