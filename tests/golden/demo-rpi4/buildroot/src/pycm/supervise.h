/* Supervision: containers through crun, health, restarts, boot acceptance, orderly stop. */
#ifndef PYCM_SUPERVISE_H
#define PYCM_SUPERVISE_H

#include "manifest.h"
#include "pid1.h"
#include "sched.h"

#include <stdbool.h>
#include <sys/types.h>

enum pc_state { ST_WAITING, ST_RUNNING, ST_HEALTHY, ST_BACKOFF, ST_EXITED, ST_FAILED };

struct pc_ctr {
	const struct pc_container *cfg;
	enum pc_state state;
	pid_t run_pid;   /* `crun run` */
	pid_t cpid;      /* the container's init, from crun's pid file */
	pid_t check_pid; /* a running `crun exec` health check */
	int out_fd;      /* container stdout+stderr */
	char line[1024];
	size_t linelen;
	long long started_ms, next_check_ms, check_deadline_ms, restart_at_ms;
	int fails, restarts;  /* restarts: since the last healthy start, for the backoff */
	int total_restarts;   /* shown by pycmctl status */
	bool ever_healthy;
	bool user_stopped;    /* pycmctl stop: not restarted until pycmctl restart */
	bool user_restart;    /* pycmctl restart: start again at once when it has exited */
	struct pc_crashloop loop;
};

struct pc_sup {
	const struct pc_manifest *m;
	struct pc_ctr c[PC_MAX_CONTAINERS];
	const char *run_dir; /* pid files */
	char slot;           /* booted slot, 0 when unknown */
	long long start_ms;
	bool boot_decided;
	bool boot_good;
	char data_logs[PC_PATH_MAX]; /* persistent logs dir, "" when /data is not mounted */
	int control_fd;
	enum pc_action action;   /* requested shutdown */
	int stop_index;          /* container being stopped, counting down */
	long long stop_deadline; /* SIGKILL after this */
	long long stop_retry;    /* when to send SIGTERM again, 0 once it was delivered */
	bool stop_killed;
	int watchdog_fd;
};

long long pc_now_ms(void);
void pc_sup_init(struct pc_sup *s, const struct pc_manifest *m, const char *run_dir, char slot);
/* Run until a shutdown (requested by signal or by a boot that is not good) has stopped every
 * container; returns the action to take. */
enum pc_action pc_sup_run(struct pc_sup *s);
/* pycmctl stop / restart of one container. */
void pc_sup_stop(struct pc_sup *s, struct pc_ctr *c);
void pc_sup_restart(struct pc_sup *s, struct pc_ctr *c);

#endif
