/* pycm: the container manager, PID 1 of a pycontainers slot (docs/contract.md, docs/manifest.md).
 *
 *   pycm [--manifest PATH] [--no-pid1] [--cmdline PATH] [--run-dir DIR] [--data-logs DIR] [--apps DIR] [--check]
 *   pycm --app-stage TARGET ROOT SLOT_MANIFEST [NAME=BUNDLE ...]   (the staging child of an app update)
 *   pycm --verify-store [ROOT [SLOT_MANIFEST]]   (check the app store; exit 0 sound, 1 not)
 *   pycm --rauc-pre-install   (RAUC's pre-install handler, also as a link named rauc-pre-install:
 *                              refuses a system bundle older than the running system)
 *
 * Container output goes to the console as "[NAME] line" and to size-capped logs: RUN_DIR/logs
 * (tmpfs) and /data/pycontainers/logs (persistent; --data-logs sets it with --no-pid1). pycmctl
 * talks to RUN_DIR/control.sock.
 * --no-pid1 runs the supervisor without mounts, host name or reboot(2), for tests on a host; it
 * exits 0 for power-off, 3 for reboot, 4 for halt. --check only parses the manifest (exit 0/2).
 * --apps DIR is the app store (docs/app-updates.md); as PID 1 it is /data/pycontainers/apps
 * once /data is mounted.
 * PYCM_FW_SETENV and PYCM_RAUC override the fw_setenv and rauc commands, PYCM_RELEASE the release
 * file and PYCM_RUN_DIR the run directory of the pre-install handler.
 */
#define _GNU_SOURCE
#include "bootstate.h"
#include "log.h"
#include "manifest.h"
#include "pid1.h"
#include "release.h"
#include "store.h"
#include "supervise.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PYCM_VERSION
#define PYCM_VERSION "0.1.0"
#endif

static int exit_code(enum pc_action a)
{
	return a == ACTION_REBOOT ? 3 : a == ACTION_HALT ? 4 : 0;
}

static void finish(bool pid1, enum pc_action a) __attribute__((noreturn));
static void finish(bool pid1, enum pc_action a)
{
	if (pid1)
		pc_final_shutdown(a);
	exit(exit_code(a));
}

int main(int argc, char **argv)
{
	const char *manifest = "/etc/pycontainers/manifest", *cmdline = "/proc/cmdline", *run_dir = "/run/pycm";
	const char *data_logs = NULL, *apps = NULL;
	bool no_pid1 = false, check = false;
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (!strcmp(base, "rauc-pre-install") || (argc > 1 && !strcmp(argv[1], "--rauc-pre-install")))
		return pc_rauc_pre_install_main();
	if (argc > 1 && !strcmp(argv[1], "--app-stage"))
		return pc_app_stage_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "--verify-store"))
		return pc_store_verify(argc > 2 ? argv[2] : PC_APPS_DIR, argc > 3 ? argv[3] : "/etc/pycontainers/manifest",
				       stdout);
	static const struct option opts[] = {
		{"manifest", required_argument, NULL, 'm'}, {"no-pid1", no_argument, NULL, 'n'},
		{"cmdline", required_argument, NULL, 'c'},  {"run-dir", required_argument, NULL, 'r'},
		{"check", no_argument, NULL, 'k'},	    {"version", no_argument, NULL, 'V'},
		{"data-logs", required_argument, NULL, 'd'}, {"apps", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	for (int o; (o = getopt_long(argc, argv, "m:", opts, NULL)) != -1;) {
		switch (o) {
		case 'm': manifest = optarg; break;
		case 'n': no_pid1 = true; break;
		case 'c': cmdline = optarg; break;
		case 'r': run_dir = optarg; break;
		case 'k': check = true; break;
		case 'd': data_logs = optarg; break;
		case 'a': apps = optarg; break;
		case 'V': printf("pycm %s\n", PYCM_VERSION); return 0;
		default:
			fprintf(stderr, "usage: pycm [--manifest PATH] [--no-pid1] [--cmdline PATH] [--run-dir DIR] [--check]\n");
			return 2;
		}
	}
	bool pid1 = !no_pid1 && !check && getpid() == 1;
	/* containers run detached: their inits are reparented to us when crun exits (PID 1 gets
	 * them anyway; on a host, --no-pid1, the subreaper flag does it) */
	if (!check)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	struct pc_err err;
	static struct pc_manifest m;

	if (check) {
		if (pc_manifest_load(manifest, &m, &err) < 0) {
			fprintf(stderr, "pycm: %s\n", err.msg);
			return 2;
		}
		int nservices = 0;
		for (int i = 0; i < m.ncontainers; i++)
			nservices += m.c[i].service;
		printf("pycm: %s: OK (%d containers, %d services)\n", manifest, m.ncontainers - nservices, nservices);
		return 0;
	}
	if (pid1) {
		if (chdir("/") < 0) {
			/* nothing better to do */
		}
		setsid();
		pc_early_mounts();
		if (pc_partlabel_links("/sys/class/block", "/dev", &err) < 0)
			LOG("%s", err.msg);
	}
	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 0);
	LOG("starting (manifest %s)", manifest);
	if (pc_manifest_load(manifest, &m, &err) < 0) {
		LOG("%s", err.msg);
		LOG("boot NOT good: the manifest is invalid");
		finish(pid1, ACTION_REBOOT);
	}
	if (pid1) {
		if (sethostname(m.hostname, strlen(m.hostname)) < 0)
			LOG("sethostname: %s", strerror(errno));
		if (pc_mount_data(&m)) {
			data_logs = "/data/pycontainers/logs";
			apps = PC_APPS_DIR;
		}
	}
	if (pc_mkdirs(run_dir, &err) < 0 || pc_mkdirs(m.crun_root, &err) < 0)
		LOG("%s", err.msg);
	char slot = pc_booted_slot(cmdline);
	if (!slot)
		LOG("no rauc.slot= on the kernel command line: the boot will not be marked good");
	static struct pc_sup sup;
	pc_sup_init(&sup, &m, run_dir, slot);
	pc_release_value("SIGNING", sup.signing, sizeof sup.signing);
	if (!strcmp(sup.signing, "development"))
		LOG("WARNING: this device trusts a DEVELOPMENT signing key (no update.signing): do not ship it");
	sup.slot_manifest = manifest;
	if (apps) {
		snprintf(sup.apps, sizeof sup.apps, "%s", apps);
		pc_apps_boot(&sup, &m); /* the committed app revision replaces the slot's containers */
	}
	if (data_logs)
		snprintf(sup.data_logs, sizeof sup.data_logs, "%s", data_logs);
	finish(pid1, pc_sup_run(&sup));
}
