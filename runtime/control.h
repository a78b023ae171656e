/* The control socket (pycmctl) and the per-container log files. */
#ifndef PYCM_CONTROL_H
#define PYCM_CONTROL_H

#include "supervise.h"

#include <poll.h>
#include <stdbool.h>

#define PC_LOG_RUN_CAP (64 * 1024)   /* per file; a container keeps NAME.log and NAME.log.1 */
#define PC_LOG_DATA_CAP (256 * 1024) /* the same on /data/pycontainers/logs */

/* Listen on RUN_DIR/control.sock; returns the fd or -1. */
int pc_control_listen(const char *run_dir);
/* Clients are served in the poll loop, never blocking it: each request line (at most 255 bytes)
 * and its answer ("OK\n..." or "ERR message\n") within PC_CONTROL_DEADLINE_MS, at most
 * PC_CONTROL_CLIENTS at once, root peers only (SO_PEERCRED; others get "ERR permission denied"). */
#define PC_CONTROL_CLIENTS 8
#define PC_CONTROL_REQUEST 256
#define PC_CONTROL_DEADLINE_MS 2000
/* The clients' poll entries (at most PC_CONTROL_CLIENTS); returns how many. */
int pc_control_pollfds(struct pollfd *fds);
/* After poll: accept (listen_ready), read, answer, and drop clients past their deadline. */
void pc_control_events(struct pc_sup *s, bool listen_ready, const struct pollfd *fds, int n);
/* The earliest client deadline (LLONG_MAX: none). */
long long pc_control_deadline(void);
/* A container's output line into its /run ring (its file kept open: a flood costs one write per
 * line), and with persist into /data's too (/data when mounted). */
void pc_log_line(const struct pc_sup *s, struct pc_ctr *c, const char *line, size_t len, bool persist);
/* Close a container's /run ring file (it is gone from the manifest). */
void pc_log_close(struct pc_ctr *c);

#endif
