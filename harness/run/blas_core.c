#include "blas_core.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARKER "LRPE_BLAS_REEXEC"

static char source[256];   /* set by blas_core_select; empty before */
static char omp_wait[128]; /* the same, for OpenMP's wait policy */

blas_cpu blas_cpu_detect(void) {
    __builtin_cpu_init();
    return (blas_cpu){
        .avx = __builtin_cpu_supports("avx"),
        .avx2 = __builtin_cpu_supports("avx2"),
        .fma = __builtin_cpu_supports("fma"),
        .avx512f = __builtin_cpu_supports("avx512f"),
        .avx512bw = __builtin_cpu_supports("avx512bw"),
        .avx512vl = __builtin_cpu_supports("avx512vl"),
        .avx512dq = __builtin_cpu_supports("avx512dq"),
        .avx512_bf16 = __builtin_cpu_supports("avx512bf16"),
        .intel = __builtin_cpu_is("intel"),
        .amd = __builtin_cpu_is("amd"),
    };
}

/* 1 when name is a core OpenBLAS falls back to on x86_64 (no AVX kernels), compared as OpenBLAS
 * does (case-insensitive). */
static bool generic_core(const char *name) {
    static const char *const generic[] = {"Unknown", "Generic", "Katmai", "Coppermine", "Northwood", "Prescott",
                                          "Banias", "Atom", "Core2", "Penryn", "Dunnington", "Nehalem",
                                          "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Bobcat"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        if (strcasecmp(name, generic[i]) == 0) return true;
    return false;
}

/* 1 when the CPU has what OpenBLAS's SkylakeX kernels use (AVX-512 F, BW, VL, DQ; AVX2 and FMA). */
static bool has_avx512(const blas_cpu *c) {
    return c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq && c->avx2 && c->fma;
}

const char *blas_core_better(const char *reported, const blas_cpu *cpu, bool cooperlake_ok) {
    if (!reported || !cpu || !generic_core(reported)) return NULL;
    if (has_avx512(cpu)) return cpu->avx512_bf16 && cooperlake_ok ? "Cooperlake" : "SkylakeX";
    if (cpu->avx2 && cpu->fma) return cpu->amd ? "Zen" : "Haswell";
    if (cpu->avx) return "Sandybridge";
    return NULL;
}

bool blas_core_cooperlake_ok(const char *config) {
    int major, minor, patch;
    if (!config || sscanf(config, "OpenBLAS %d.%d.%d", &major, &minor, &patch) != 3) return false;
    return major > 0 || (major == 0 && (minor > 3 || (minor == 3 && patch >= 22)));
}

/* One self-check product: C (m x n) = alpha op(A) op(B) + beta C, with padded leading dimensions. */
typedef struct gemm_case {
    int m, n, k, pad;
    enum CBLAS_ORDER order;
    enum CBLAS_TRANSPOSE ta, tb;
} gemm_case;

/* Element (r, c) of a stored matrix with leading dimension ld. */
static float at(const float *x, enum CBLAS_ORDER order, int ld, int r, int c) {
    return order == CblasRowMajor ? x[(size_t)r * ld + c] : x[r + (size_t)c * ld];
}

/* Allocates a stored rows x cols matrix (leading dimension in *ld) filled from *state in [-1, 1]. */
static float *random_matrix(enum CBLAS_ORDER order, int rows, int cols, int pad, int *ld, unsigned *state) {
    *ld = (order == CblasRowMajor ? cols : rows) + pad;
    size_t n = (size_t)(order == CblasRowMajor ? rows : cols) * (size_t)*ld;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; x && i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = (float)((*state >> 8) * (2.0 / 16777216.0) - 1.0);
    }
    return x;
}

/* Runs one case through gemm; the relative error (max abs error / max abs value) in *err, or -1
 * when out of memory. */
static int check_case(blas_sgemm_fn gemm, const gemm_case *g, double *err) {
    unsigned state = 12345u + (unsigned)(g->m * 31 + g->k);
    int tA = g->ta == CblasTrans, tB = g->tb == CblasTrans, lda, ldb, ldc;
    float *a = random_matrix(g->order, tA ? g->k : g->m, tA ? g->m : g->k, g->pad, &lda, &state);
    float *b = random_matrix(g->order, tB ? g->n : g->k, tB ? g->k : g->n, g->pad, &ldb, &state);
    float *c = random_matrix(g->order, g->m, g->n, g->pad, &ldc, &state);
    float *c0 = random_matrix(g->order, g->m, g->n, g->pad, &ldc, &state);
    int rc = -1;
    if (a && b && c && c0) {
        size_t nc = (size_t)(g->order == CblasRowMajor ? g->m : g->n) * (size_t)ldc;
        memcpy(c0, c, nc * sizeof *c);
        const float alpha = 0.75f, beta = -0.5f;
        gemm(g->order, g->ta, g->tb, g->m, g->n, g->k, alpha, a, lda, b, ldb, beta, c, ldc);
        double maxerr = 0, maxref = 0;
        for (int i = 0; i < g->m; i++)
            for (int j = 0; j < g->n; j++) {
                double s = 0;
                for (int p = 0; p < g->k; p++)
                    s += (double)(tA ? at(a, g->order, lda, p, i) : at(a, g->order, lda, i, p)) *
                         (tB ? at(b, g->order, ldb, j, p) : at(b, g->order, ldb, p, j));
                double ref = alpha * s + beta * (double)at(c0, g->order, ldc, i, j);
                double e = fabs((double)at(c, g->order, ldc, i, j) - ref);
                if (!(e <= maxerr)) maxerr = e; /* NaN propagates */
                if (fabs(ref) > maxref) maxref = fabs(ref);
            }
        *err = maxerr / (maxref > 0 ? maxref : 1.0);
        rc = 0;
    }
    free(a), free(b), free(c), free(c0);
    return rc;
}

