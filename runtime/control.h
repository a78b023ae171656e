/* The control socket (pycmctl) and the per-container log files. */
#ifndef PYCM_CONTROL_H
#define PYCM_CONTROL_H

#include "supervise.h"

#define PC_LOG_RUN_CAP (64 * 1024)   /* per file; a container keeps NAME.log and NAME.log.1 */
#define PC_LOG_DATA_CAP (256 * 1024) /* the same on /data/pycontainers/logs */

/* Listen on RUN_DIR/control.sock; returns the fd or -1. */
int pc_control_listen(const char *run_dir);
/* Serve one client: read one request line, answer "OK\n..." or "ERR message\n", close. */
void pc_control_serve(struct pc_sup *s, int listen_fd);
/* Append one output line of a container to its logs (run dir ring, and /data when mounted). */
/* A container's output line into its /run ring, and with persist into /data's too. */
void pc_log_line(const struct pc_sup *s, const char *name, const char *line, size_t len, bool persist);

#endif
