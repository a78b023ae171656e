/* Supervision: containers through crun, health, restarts, boot acceptance, orderly stop. */
#ifndef PYCM_SUPERVISE_H
#define PYCM_SUPERVISE_H

#include "manifest.h"
#include "pid1.h"
#include "sched.h"

#include <stdbool.h>
#include <sys/types.h>

#define PC_ORPHANS 32

enum pc_state { ST_WAITING, ST_RUNNING, ST_HEALTHY, ST_BACKOFF, ST_EXITED, ST_FAILED };

struct pc_ctr {
	const struct pc_container *cfg;
	enum pc_state state;
	pid_t run_pid;   /* `crun run --detach` while launching, then the container's init (a service: its process) */
	pid_t cpid;      /* the container's init, from crun's pid file */
	bool launching;  /* run_pid is crun, which exits once the container runs */
	pid_t check_pid; /* a running `crun exec` health check */
	int wd;          /* inotify watch of the directory of its ready file, once healthy (0: none) */
	int out_fd;      /* container stdout+stderr */
	char line[1024];
	size_t linelen;
	long long started_ms, next_check_ms, check_deadline_ms, restart_at_ms;
	int fails, restarts;  /* restarts: since the last healthy start, for the backoff */
	int total_restarts;   /* shown by pycmctl status */
	bool ever_healthy;
	bool user_stopped;    /* pycmctl stop: not restarted until pycmctl restart */
	bool user_restart;    /* pycmctl restart: start again at once when it has exited */
	long long kill_at_ms; /* pycmctl stop/restart: SIGKILL then, if SIGTERM has not ended it */
	char error[192];      /* why its last start failed before crun ran (a declared device missing) */
	int budget;           /* lines it may still put on the console and /data now (a token bucket) */
	long long budget_ms;  /* when the budget was last refilled */
	unsigned dropped;     /* lines kept off the console and /data since the last one shown */
	long long notice_ms;  /* when the last count of those was shown */
	int ring_fd;          /* its /run log ring, kept open (-1: closed) */
	off_t ring_size;
	struct pc_crashloop loop;
};

/* An app update in progress (apps.c, docs/app-updates.md), and the pycm-store child doing the
 * store's part of it (staging, GC, factory reset; the boot's cleanup): one at a time. */
enum pc_upd_phase { UPD_NONE, UPD_STAGING, UPD_STOPPING, UPD_TRIAL, UPD_FINISHING, UPD_RESET };
enum pc_job { JOB_NONE, JOB_BOOT, JOB_STAGE, JOB_GC, JOB_RESET };

struct pc_update {
	enum pc_upd_phase phase;
	bool rollback;     /* switching back after a failed trial: no health gate */
	enum pc_job job;   /* what the pycm-store child does (JOB_NONE: none runs) */
	pid_t pid;         /* that child, leader of its own process group */
	int fd;            /* its answer pipe (fd 3 in the child) */
	char out[4096];
	size_t outlen;
	pid_t leftover;    /* the process group of a child that died: the GC waits until it is empty */
	long long leftover_deadline;
	int client;        /* pycmctl waiting for the outcome, or -1 */
	char target[PC_PATH_MAX]; /* "factory" or "revisions/ID" being switched to */
	char from[PC_PATH_MAX];   /* the revision running before */
	struct pc_manifest *next; /* the manifest being switched to */
	struct pc_manifest *old;  /* the one it replaces (kept for the rollback) */
	bool changed[PC_MAX_CONTAINERS]; /* indices of `next` */
	long long t0, t_switch, deadline, stop_deadline;
	bool killed;
	char reason[384];
	char answer[1024]; /* UPD_FINISHING: the outcome, told to pycmctl once the GC is done */
	bool add_freed;    /* ... with "N KiB freed)" from the GC's answer appended */
	bool gc_wanted;    /* a pycm-store died: a GC runs once its process group is gone */
	bool gc_again;     /* a GC that died was run once more */
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
	int watchdog_ms;         /* how often it is petted: half its timeout, 1 s when unknown */
	long long petted_ms;
	int inotify_fd;          /* the ready files' directories (-1: none, they are polled) */
	char apps[PC_PATH_MAX];         /* app store root, "" without /data */
	const char *slot_manifest;      /* the slot's manifest (the factory revision) */
	char revision[PC_PATH_MAX];     /* running revision: "factory" or "revisions/ID" */
	char signing[16];               /* the release file's SIGNING: development, release or "" */
	struct pc_update upd;
	char store_error[160];          /* the last failure of pycm-store (pycmctl status), "" when none */
	/* exit statuses of reaped processes that were nobody's known child yet: a container's init
	 * that exits before its crun does is reparented to us and reaped before crun's exit tells
	 * us its pid */
	struct { pid_t pid; int status; } orphans[PC_ORPHANS];
	unsigned norphans;
};

long long pc_now_ms(void);
void pc_sup_init(struct pc_sup *s, const struct pc_manifest *m, const char *run_dir, char slot);
/* Run until a shutdown (requested by signal or by a boot that is not good) has stopped every
 * container; returns the action to take. */
enum pc_action pc_sup_run(struct pc_sup *s);
/* pycmctl stop / restart of one container. */
void pc_sup_stop(struct pc_sup *s, struct pc_ctr *c);
void pc_sup_restart(struct pc_sup *s, struct pc_ctr *c);
/* SIGTERM or SIGKILL to a container or service. */
int pc_ctr_kill(const struct pc_sup *s, const struct pc_ctr *c, int sig);

/* apps.c: app updates. Start one (what: a bundle path, "previous" or "factory"; a bundle older than
 * the running revision only with allow_downgrade); client is the pycmctl connection that gets the
 * outcome. -1 with msg when it cannot start. */
int pc_apps_request(struct pc_sup *s, const char *what, bool allow_downgrade, int client, char *msg, size_t size);
/* Factory reset: drop every app revision (and, with wipe, the volumes) and reboot; client gets
 * the outcome. -1 with msg when it cannot start. */
int pc_apps_factory_reset(struct pc_sup *s, bool wipe, int client, char *msg, size_t size);
void pc_apps_read(struct pc_sup *s);
/* The pycm-store child has exited (reaped with status). */
void pc_apps_exited(struct pc_sup *s, int status);
void pc_apps_tick(struct pc_sup *s, long long now);
/* The earliest moment pc_apps_tick has something to do (LLONG_MAX: none). */
long long pc_apps_due(const struct pc_sup *s);
/* At boot, with /data mounted: load the committed revision into m (else keep the slot's); sets
 * s->revision. */
void pc_apps_boot(struct pc_sup *s, struct pc_manifest *m);
/* From the main loop's start: the boot's cleanup of the store (pycm-store --boot: an uncommitted
 * trial, staging leftovers, a factory reset's wipe of the volumes, GC) when there is a store;
 * nothing starts before it has ended. */
void pc_apps_start(struct pc_sup *s);
/* The path of pycm-store (PYCM_STORE overrides the contract's /sbin/pycm-store). */
const char *pc_store_program(void);

#endif
