/* The staging child of an app update (docs/app-updates.md), run by pycm as
 *
 *   pycm --app-stage TARGET ROOT SLOT_MANIFEST [NAME=BUNDLE ...]
 *
 * TARGET is an app bundle file, "factory" or "revisions/ID" (a rollback). For a bundle: verify it
 * (rauc info: signature against the keyring, compatible "<COMPATIBLE>-apps"), refuse it when the
 * space it needs is not free on /data (nothing written), extract it (rauc extract: signature and
 * payload verified again) into ROOT/staging and build ROOT/revisions/ID. Then compare the target's
 * container bundles with the running ones (NAME=BUNDLE) and answer on fd 3:
 *
 *   target revisions/ID | factory
 *   changed NAME        (one line per container whose bundle content differs or that is new)
 *
 * or "error MESSAGE". Exit 0 or 1. It runs beside the supervisor, which keeps petting the
 * watchdog and serving containers while the hashing and copying take their time.
 */
#define _GNU_SOURCE
#include "log.h"
#include "manifest.h"
#include "pid1.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESERVE (4LL << 20) /* /data keeps this free for logs and volumes */

static int answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int answer(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (write(3, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1)) < 0) {
		/* the manager is gone */
	}
	return 0;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char buf[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	answer("error %s\n", buf);
	return 1;
}

/* Run argv with stdout and stderr into buf; returns the exit status (-1: not run). */
static int capture(char *const argv[], char *buf, size_t size)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		pc_child_reset();
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fds[0], buf + n, size - 1 - n)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0 && (n += (size_t)r) == size - 1)
			n = 0; /* keep the tail, where the error is */
	buf[n] = '\0';
	close(fds[0]);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last non-empty line of text that is not one of rauc's "rauc-Message:" chatter lines. */
static const char *last_line(char *text)
{
	const char *best = "no output";
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (*l && !strstr(l, "rauc-Message"))
			best = l;
	return best;
}

/* VALUE of KEY='VALUE' in rauc's shell output. */
static int shell_value(const char *out, const char *key, char *val, size_t size)
{
	char pat[64];
	pc_fmt(pat, sizeof pat, "%s='", key);
	const char *p = strstr(out, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	const char *e = strchr(p, '\'');
	if (!e)
		return -1;
	pc_fmt(val, size, "%.*s", (int)(e - p), p);
	return 0;
}

static void release_value(const char *key, char *val, size_t size)
{
	const char *path = getenv("PYCM_RELEASE") ? getenv("PYCM_RELEASE") : "/etc/pycontainers/release";
	char line[256];
	size_t klen = strlen(key);
	val[0] = '\0';
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, key, klen) && line[klen] == '=') {
			char *v = line + klen + 1;
			size_t n = strlen(v);
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
				v[n - 1] = '\0';
				v++;
			}
			pc_fmt(val, size, "%s", v);
		}
	}
	if (f)
		fclose(f);
}