int blas_core_selfcheck(blas_sgemm_fn gemm, char *msg, size_t len) {
    static const gemm_case cases[] = {
        {37, 53, 29, 0, CblasRowMajor, CblasNoTrans, CblasNoTrans},
        {37, 53, 29, 3, CblasRowMajor, CblasTrans, CblasNoTrans},
        {37, 53, 29, 0, CblasRowMajor, CblasNoTrans, CblasTrans},
        {37, 53, 29, 5, CblasColMajor, CblasTrans, CblasTrans},
        {128, 256, 64, 0, CblasRowMajor, CblasNoTrans, CblasNoTrans},
        {128, 256, 64, 0, CblasRowMajor, CblasNoTrans, CblasTrans},
        {128, 256, 64, 1, CblasColMajor, CblasTrans, CblasNoTrans},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gemm_case *g = &cases[i];
        double err = 0;
        if (check_case(gemm, g, &err)) {
            snprintf(msg, len, "out of memory");
            return -1;
        }
        if (!(err < 1e-4)) {
            snprintf(msg, len, "sgemm %dx%dx%d %s %s%s: relative error %.3g", g->m, g->n, g->k,
                     g->order == CblasRowMajor ? "row-major" : "col-major", g->ta == CblasTrans ? "T" : "N",
                     g->tb == CblasTrans ? "T" : "N", err);
            return -1;
        }
    }
    if (len) msg[0] = 0;
    return 0;
}

/* Runs the self-check with cblas_sgemm in a child process, so a kernel that crashes (an illegal
 * instruction) counts as a failure too; 0 or -1 with the reason in msg. */
