#include "provenance.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blas_core.h"
#include "gemm.h"
#include "threads.h"
#include "version.h"

/* The "model name" line of /proc/cpuinfo into buf ("unknown" when absent). */
static const char *cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return buf;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        snprintf(buf, len, "%s", colon + 2);
        buf[strcspn(buf, "\n")] = 0;
        break;
    }
    fclose(f);
    return buf;
}

/* bytes as "79.1 GiB". */
static const char *gib(size_t bytes, char *buf, size_t len) {
    snprintf(buf, len, "%.1f GiB", (double)bytes / (1u << 30));
    return buf;
}

/* A CUDA driver or runtime version number (1000 x major + 10 x minor, e.g. 12080) as "12.8". */
static const char *cuda_version(int v, char *buf, size_t len) {
    snprintf(buf, len, "%d.%d", v / 1000, v % 1000 / 10);
    return buf;
}

const char *provenance_gpu_line(const backend_gpu *g, char *buf, size_t len) {
    char mem[32], drv[16], rt[16];
    snprintf(buf, len, "%s, compute capability %d.%d, %s, driver %s, CUDA runtime %s, cuBLAS %d", g->name,
             g->cc_major, g->cc_minor, gib(g->memory, mem, sizeof mem), cuda_version(g->driver, drv, sizeof drv),
             cuda_version(g->runtime, rt, sizeof rt), g->cublas);
    return buf;
}

int provenance_record(db *d, const char *run_id, int threads, const task *t, const char *device, char *err,
                      size_t errlen) {
    char cpu[256], host[256] = "unknown", nthreads[32], dirty[8];
    gethostname(host, sizeof host - 1);
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    snprintf(dirty, sizeof dirty, "%d", strstr(lrpe_commit(), "-dirty") != NULL);
    db_text rows[24] = {
        {"git_commit", lrpe_commit()},
        {"git_dirty", dirty},
        {"lrpe_version", lrpe_version()},
        {"compiler", "gcc " __VERSION__},
        {"cflags", lrpe_cflags()},
        {"blas", threads_blas_config()},
        {"blas_core", blas_core_name()},
        {"blas_core_source", blas_core_source()},
        {"gemm", gemm_library()},
        {"omp_wait_policy", blas_core_omp_wait()},
        {"threads_omp", nthreads},
        {"threads_blas", nthreads},
        {"cpu_model", cpu_model(cpu, sizeof cpu)},
        {"host", host},
        {"data", t->info.data_id ? t->info.data_id : "unknown"},
        {"device", device},
    };
    int n = 0;
    while (rows[n].key) n++;
    backend_gpu g; /* a cuda model computes on GPU 0 */
    char why[512], gpu[600], cc[16], mem[32], drv[16], rt[16], cublas[16];
    if (strcmp(device, "cuda") == 0 && backend_gpus(&g, 1, why, sizeof why) < 1) {
        snprintf(gpu, sizeof gpu, "unknown (%s)", why);
        rows[n++] = (db_text){"gpu", gpu};
    } else if (strcmp(device, "cuda") == 0) {
        snprintf(cc, sizeof cc, "%d.%d", g.cc_major, g.cc_minor);
        snprintf(cublas, sizeof cublas, "%d", g.cublas);
        rows[n++] = (db_text){"gpu", g.name};
        rows[n++] = (db_text){"gpu_compute_capability", cc};
        rows[n++] = (db_text){"gpu_memory", gib(g.memory, mem, sizeof mem)};
        rows[n++] = (db_text){"gpu_driver", cuda_version(g.driver, drv, sizeof drv)};
        rows[n++] = (db_text){"cuda_runtime", cuda_version(g.runtime, rt, sizeof rt)};
        rows[n++] = (db_text){"cublas", cublas};
    }
    return db_provenance_set(d, run_id, rows, n, err, errlen);
}
