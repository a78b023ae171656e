/* pycm: the container manager, PID 1 of a pycontainers slot (docs/contract.md, docs/manifest.md).
 *
 *   pycm [--manifest PATH] [--no-pid1] [--cmdline PATH] [--run-dir DIR] [--data-logs DIR] [--apps DIR] [--check]
 *   pycm --verify-store [ROOT [SLOT_MANIFEST]]   (check the app store; exit 0 sound, 1 not)
 *   pycm --app-stage ... | --rauc-pre-install
 *
 * The last three run pycm-store (pycm-store.c: --verify, --app-stage, --rauc-pre-install): the
 * app store's work (staging, materialising, GC, verification, factory reset) and RAUC's
 * pre-install handler are not in PID 1. pycm runs it as a child for app updates and the boot's
 * store cleanup; its failure fails that request, is reported, and PID 1 carries on.
 *
 * Container output goes to the console as "[NAME] line" and to size-capped logs: RUN_DIR/logs
 * (tmpfs) and /data/pycontainers/logs (persistent; --data-logs sets it with --no-pid1). pycmctl
 * talks to RUN_DIR/control.sock.
 * --no-pid1 runs the supervisor without mounts, host name or reboot(2), for tests on a host; it
 * exits 0 for power-off, 3 for reboot, 4 for halt. --check only parses the manifest (exit 0/2).
 * --apps DIR is the app store (docs/app-updates.md); as PID 1 it is /data/pycontainers/apps
 * once /data is mounted.
 * PYCM_FW_SETENV and PYCM_RAUC override the fw_setenv and rauc commands, PYCM_RELEASE the release
 * file, PYCM_RUN_DIR the run directory of the pre-install handler and PYCM_STORE the path of
 * pycm-store (/sbin/pycm-store).
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
	if (argc > 1 && (!strcmp(argv[1], "--verify-store") || !strcmp(argv[1], "--app-stage") ||
			 !strcmp(argv[1], "--rauc-pre-install"))) {
		if (!strcmp(argv[1], "--verify-store"))
			argv[1] = "--verify";
		argv[0] = "pycm-store";
		execv(pc_store_program(), argv);
		dprintf(STDERR_FILENO, "pycm: cannot run %s: %s\n", pc_store_program(), strerror(errno));
		return 2;
	}
	/* getopt_long's forms (--name VALUE, --name=VALUE, -m VALUE), words that are no option
	 * ignored (the kernel passes PID 1 the command line words it does not know) */
	static const char *const names[] = {"manifest", "cmdline", "run-dir", "data-logs", "apps", "no-pid1", "check",
					    "version"};
	const char **values[] = {&manifest, &cmdline, &run_dir, &data_logs, &apps};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		int k = !strcmp(a, "-m") ? 0 : -1;
		for (int j = 0; j < 8 && k < 0 && a[0] == '-' && a[1] == '-'; j++)
			if (strlen(names[j]) == len - 2 && !strncmp(a + 2, names[j], len - 2))
				k = j;
		if (k < 0 && a[0] != '-')
			continue;
		if (k >= 5 && !eq) {
			no_pid1 |= k == 5;
			check |= k == 6;
			if (k == 7) {
				dprintf(STDOUT_FILENO, "pycm %s\n", PYCM_VERSION);
				return 0;
			}
			continue;
		}
		if (k < 0 || k >= 5 || (!eq && i + 1 == argc)) {
			dprintf(STDERR_FILENO, "usage: pycm [--manifest PATH] [--no-pid1] [--cmdline PATH] [--run-dir DIR] "
					       "[--data-logs DIR] [--apps DIR] [--check]\n");
			return 2;
		}
		*values[k] = eq ? eq + 1 : argv[++i];
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
			dprintf(STDERR_FILENO, "pycm: %s\n", err.msg);
			return 2;
		}
		int nservices = 0;
		for (int i = 0; i < m.ncontainers; i++)
			nservices += m.c[i].service;
		dprintf(STDOUT_FILENO, "pycm: %s: OK (%d containers, %d services)\n", manifest, m.ncontainers - nservices, nservices);
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
