/* The one test runner behind `make test`: runs every registered test (or those whose name
 * contains argv[1]) and ends with "N passed, N failed". */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "test.h"
#include "threads.h"

typedef struct test_entry { const char *name, *file; test_fn fn; int order; } test_entry;

static test_entry tests[512];
static int ntests, current_failures;
static char skip_reason[256]; /* set by test_skip for the running test */

void test_register(const char *name, const char *file, test_fn fn) {
    if (ntests == (int)(sizeof tests / sizeof tests[0])) {
        fprintf(stderr, "too many tests; raise the table size in tests/runner.c\n");
        exit(2);
    }
    tests[ntests] = (test_entry){name, file, fn, ntests};
    ntests++;
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    if (++current_failures <= 5) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "    %s:%d: ", file, line);
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
}

int test_failures(void) { return current_failures; }

void test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(skip_reason, sizeof skip_reason, fmt, ap);
    va_end(ap);
    if (!skip_reason[0]) snprintf(skip_reason, sizeof skip_reason, "(no reason given)");
}

const char *test_lrpe_bin(void) {
    const char *b = getenv("LRPE_BIN");
    return b && *b ? b : "./lrpe";
}

int test_capture(const char *cmd, char *out, size_t cap) {
    char *full = malloc(strlen(cmd) + 16);
    if (!full) return -1;
    sprintf(full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    char sink[4096]; /* drain the rest so the command never blocks on a full pipe */
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int test_tmpdir(char *dir, size_t len, const char *tag) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, len, "%s/lrpe-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    if (mkdtemp(dir)) return 0;
    test_fail(__FILE__, __LINE__, "mkdtemp %s: %s", dir, strerror(errno));
    return -1;
}

void test_rmtree(const char *path) {
    char err[512];
    if (fs_remove_tree(path, err, sizeof err)) test_fail(__FILE__, __LINE__, "%s", err);
}

char *test_slurp(const char *path, size_t *len) {
    char *buf, err[512];
    size_t n;
    if (fs_read_file(path, (size_t)1 << 40, &buf, &n, err, sizeof err)) return NULL;
    if (len) *len = n;
    return buf;
}

int test_close(double a, double b, double rtol, double atol) {
    if (isnan(a) || isnan(b)) return 0;
    double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= atol + rtol * scale;
}

int check_arrays(const char *file, int line, const char *what, const float *got, const float *want,
                 size_t n, double rtol, double atol) {
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        if (test_close(got[i], want[i], rtol, atol)) continue;
        double scale = fabs(got[i]) > fabs(want[i]) ? fabs(got[i]) : fabs(want[i]);
        double excess = isnan(got[i]) || isnan(want[i]) ? INFINITY : fabs(got[i] - want[i]) - rtol * scale - atol;
        if (excess > worst_excess) worst_excess = excess, worst = i;
        bad++;
    }
    if (bad)
        test_fail(file, line, "%s: %zu of %zu differ; worst [%zu] %.9g vs %.9g (rtol %g atol %g)", what, bad,
                  n, worst, got[worst], want[worst], rtol, atol);
    return bad == 0;
}

/* stable order: by file, then by registration order within the file */
static int by_file(const void *a, const void *b) {
    const test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->order - y->order;
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int threads = threads_setup();
    printf("lrpe tests: %d registered, %d threads%s%s\n", ntests, threads, filter ? ", filter " : "",
           filter ? filter : "");
    qsort(tests, (size_t)ntests, sizeof tests[0], by_file);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < ntests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        current_failures = 0;
        skip_reason[0] = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (current_failures) {
            failed++;
            printf("FAIL %s (%s, %d failures)\n", tests[i].name, tests[i].file, current_failures);
        } else if (skip_reason[0]) {
            skipped++;
            printf("skip %s: %s\n", tests[i].name, skip_reason);
        } else {
            passed++;
            printf("ok   %s (%.0f ms)\n", tests[i].name, ms);
        }
        fflush(stdout);
    }
    if (skipped) printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : (passed ? 0 : 1);
}
