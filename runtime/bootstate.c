#define _GNU_SOURCE
#include "bootstate.h"
#include "pid1.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char pc_booted_slot(const char *cmdline_path)
{
	char buf[4096];
	if (pc_read_path(cmdline_path, buf, sizeof buf) < 0)
		return 0;
	for (char *p = buf; (p = strstr(p, "rauc.slot=")) != NULL; p++) {
		if (p == buf || p[-1] == ' ') {
			char c = p[10];
			if (c >= 'A' && c <= 'Z' && (p[11] == ' ' || p[11] == '\n' || p[11] == '\0'))
				return c;
		}
	}
	return 0;
}

int pc_env_get(const char *name, char *buf, size_t size)
{
	const char *tool = getenv("PYCM_FW_PRINTENV") ? getenv("PYCM_FW_PRINTENV") : "fw_printenv";
	int fds[2];
	if (size == 0 || pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		pc_child_reset();
		dup2(fds[1], STDOUT_FILENO);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		execlp(tool, tool, "-n", name, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n < size - 1 && ((r = read(fds[0], buf + n, size - 1 - n)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	close(fds[0]);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int set_left(char slot, int value, struct pc_err *err)
{
	const char *tool = getenv("PYCM_FW_SETENV") ? getenv("PYCM_FW_SETENV") : "fw_setenv";
	char var[32], val[16];
	snprintf(var, sizeof var, "BOOT_%c_LEFT", slot);
	snprintf(val, sizeof val, "%d", value);
	char *argv[] = {(char *)tool, var, val, NULL};
	int rc = pc_run_wait(argv, false);
	return rc == 0 ? 0 : pc_error(err, 0, "%s %s %s failed (exit %d)", tool, var, val, rc);
}

static int get_left(char slot)
{
	char var[32], buf[32];
	snprintf(var, sizeof var, "BOOT_%c_LEFT", slot);
	if (pc_env_get(var, buf, sizeof buf) < 0 || !*buf)
		return -1;
	char *end;
	long v = strtol(buf, &end, 10);
	return *end ? -1 : (int)v;
}

int pc_mark_good(const struct pc_manifest *m, char slot, struct pc_err *err)
{
	if (m->mark_good == MARK_RAUC) {
		const char *rauc = getenv("PYCM_RAUC") ? getenv("PYCM_RAUC") : "rauc";
		char *argv[] = {(char *)rauc, "status", "mark-good", NULL};
		int rc = pc_run_wait(argv, false);
		return rc == 0 ? 0 : pc_error(err, 0, "%s status mark-good failed (exit %d)", rauc, rc);
	}
	if (get_left(slot) == m->boot_confirmed)
		return 0; /* committed already: no env write on this boot */
	return set_left(slot, m->boot_confirmed, err);
}

void pc_demote(const struct pc_manifest *m, char slot)
{
	struct pc_err err;
	if (get_left(slot) != m->boot_confirmed)
		return;
	if (set_left(slot, m->boot_attempts, &err) < 0)
		LOG("cannot make slot %c a trial slot again: %s", slot, err.msg);
	else
		LOG("slot %c was committed; it is a trial slot again (%d tries)", slot, m->boot_attempts);
}
