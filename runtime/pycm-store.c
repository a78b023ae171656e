/* pycm-store: the app store's work, outside PID 1 (docs/app-updates.md, docs/manager.md).
 *
 *   pycm-store --app-stage [--allow-downgrade] [--running=REV] TARGET ROOT SLOT_MANIFEST [NAME=BUNDLE ...]
 *   pycm-store --verify [ROOT [SLOT_MANIFEST]]     check the store: exit 0 sound, 1 not
 *   pycm-store --gc ROOT [KEEP ...]                 unreferenced revisions, leftovers and blobs removed
 *   pycm-store --boot ROOT [KEEP ...]               the boot's cleanup (trial, staging, wipe-data), then --gc
 *   pycm-store --factory-reset [--wipe-data] ROOT   every pointer removed (the factory revision runs next boot)
 *   pycm-store --rauc-pre-install                   RAUC's pre-install handler (also called as rauc-pre-install)
 *
 * pycm runs it as a child in its own process group and reads its answer on fd 3 ("freed BYTES",
 * the staging child's lines, or "error MESSAGE"). Everything here parses or writes update content:
 * it may crash or be killed at any moment without taking PID 1 with it; pycm reports that and
 * cleans up with --gc. KEEP: paths of container bundles that run, whose revision is kept. Exit 0
 * on success, 1 on failure, 2 on a usage error.
 */
#define _GNU_SOURCE
#include "log.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

#define USAGE                                                                                                      \
	"usage: pycm-store --app-stage ... | --verify [ROOT [SLOT_MANIFEST]] | --gc ROOT [KEEP...] | --boot ROOT "   \
	"[KEEP...] | --factory-reset [--wipe-data] ROOT | --rauc-pre-install\n"

static int gc(const char *root, int nkeep, char **keep)
{
	long long freed = pc_store_gc(root, (const char *const *)keep, nkeep);
	if (freed)
		LOG("app store: %lld KiB of unreferenced blobs freed", freed / 1024);
	return pc_answer("freed %lld\n", freed);
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	pc_log_name = "pycm-store";
	if (!strcmp(base, "rauc-pre-install"))
		return pc_rauc_pre_install_main();
	const char *cmd = argc > 1 ? argv[1] : "";
	if (!strcmp(cmd, "--rauc-pre-install"))
		return pc_rauc_pre_install_main();
	if (!strcmp(cmd, "--app-stage"))
		return pc_app_stage_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "--verify"))
		return pc_store_verify(argc > 2 ? argv[2] : PC_APPS_DIR, argc > 3 ? argv[3] : "/etc/pycontainers/manifest",
				       stdout);
	if ((!strcmp(cmd, "--gc") || !strcmp(cmd, "--boot")) && argc > 2) {
		if (cmd[2] == 'b')
			pc_store_boot(argv[2]);
		return gc(argv[2], argc - 3, argv + 3);
	}
	if (!strcmp(cmd, "--factory-reset") && (argc == 3 || (argc == 4 && !strcmp(argv[2], "--wipe-data")))) {
		struct pc_err err;
		if (pc_store_factory_reset(argv[argc - 1], argc == 4, &err) == 0)
			return 0;
		LOG("factory reset: %s", err.msg);
		pc_answer("error %s\n", err.msg);
		return 1;
	}
	fputs(USAGE, stderr);
	return 2;
}
