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

/* The folder of lrpe's shared files: the installation's <prefix>/share/lrpe (the running binary
 * is <prefix>/bin/lrpe and <prefix>/share/lrpe/scripts/prepare-data.sh exists), else the source tree
 * lrpe was built from (while it has scripts/prepare-data.sh). 0 and the absolute folder in out,
 * with *installed 1 for an installation; -1 when neither is there. */
int paths_share(char *out, size_t len, int *installed);
/* Where the prepared datasets are: `given` (--data-dir), else $LRPE_DATA, else data/ in
 * paths_share's folder, else ./data. 0 and the absolute folder in out, with *how saying which
 * ("--data-dir", "LRPE_DATA", "the installation", "the source tree lrpe was built in", "the working
 * folder"), or -1 when the path does not fit. */
int paths_data_dir(const char *given, char *out, size_t len, const char **how);

#endif