static int selfcheck_isolated(char *msg, size_t len) {
    int fd[2];
    if (pipe(fd)) return blas_core_selfcheck(cblas_sgemm, msg, len);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return blas_core_selfcheck(cblas_sgemm, msg, len);
    }
    if (pid == 0) {
        char m[200];
        close(fd[0]);
        int rc = blas_core_selfcheck(cblas_sgemm, m, sizeof m);
        if (rc && write(fd[1], m, strlen(m)) < 0) rc = 1;
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && ((n = read(fd[0], msg + got, len - 1 - got)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0) got += (size_t)n;
    if (len) msg[got] = 0;
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(msg, len, "waitpid: %s", strerror(errno));
            return -1;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFSIGNALED(status))
        snprintf(msg, len, "killed by signal %d, %s", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (!got)
        snprintf(msg, len, "exit code %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return -1;
}

/* printf into the provenance string */
static void set_source(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_source(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(source, sizeof source, fmt, ap);
    va_end(ap);
}

/* Sets OPENBLAS_CORETYPE=core (core NULL: leaves it as it is), OMP_WAIT_POLICY=passive when
 * passive, and the marker, and re-executes this program with argv; returns only when that failed
 * (what it set removed again), with errno's text in err. */
static void restart(const char *core, int passive, const char *marker, char **argv, char *err, size_t errlen) {
    char self[PATH_MAX];
    if ((!core || setenv("OPENBLAS_CORETYPE", core, 1) == 0) && (!passive || setenv("OMP_WAIT_POLICY", "passive", 1) == 0) &&
        setenv(MARKER, marker, 1) == 0) {
        fflush(NULL);
        /* by its real path, so the process keeps its name (ps, top, pkill lrpe), not "exe" */
        execv(realpath("/proc/self/exe", self) ? self : "/proc/self/exe", argv);
    }
    snprintf(err, errlen, "%s", strerror(errno));
    if (core) unsetenv("OPENBLAS_CORETYPE");
    if (passive) unsetenv("OMP_WAIT_POLICY");
    unsetenv(MARKER);
}

/* omp_wait from OMP_WAIT_POLICY as this process found it; set_by_lrpe: lrpe's restart set it. */
static void note_omp_wait(int set_by_lrpe) {
    const char *v = getenv("OMP_WAIT_POLICY");
    if (set_by_lrpe) snprintf(omp_wait, sizeof omp_wait, "%s (lrpe: OMP_WAIT_POLICY was unset)", v ? v : "?");
    else if (v && *v) snprintf(omp_wait, sizeof omp_wait, "%.80s (user)", v);
    else snprintf(omp_wait, sizeof omp_wait, "unset (OpenMP's default)");
}

/* The restarted process: checks the selected core (falling back once to the reported one when the
 * check fails), or records the fallback; a restart for the OpenMP wait policy alone ("kept") left
 * the core as it was. */
static void after_restart(const char *marker, char **argv) {
    char state[16], chosen[48], reported[48], flag[16] = "", msg[200], err[128];
    int n = sscanf(marker, "%15[^:]:%47[^:]:%47[^:]:%15s", state, chosen, reported, flag);
    note_omp_wait(n == 4 && strcmp(flag, "omp") == 0);
    if (n < 3) {
        set_source("%s (ignored a malformed %s)", getenv("OPENBLAS_CORETYPE") ? "user" : "openblas", MARKER);
        return;
    }
    if (strcmp(state, "kept") == 0) {
        set_source("%s", getenv("OPENBLAS_CORETYPE") && *getenv("OPENBLAS_CORETYPE") ? "user" : "openblas");
        return;
    }
    if (strcmp(state, "fallback") == 0) {
        set_source("openblas (lrpe's choice %s failed its sgemm self-check)", chosen);
        return;
    }
    const char *forced = getenv("LRPE_BLAS_SELFCHECK_FAIL"); /* testing aid: the fallback on any CPU */
    int bad = forced && *forced ? -1 : selfcheck_isolated(msg, sizeof msg);
    if (forced && *forced) snprintf(msg, sizeof msg, "made to fail by LRPE_BLAS_SELFCHECK_FAIL");
    if (!bad) {
        if (strcasecmp(blas_core_name(), chosen) == 0)
            set_source("lrpe (OpenBLAS reported %s)", reported);
        else
            set_source("lrpe (asked for %s; OpenBLAS reported %s)", chosen, reported);
        return;
    }
    fprintf(stderr, "lrpe: OpenBLAS core %s failed lrpe's sgemm self-check (%s); restarting with OPENBLAS_CORETYPE=%s\n",
            chosen, msg, reported);
    char mark[160];
    snprintf(mark, sizeof mark, "fallback:%s:%s%s%s", chosen, reported, flag[0] ? ":" : "", flag);
    restart(reported, 0, mark, argv, err, sizeof err);
    fprintf(stderr, "lrpe: could not restart (%s); set OPENBLAS_CORETYPE=%s and run again\n", err, reported);
    exit(1);
}

void blas_core_select(int argc, char **argv, bool omp_passive) {
    const char *marker = getenv(MARKER), *user = getenv("OPENBLAS_CORETYPE"), *wait = getenv("OMP_WAIT_POLICY");
    if (marker && *marker) {
        after_restart(marker, argv);
        return;
    }
    note_omp_wait(0);
    const int passive = omp_passive && !(wait && *wait); /* libgomp reads it when it loads: a restart sets it */
    const char *better = NULL, *reported = NULL;
    if (user && *user) {
        set_source("user");
    } else {
        const char *assumed = getenv("LRPE_BLAS_ASSUME_REPORTED");
        reported = assumed && *assumed ? assumed : blas_core_name();
        blas_cpu cpu = blas_cpu_detect();
        better = blas_core_better(reported, &cpu, blas_core_cooperlake_ok(openblas_get_config()));
        set_source("openblas");
    }
    if ((!better && !passive) || argc < 1 || !argv || !argv[0]) return;
    /* silent, as OpenBLAS's and OpenMP's own choices are: `lrpe version` and each run's provenance
     * say which core ran and who chose it, and the wait policy, and every command's output stays its own */
    char mark[160], err[128];
    snprintf(mark, sizeof mark, "%s:%s:%s%s", better ? "selected" : "kept", better ? better : "-", better ? reported : "-",
             passive ? ":omp" : "");
    restart(better, passive, mark, argv, err, sizeof err);
    fprintf(stderr, "lrpe: could not restart (%s); continuing with OpenBLAS core %s%s\n", err, blas_core_name(),
            passive ? " and OpenMP's default wait policy" : "");
    if (better) set_source("openblas (restart with %s failed: %s)", better, err);
}

const char *blas_core_name(void) { return openblas_get_corename(); }

const char *blas_core_omp_wait(void) {
    if (!omp_wait[0]) note_omp_wait(0);
    return omp_wait;
}

const char *blas_core_source(void) {
    if (source[0]) return source;
    const char *user = getenv("OPENBLAS_CORETYPE");
    return user && *user ? "user" : "openblas";
}
