#include "provenance.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blas_core.h"
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

int provenance_record(db *d, const char *run_id, int threads, const task *t, char *err, size_t errlen) {
    char cpu[256], host[256] = "unknown", nthreads[32], dirty[8];
    gethostname(host, sizeof host - 1);
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    snprintf(dirty, sizeof dirty, "%d", strstr(lrpe_commit(), "-dirty") != NULL);
    db_text rows[] = {
        {"git_commit", lrpe_commit()},
        {"git_dirty", dirty},
        {"lrpe_version", lrpe_version()},
        {"compiler", "gcc " __VERSION__},
        {"cflags", lrpe_cflags()},
        {"blas", threads_blas_config()},
        {"blas_core", blas_core_name()},
        {"blas_core_source", blas_core_source()},
        {"threads_omp", nthreads},
        {"threads_blas", nthreads},
        {"cpu_model", cpu_model(cpu, sizeof cpu)},
        {"host", host},
        {"data", t->info.data_id ? t->info.data_id : "unknown"},
    };
    return db_provenance_set(d, run_id, rows, (int)(sizeof rows / sizeof rows[0]), err, errlen);
}
