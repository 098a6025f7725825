/* `lrpe version`: the version and commit, the BLAS build and its core, the data folder, MPI, and the
 * GPUs this lrpe can use (or why none). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "blas_core.h"
#include "cli.h"
#include "dist.h"
#include "gemm.h"
#include "paths.h"
#include "provenance.h"
#include "threads.h"
#include "version.h"

static int cmd_version(int argc, char **argv);

const cli_command cli_version = {"version", "", "version, commit, BLAS build and the GPUs this lrpe can use",
                                 cli_no_options, cmd_version, 0, NULL};

static int cmd_version(int argc, char **argv) {
    int rc = cli_parse(&cli_version, argc, argv, NULL, NULL);
    if (rc) return rc;
    printf("lrpe %s (commit %s)\n", lrpe_version(), lrpe_commit());
    printf("blas: %s\n", threads_blas_config());
    printf("blas core: %s, source: %s\n", blas_core_name(), blas_core_source());
    printf("products: %s\n", gemm_library());
    char data[PATH_MAX];
    const char *how;
    if (!paths_data_dir(NULL, data, sizeof data, &how)) printf("data: %s (from %s)\n", data, how);
    if (strcmp(dist_library(), "none")) printf("mpi: %s (under mpirun or srun, lrpe run trains each run over the ranks)\n", dist_library());
    else printf("mpi: none (make MPI=1 builds lrpe with Open MPI, to train one run over several processes)\n");
    backend_gpu gpus[16];
    char why[512], line[768];
    int n = backend_gpus(gpus, 16, why, sizeof why);
    if (!n) printf("GPUs: none (%s)\n", why);
    for (int i = 0; i < n; i++) printf("GPU %d: %s\n", i, provenance_gpu_line(&gpus[i], line, sizeof line));
    return 0;
}
