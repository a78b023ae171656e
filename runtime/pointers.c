/* The part of the app store PID 1 itself touches (docs/app-updates.md): reading and switching the
 * `current`, `previous` and `trial` pointers, and composing the manifest of a revision. Everything
 * else of the store (staging, materialising, GC, verification, factory reset) is pycm-store's:
 * store.c, appstage.c. */
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pc_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

bool pc_valid_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool pc_store_target_ok(const char *target)
{
	return !strcmp(target, PC_FACTORY) || (!strncmp(target, "revisions/", 10) && pc_valid_hex(target + 10, 16));
}

/* The whole content of a regular file (NUL-terminated; *len without it). flags: O_NOFOLLOW for
 * anything under the store, 0 for the slot's configuration. */
char *pc_read_file_at(int dirfd, const char *name, int flags, size_t max, size_t *len, struct pc_err *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		pc_error(err, fd < 0 && errno != ELOOP ? errno : 0, "%s: %s", name,
			 fd < 0 && errno != ELOOP ? "cannot open" : "not a regular file");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *buf = malloc(max + 1);
	size_t n = 0;
	ssize_t r;
	while (buf && n < max + 1 && ((r = read(fd, buf + n, max + 1 - n)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	close(fd);
	if (!buf || n > max) {
		free(buf);
		pc_error(err, buf ? 0 : ENOMEM, "%s: larger than %zu bytes", name, max);
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static char *read_text(const char *path, int flags, size_t max, struct pc_err *err)
{
	return pc_read_file_at(AT_FDCWD, path, flags, max, NULL, err);
}

/* ------------------------------------------------------------------ pointers */

int pc_store_pointer(const char *root, const char *name, char *target, size_t size)
{
	char path[PATH_MAX];
	pc_fmt(path, sizeof path, "%s/%s", root, name);
	ssize_t n = readlink(path, target, size - 1);
	if (n < 0) {
		target[0] = '\0';
		return 0;
	}
	target[n] = '\0';
	return 1;
}

int pc_store_set(const char *root, const char *name, const char *target, struct pc_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	pc_fmt(path, sizeof path, "%s/%s", root, name);
	pc_fmt(tmp, sizeof tmp, "%s/%s.tmp", root, name);
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return pc_error(err, errno, "symlink %s", tmp);
	if (rename(tmp, path) < 0)
		return pc_error(err, errno, "rename %s", tmp);
	if (pc_fsync_dir(root) < 0)
		return pc_error(err, errno, "fsync %s", root);
	return 0;
}

int pc_store_unset(const char *root, const char *name, struct pc_err *err)
{
	char path[PATH_MAX];
	pc_fmt(path, sizeof path, "%s/%s", root, name);
	if (unlink(path) < 0 && errno != ENOENT)
		return pc_error(err, errno, "unlink %s", path);
	if (pc_fsync_dir(root) < 0)
		return pc_error(err, errno, "fsync %s", root);
	return 0;
}

int pc_store_commit(const char *root, struct pc_err *err)
{
	char cur[PATH_MAX], trial[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	if (!pc_store_pointer(root, "trial", trial, sizeof trial))
		return pc_error(err, 0, "no revision on trial");
	if (!pc_store_pointer(root, "current", cur, sizeof cur))
		strcpy(cur, PC_FACTORY);
	/* a cut after this leaves previous == current: harmless; the trial is still uncommitted */
	if (pc_store_set(root, "previous", cur, err) < 0)
		return -1;
	pc_fmt(from, sizeof from, "%s/trial", root);
	pc_fmt(to, sizeof to, "%s/current", root);
	if (rename(from, to) < 0) /* the commit: one rename */
		return pc_error(err, errno, "rename %s", from);
	if (pc_fsync_dir(root) < 0)
		return pc_error(err, errno, "fsync %s", root);
	return 0;
}

/* ------------------------------------------------------------------ manifest of a revision */

int pc_manifest_compose(const char *slot_manifest, const char *revdir, struct pc_manifest *m, struct pc_err *err)
{
	char path[PATH_MAX];
	char *slot = read_text(slot_manifest, 0, 256 * 1024, err);
	if (!slot)
		return -1;
	pc_fmt(path, sizeof path, "%s/manifest", revdir);
	char *rev = read_text(path, O_NOFOLLOW, 256 * 1024, err);
	if (!rev) {
		free(slot);
		return -1;
	}
	char *text = malloc(strlen(slot) + strlen(rev) + 2);
	int rc = -1;
	if (!text) {
		pc_error(err, ENOMEM, "manifest");
		goto out;
	}
	/* the slot's [pycm] and [service] sections, then the revision's [container] sections */
	size_t len = 0;
	bool skip = false;
	for (char *line = slot, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		size_t n = next ? (size_t)(++next - line) : strlen(line);
		const char *s = line + strspn(line, " \t");
		if (*s == '[')
			skip = !strncmp(s, "[container ", 11);
		if (!skip) {
			memcpy(text + len, line, n);
			len += n;
		}
	}
	text[len] = '\0';
	for (char *s = rev; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
		const char *t = s + strspn(s, " \t");
		if (*t == '[' && strncmp(t, "[container ", 11)) {
			pc_error(err, 0, "%s: only [container NAME] sections are allowed in a revision", path);
			goto out;
		}
	}
	strcat(text, "\n");
	strcat(text, rev);
	if (pc_manifest_parse(text, m, err) == 0)
		rc = 0;
	else {
		char msg[sizeof err->msg];
		pc_fmt(msg, sizeof msg, "%s", err->msg);
		pc_error(err, 0, "%s composed with %s: %s", slot_manifest, path, msg);
	}
out:
	free(text);
	free(slot);
	free(rev);
	return rc;
}