static int stage_bundle(const char *bundle, const char *root, const struct pc_manifest *factory, char *target,
			size_t tsize)
{
	const char *rauc = getenv("PYCM_RAUC") ? getenv("PYCM_RAUC") : "rauc";
	static char out[16384];
	char compat[128], want[160], desc[256], id[32];
	struct pc_err err;

	char *info[] = {(char *)rauc, "info", "--output-format=shell", (char *)bundle, NULL};
	if (capture(info, out, sizeof out) != 0)
		return fail("%s: refused: %s", bundle, last_line(out));
	release_value("COMPATIBLE", want, sizeof want - 8);
	strcat(want, "-apps");
	if (shell_value(out, "RAUC_MF_COMPATIBLE", compat, sizeof compat) < 0 || strcmp(compat, want))
		return fail("%s: compatible '%s' is not '%s': not an app bundle for this device", bundle, compat, want);
	/* description: "pycontainers app revision ID, needs N bytes" (set by pycontainers app-bundle) */
	long long need = -1;
	const char *p;
	if (shell_value(out, "RAUC_MF_DESCRIPTION", desc, sizeof desc) == 0 && (p = strstr(desc, "needs ")))
		need = strtoll(p + 6, NULL, 10);
	if (need < 0 || sscanf(desc, "pycontainers app revision %16s", id) != 1)
		return fail("%s: its description is not 'pycontainers app revision ID, needs N bytes'", bundle);
	id[16] = '\0';
	if (strchr(id, ','))
		*strchr(id, ',') = '\0';
	char path[PATH_MAX];
	pc_fmt(path, sizeof path, "%s/revisions/%s", root, id);
	if (access(path, F_OK) == 0) { /* the device has it already (an update back to it) */
		pc_fmt(target, tsize, "revisions/%s", id);
		return 0;
	}
	if (pc_mkdirs(root, &err) < 0)
		return fail("%s", err.msg);
	struct statvfs vfs;
	if (statvfs(root, &vfs) < 0)
		return fail("statvfs %s: %s", root, strerror(errno));
	long long avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
	if (need + RESERVE > avail)
		return fail("%s needs %.1f MiB on /data and %.1f MiB are free (%.0f MiB kept in reserve): refused, "
			    "nothing was written",
			    bundle, need / 1048576.0, avail / 1048576.0, RESERVE / 1048576.0);
	char staging[PATH_MAX];
	pc_fmt(staging, sizeof staging, "%s/staging", root);
	pc_rmtree(staging);
	LOG("app update: extracting %s (revision %s)", bundle, id);
	char *extract[] = {(char *)rauc, "extract", (char *)bundle, staging, NULL};
	if (capture(extract, out, sizeof out) != 0) {
		pc_rmtree(staging);
		return fail("%s: rauc extract failed: %s", bundle, last_line(out));
	}
	char got[32];
	int rc = pc_store_materialize(root, staging, factory, got, sizeof got, &err);
	pc_rmtree(staging);
	if (rc < 0)
		return fail("%s", err.msg);
	if (strcmp(got, id))
		return fail("%s: holds revision %s, its manifest says %s", bundle, got, id);
	pc_fmt(target, tsize, "revisions/%s", id);
	return 0;
}

int pc_app_stage_main(int argc, char **argv)
{
	if (argc < 4)
		return fail("usage: pycm --app-stage TARGET ROOT SLOT_MANIFEST [NAME=BUNDLE ...]");
	const char *what = argv[1], *root = argv[2], *slot = argv[3];
	static struct pc_manifest factory, next;
	struct pc_err err;
	char target[PATH_MAX], revdir[PATH_MAX * 2];
	if (pc_manifest_load(slot, &factory, &err) < 0)
		return fail("%s", err.msg);
	if (!strcmp(what, PC_FACTORY) || !strncmp(what, "revisions/", 10)) {
		pc_fmt(target, sizeof target, "%s", what);
	} else if (stage_bundle(what, root, &factory, target, sizeof target) != 0) {
		return 1;
	}
	const struct pc_manifest *m = &factory;
	if (strcmp(target, PC_FACTORY)) {
		pc_fmt(revdir, sizeof revdir, "%s/%s", root, target);
		if (pc_manifest_compose(slot, revdir, &next, &err) < 0)
			return fail("%s", err.msg);
		m = &next;
	}
	answer("target %s\n", target);
	for (int i = 0; i < m->ncontainers; i++) {
		const struct pc_container *c = &m->c[i];
		if (c->service)
			continue;
		const char *old = NULL;
		size_t n = strlen(c->name);
		for (int a = 4; a < argc; a++)
			if (!strncmp(argv[a], c->name, n) && argv[a][n] == '=')
				old = argv[a] + n + 1;
		bool changed = !old;
		if (old && strcmp(old, c->bundle)) {
			char a[65], b[65];
			if (pc_tree_digest(old, a, &err) < 0 || pc_tree_digest(c->bundle, b, &err) < 0)
				return fail("%s", err.msg);
			changed = strcmp(a, b) != 0;
		}
		if (changed)
			answer("changed %s\n", c->name);
	}
	return 0;
}
