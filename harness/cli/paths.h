/* Where a database keeps what belongs to it, beside it and named after it: results/results.db has
 * results/results-runs/ (checkpoints), results/results-shards/ (databases published by Slurm array
 * tasks) and results/results-slurm/ (what lrpe submit submitted). */
#ifndef LRPE_PATHS_H
#define LRPE_PATHS_H

#include <stddef.h>

/* The folder `given`, else "<db_path without its extension><suffix>"; made absolute and canonical
 * (links resolved as far as the path exists), so it reads the same from any working directory. 0,
 * or -1 when the path does not fit. */
int paths_beside_db(const char *db_path, const char *suffix, const char *given, char *out, size_t len);
/* path made absolute and canonical as above; 0 or -1 (too long, or no working folder). */
int paths_absolute(const char *path, char *out, size_t len);

#endif
