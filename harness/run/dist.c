#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char why[512];

const char *dist_why(void) { return why; }

#ifndef LRPE_MPI

int dist_init(volatile sig_atomic_t *stop, char *err, size_t errlen) {
    (void)stop, (void)err, (void)errlen;
    return 0;
}
void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
const char *dist_library(void) { return "none"; }
int dist_bcast(void *buf, size_t bytes) { return 0; }
int dist_sum_float(float *buf, size_t n) { return 0; }
int dist_sum_double(double *buf, size_t n) { return 0; }
int dist_range_u64(uint64_t v, uint64_t *lo, uint64_t *hi) {
    *lo = *hi = v;
    return 0;
}

#else

#include <mpi.h>
#include <time.h>

#include "timing.h"

static int rank, size = 1, joined, gave_up;
static volatile sig_atomic_t *stop_flag;
static pid_t *peer_pid;  /* [size]: each rank's pid, */
static int *peer_local;  /* [size]: 1 when it runs on this host */
static char library[MPI_MAX_LIBRARY_VERSION_STRING];

/* 1 when process pid has ended (gone, or a zombie its launcher has not reaped yet). */
static int pid_ended(pid_t pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

/* Completes request q by polling; gives up (as dist.h says) when a local peer died or this process
 * was asked to stop and the grace period passed. 0, or -1 with why. */
static int wait_for(MPI_Request *q, const char *what) {
    if (gave_up) return -1;
    double stop_since = 0, last_check = now_ms();
    for (long spins = 0;; spins++) {
        int done = 0;
        if (MPI_Test(q, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            snprintf(why, sizeof why, "the MPI library failed in %s", what);
            break;
        }
        if (done) return 0;
        if (spins < 1000) continue;
        struct timespec pause = {0, 50 * 1000}; /* past the first microseconds: wait without burning a core */
        nanosleep(&pause, NULL);
        double t = now_ms();
        if (stop_flag && *stop_flag && !stop_since) stop_since = t;
        if (stop_since && t - stop_since > DIST_STOP_GRACE_S * 1e3) {
            snprintf(why, sizeof why, "this rank was asked to stop and the other ranks did not reach %s within %.0f s",
                     what, DIST_STOP_GRACE_S);
            break;
        }
        if (t - last_check < 100) continue;
        last_check = t;
        int dead = -1;
        for (int r = 0; r < size && dead < 0; r++)
            if (r != rank && peer_local[r] && pid_ended(peer_pid[r])) dead = r;
        if (dead >= 0) {
            snprintf(why, sizeof why, "rank %d of %d (pid %ld on this host) ended during %s", dead, size, (long)peer_pid[dead],
                     what);
            break;
        }
    }
    gave_up = 1;
    return -1;
}

/* 1 when an MPI launcher (mpirun's ORTE, or a PMIx/PMI server such as srun's) started this process. */
static int launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int dist_init(volatile sig_atomic_t *stop, char *err, size_t errlen) {
    stop_flag = stop;
    if (!launched_by_mpi()) return 0;
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init failed: run lrpe under mpirun or srun, or build it without MPI=1");
        return -1;
    }
    joined = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* who runs where, for the liveness checks */
    char host[64] = "", *hosts = malloc((size_t)size * sizeof host);
    peer_pid = malloc((size_t)size * sizeof *peer_pid);
    peer_local = calloc((size_t)size, sizeof *peer_local);
    if (!hosts || !peer_pid || !peer_local) {
        snprintf(err, errlen, "out of memory for %d ranks", size);
        return -1;
    }
    gethostname(host, sizeof host - 1);
    pid_t me = getpid();
    MPI_Allgather(&me, sizeof me, MPI_BYTE, peer_pid, sizeof me, MPI_BYTE, MPI_COMM_WORLD);
    MPI_Allgather(host, sizeof host, MPI_BYTE, hosts, sizeof host, MPI_BYTE, MPI_COMM_WORLD);
    int here = 0;
    for (int r = 0; r < size; r++) here += peer_local[r] = strcmp(hosts + r * sizeof host, host) == 0;
    free(hosts);
    if (!getenv("LRPE_THREADS") && !getenv("OMP_NUM_THREADS")) {
        char n[32];
        long cores = sysconf(_SC_NPROCESSORS_ONLN) / here;
        snprintf(n, sizeof n, "%ld", cores > 0 ? cores : 1);
        setenv("LRPE_THREADS", n, 1);
    }
    return 0;
}

void dist_finalize(void) {
    if (joined && !gave_up) MPI_Finalize();
    joined = 0;
}

int dist_rank(void) { return rank; }
int dist_size(void) { return size; }
const char *dist_library(void) { /* the library may be asked before MPI_Init */
    int len = 0;
    if (MPI_Get_library_version(library, &len) != MPI_SUCCESS) snprintf(library, sizeof library, "MPI (unknown version)");
    library[strcspn(library, "\n")] = 0;
    return library;
}

/* Collectives take at most INT_MAX elements at once: large arrays go in slices. */
#define SLICE (1 << 30)

int dist_bcast(void *buf, size_t bytes) {
    for (size_t at = 0; size > 1 && at < bytes; at += SLICE) {
        MPI_Request q;
        int n = bytes - at < SLICE ? (int)(bytes - at) : SLICE;
        MPI_Ibcast((char *)buf + at, n, MPI_BYTE, 0, MPI_COMM_WORLD, &q);
        if (wait_for(&q, "a broadcast from rank 0")) return -1;
    }
    return 0;
}

/* In-place sum of n elements of type t (elem bytes each). */
static int sum(void *buf, size_t n, MPI_Datatype t, size_t elem, const char *what) {
    for (size_t at = 0; size > 1 && at < n; at += SLICE) {
        MPI_Request q;
        int k = n - at < SLICE ? (int)(n - at) : SLICE;
        MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + at * elem, k, t, MPI_SUM, MPI_COMM_WORLD, &q);
        if (wait_for(&q, what)) return -1;
    }
    return 0;
}

int dist_sum_float(float *buf, size_t n) { return sum(buf, n, MPI_FLOAT, sizeof *buf, "the gradient allreduce"); }
int dist_sum_double(double *buf, size_t n) { return sum(buf, n, MPI_DOUBLE, sizeof *buf, "a sum over the ranks"); }

int dist_range_u64(uint64_t v, uint64_t *lo, uint64_t *hi) {
    uint64_t in[2] = {v, ~v}, out[2] = {v, ~v};
    if (size > 1) {
        MPI_Request q;
        MPI_Iallreduce(in, out, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD, &q);
        if (wait_for(&q, "the ranks' parameter check")) return -1;
    }
    *lo = out[0], *hi = ~out[1];
    return 0;
}

#endif
