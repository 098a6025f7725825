/* The test framework: tests register themselves (TEST(name) { ... }), CHECK records a failure
 * with its location and goes on, test_skip says why a test cannot run here, and the runner prints
 * one line per test and ends with "N passed, N failed" (", N skipped" after it when some were; exit
 * 1 on any failure). */
#ifndef LRPE_TEST_H
#define LRPE_TEST_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* 1 in the AddressSanitizer build (make test SANITIZE=1), where code runs ~5-10x slower: long
 * learning runs shorten themselves there (that pass checks memory safety of the same code paths;
 * their learning thresholds are asserted in the release run). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_SANITIZED 1
#else
#define TEST_SANITIZED 0
#endif

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn);
/* records a failure of the running test; prints the message once per test (first 5) */
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* number of failures recorded so far by the running test */
int test_failures(void);
/* marks the running test skipped with a one-line reason (it cannot run here: not root, no tmpfs,
 * ...); the caller returns right after. A skipped test is neither passed nor failed. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The binary the command tests run: $LRPE_BIN, or ./lrpe. */
const char *test_lrpe_bin(void);
/* Runs a shell command with stderr joined to stdout, keeps the first cap - 1 bytes of the output
 * (NUL-terminated) in out; its exit code (-1 when it did not exit normally). */
int test_capture(const char *cmd, char *out, size_t cap);

#define TEST(name)                                                                           \
    static void name(void);                                                                  \
    __attribute__((constructor)) static void register_##name(void) { test_register(#name, __FILE__, name); } \
    static void name(void)

#define CHECK(cond, ...)                                                 \
    do {                                                                 \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);         \
    } while (0)

/* A new empty folder "<$TMPDIR or /tmp>/lrpe-<tag>-XXXXXX" into dir[len]; 0, or -1 after recording
 * a failure. Tests write only there. */
int test_tmpdir(char *dir, size_t len, const char *tag);
/* Removes path and everything below it, recording a failure when something stays. */
void test_rmtree(const char *path);
/* The whole file at path, NUL-terminated, malloc'd (NULL when unreadable); *len its size when len is
 * not NULL. */
char *test_slurp(const char *path, size_t *len);

/* |a - b| <= atol + rtol * max(|a|, |b|), and neither is NaN */
int test_close(double a, double b, double rtol, double atol);
#define CHECK_CLOSE(a, b, rtol, atol, what)                                                        \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!test_close(a_, b_, rtol, atol)) test_fail(__FILE__, __LINE__, "%s: %.9g vs %.9g", what, a_, b_); \
    } while (0)

/* Compares arrays elementwise with test_close; reports the worst element. Returns 1 if all
 * match. */
int check_arrays(const char *file, int line, const char *what, const float *got, const float *want,
                 size_t n, double rtol, double atol);
#define CHECK_ARRAYS(what, got, want, n, rtol, atol) \
    check_arrays(__FILE__, __LINE__, what, got, want, n, rtol, atol)

#endif
