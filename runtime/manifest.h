/* The manifest of docs/manifest.md (format version 1): parsed with no external library. */
#ifndef PYCM_MANIFEST_H
#define PYCM_MANIFEST_H

#include "err.h"

#include <stdbool.h>

#define PC_MAX_CONTAINERS 32
#define PC_MAX_DEPS 16
#define PC_MAX_VOLUMES 16
#define PC_NAME_MAX 32
#define PC_PATH_MAX 256
#define PC_DEVICES_MAX 512 /* bytes of a container's `devices` list */
#define PC_MAX_DEVICES 16  /* entries of it */

enum pc_role { ROLE_HOST, ROLE_APP };
enum pc_restart { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER };
enum pc_health { HEALTH_NONE, HEALTH_READY_FILE, HEALTH_EXEC };
enum pc_mark_good { MARK_UBOOT_ENV, MARK_RAUC };
enum pc_network { NET_NONE, NET_HOST, NET_BRIDGE };
#define PC_NET_ARGS_MAX 64 /* "pcbrN A.B.C.D/P A.B.C.D" */
#define PC_PORTS_MAX 512   /* bytes of a container's `ports` list (at most 32 of HOST:CONTAINER/PROTO) */

struct pc_container {
	char name[PC_NAME_MAX + 1];
	enum pc_role role;
	char bundle[PC_PATH_MAX];
	bool required;
	enum pc_restart restart;
	int ndeps;
	int deps[PC_MAX_DEPS]; /* indices of earlier containers */
	int nvolumes;
	char volumes[PC_MAX_VOLUMES][PC_PATH_MAX];
	enum pc_health health;
	char health_arg[512];
	int health_interval, health_timeout, health_retries;
	int backoff_initial, backoff_max;
	int crash_restarts, crash_window;
	bool service;   /* [service NAME]: a host process, not a container */
	bool console;   /* service: stdin/stdout/stderr on /dev/console (a debug shell) */
	char exec[512]; /* service: the command, split on spaces */
	char runtime_dir[PC_PATH_MAX]; /* service: a directory made before it starts (optional) */
	unsigned uid, gid;              /* container: user of its command (its volumes are given to it) */
	char devices[PC_DEVICES_MAX];   /* container: declared host device paths, space-separated */
	enum pc_network network;        /* container: its network (docs/networking.md) */
	char net_args[PC_NET_ARGS_MAX]; /* bridge: BRIDGE ADDRESS/PREFIX GATEWAY, pycm-net up's arguments */
	char ports[PC_PORTS_MAX];       /* bridge: published ports, space-separated */
	unsigned seen; /* bit per key, to find missing and duplicate keys */
};

struct pc_manifest {
	int version;
	char device[64];
	char hostname[64];
	char data_device[PC_PATH_MAX];
	char data_fstype[16];
	enum pc_mark_good mark_good;
	int boot_attempts;
	int boot_confirmed; /* BOOT_x_LEFT of a committed slot, which the boot script never counts down */
	int boot_deadline;
	char crun[PC_PATH_MAX];
	char crun_root[PC_PATH_MAX];
	int stop_timeout;
	char watchdog[PC_PATH_MAX]; /* optional */
	int watchdog_timeout;       /* optional, seconds; 0 keeps the driver's */
	bool apps_may_change_host;  /* optional: an app bundle may add, change or remove a role host container */
	unsigned seen;
	int ncontainers;
	struct pc_container c[PC_MAX_CONTAINERS];
};

/* Parse manifest text; on error fill err with "manifest:LINE: key: message" and return -1. */
int pc_manifest_parse(const char *text, struct pc_manifest *m, struct pc_err *err);
int pc_manifest_load(const char *path, struct pc_manifest *m, struct pc_err *err);
int pc_manifest_find(const struct pc_manifest *m, const char *name);
/* The same manifest section but for the bundle path (names of dependencies compared). */
bool pc_container_same(const struct pc_manifest *ma, const struct pc_container *a, const struct pc_manifest *mb,
		       const struct pc_container *b);

#endif
