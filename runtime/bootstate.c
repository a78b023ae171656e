#include "bootstate.h"
#include "pid1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char pc_booted_slot(const char *cmdline_path)
{
	char buf[4096];
	FILE *f = fopen(cmdline_path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *p = buf; (p = strstr(p, "rauc.slot=")) != NULL; p++) {
		if (p == buf || p[-1] == ' ') {
			char c = p[10];
			if (c >= 'A' && c <= 'Z' && (p[11] == ' ' || p[11] == '\n' || p[11] == '\0'))
				return c;
		}
	}
	return 0;
}

int pc_mark_good(const struct pc_manifest *m, char slot, struct pc_err *err)
{
	if (m->mark_good == MARK_RAUC) {
		const char *rauc = getenv("PYCM_RAUC") ? getenv("PYCM_RAUC") : "rauc";
		char *argv[] = {(char *)rauc, "status", "mark-good", NULL};
		int rc = pc_run_wait(argv, false);
		return rc == 0 ? 0 : pc_error(err, 0, "%s status mark-good failed (exit %d)", rauc, rc);
	}
	const char *tool = getenv("PYCM_FW_SETENV") ? getenv("PYCM_FW_SETENV") : "fw_setenv";
	char var[32], value[16];
	snprintf(var, sizeof var, "BOOT_%c_LEFT", slot);
	snprintf(value, sizeof value, "%d", m->boot_attempts);
	char *argv[] = {(char *)tool, var, value, NULL};
	int rc = pc_run_wait(argv, false);
	return rc == 0 ? 0 : pc_error(err, 0, "%s %s %s failed (exit %d)", tool, var, value, rc);
}
