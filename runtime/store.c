#define _GNU_SOURCE
#include "store.h"
#include "log.h"
#include "pid1.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define REVISION_MAX (16 * 1024 * 1024)
#define COPY_BUF 65536

/* ------------------------------------------------------------------ small helpers */

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int fsync_dir(const char *path)
{
	return fsync_path(path, O_DIRECTORY);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int pc_rmtree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *read_text(const char *path, size_t max, struct pc_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pc_error(err, errno, "cannot open %s", path);
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
		pc_error(err, buf ? 0 : ENOMEM, "%s: larger than %zu bytes", path, max);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Write a whole file through NAME.tmp, fsync, rename. */
static int write_file_atomic(const char *path, const char *data, size_t len, struct pc_err *err)
{
	char tmp[PATH_MAX];
	pc_fmt(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return pc_error(err, errno, "cannot create %s", tmp);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			close(fd);
			return pc_error(err, errno, "write %s", tmp);
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return pc_error(err, errno, "fsync %s", tmp);
	if (rename(tmp, path) < 0)
		return pc_error(err, errno, "rename %s", tmp);
	return 0;
}

static int hash_file(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	static unsigned char buf[COPY_BUF];
	struct pc_sha256 s;
	pc_sha256_init(&s);
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		pc_sha256_update(&s, buf, (size_t)n);
	close(fd);
	if (n < 0)
		return -1;
	pc_sha256_hex(&s, hex);
	return 0;
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
	if (fsync_dir(root) < 0)
		return pc_error(err, errno, "fsync %s", root);
	return 0;
}

int pc_store_unset(const char *root, const char *name, struct pc_err *err)
{
	char path[PATH_MAX];
	pc_fmt(path, sizeof path, "%s/%s", root, name);
	if (unlink(path) < 0 && errno != ENOENT)
		return pc_error(err, errno, "unlink %s", path);
	if (fsync_dir(root) < 0)
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
	if (fsync_dir(root) < 0)
		return pc_error(err, errno, "fsync %s", root);
	return 0;
}

void pc_store_boot(const char *root)
{
	char trial[PATH_MAX], path[PATH_MAX];
	struct pc_err err;
	if (pc_store_pointer(root, "trial", trial, sizeof trial)) {
		LOG("app revision %s was not committed: running the committed one", trial);
		if (pc_store_unset(root, "trial", &err) < 0)
			LOG("%s", err.msg);
	}
	pc_fmt(path, sizeof path, "%s/staging", root);
	pc_rmtree(path);
}

/* ------------------------------------------------------------------ GC */

static bool valid_hex(const char *s, size_t n);
static int by_name(const struct dirent **a, const struct dirent **b);

static bool kept(const char *root, const char *rev, const char *const keep[], int nkeep)
{
	static const char *const pointers[] = {"current", "previous", "trial"};
	char target[PATH_MAX], prefix[PATH_MAX];
	for (int i = 0; i < 3; i++)
		if (pc_store_pointer(root, pointers[i], target, sizeof target) && !strncmp(target, "revisions/", 10) &&
		    !strcmp(target + 10, rev))
			return true;
	pc_fmt(prefix, sizeof prefix, "%s/revisions/%s/", root, rev);
	size_t n = strlen(prefix);
	for (int i = 0; i < nkeep; i++)
		if (!strncmp(keep[i], prefix, n))
			return true;
	return false;
}

long long pc_store_gc(const char *root, const char *const keep[], int nkeep)
{
	char path[PATH_MAX];
	long long freed = 0;
	pc_fmt(path, sizeof path, "%s/staging", root);
	pc_rmtree(path);
	char revs[PATH_MAX];
	pc_fmt(revs, sizeof revs, "%s/revisions", root);
	struct dirent **list;
	int n = scandir(revs, &list, NULL, by_name);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		if (name[0] != '.' && !kept(root, name, keep, nkeep)) {
			pc_fmt(path, sizeof path, "%s/%s", revs, name);
			/* a revision under its final name is complete: it leaves that name (durably) before
			 * its content goes, so a power cut in the removal leaves a .gc leftover, never a
			 * partial revisions/ID that a later update would take as present */
			if (strlen(name) == 16 && valid_hex(name, 16)) {
				char gone[PATH_MAX];
				pc_fmt(gone, sizeof gone, "%s/%s.gc", revs, name);
				pc_rmtree(gone);
				if (rename(path, gone) < 0 || fsync_dir(revs) < 0) {
					LOG("app store: cannot retire %s: %s", path, strerror(errno));
					free(list[i]);
					continue;
				}
				pc_fmt(path, sizeof path, "%s", gone);
			}
			pc_rmtree(path);
		}
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	pc_fmt(path, sizeof path, "%s/blobs", root);
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		struct stat st;
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (st.st_nlink == 1 && unlinkat(dirfd(d), e->d_name, 0) == 0)
			freed += (long long)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	pc_fmt(path, sizeof path, "%s/revisions", root);
	fsync_dir(path);
	pc_fmt(path, sizeof path, "%s/blobs", root);
	fsync_dir(path);
	return freed;
}

/* ------------------------------------------------------------------ manifest of a revision */

int pc_manifest_compose(const char *slot_manifest, const char *revdir, struct pc_manifest *m, struct pc_err *err)
{
	char path[PATH_MAX];
	char *slot = read_text(slot_manifest, 256 * 1024, err);
	if (!slot)
		return -1;
	pc_fmt(path, sizeof path, "%s/manifest", revdir);
	char *rev = read_text(path, 256 * 1024, err);
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

/* ------------------------------------------------------------------ tree digest */

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Callback per regular file (for the factory index); may be NULL. */
typedef void (*file_fn)(const char *path, const char *hex, mode_t mode, void *ctx);

static int walk(const char *base, const char *rel, struct pc_sha256 *s, file_fn fn, void *ctx, struct pc_err *err)
{
	char dir[PATH_MAX];
	pc_fmt(dir, sizeof dir, "%s%s%s", base, *rel ? "/" : "", rel);
	struct dirent **list;
	int n = scandir(dir, &list, NULL, by_name);
	if (n < 0)
		return pc_error(err, errno, "scandir %s", dir);
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		if (rc < 0 || !strcmp(name, ".") || !strcmp(name, "..")) {
			free(list[i]);
			continue;
		}
		char r[PATH_MAX], path[PATH_MAX * 2], line[PATH_MAX * 3];
		pc_fmt(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", name);
		pc_fmt(path, sizeof path, "%s/%s", base, r);
		free(list[i]);
		struct stat st;
		if (lstat(path, &st) < 0) {
			rc = pc_error(err, errno, "lstat %s", path);
			continue;
		}
		unsigned mode = (unsigned)st.st_mode & 07777;
		if (S_ISDIR(st.st_mode)) {
			pc_fmt(line, sizeof line, "d %04o %s\n", mode, r);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t t = readlink(path, target, sizeof target - 1);
			target[t > 0 ? t : 0] = '\0';
			pc_fmt(line, sizeof line, "l %s %s\n", r, target);
		} else if (S_ISREG(st.st_mode)) {
			char hex[65];
			if (hash_file(path, hex) < 0) {
				rc = pc_error(err, errno, "read %s", path);
				continue;
			}
			if (fn)
				fn(path, hex, st.st_mode & 07777, ctx);
			pc_fmt(line, sizeof line, "f %04o %s %s\n", mode, hex, r);
		} else {
			pc_fmt(line, sizeof line, "o %04o %u %s\n", mode, (unsigned)(st.st_mode & S_IFMT), r);
		}
		if (s)
			pc_sha256_update(s, line, strlen(line));
		if (S_ISDIR(st.st_mode) && walk(base, r, s, fn, ctx, err) < 0)
			rc = -1;
	}
	free(list);
	return rc;
}

int pc_tree_digest(const char *dir, char hex[65], struct pc_err *err)
{
	struct pc_sha256 s;
	pc_sha256_init(&s);
	if (walk(dir, "", &s, NULL, NULL, err) < 0)
		return -1;
	pc_sha256_hex(&s, hex);
	return 0;
}

/* ------------------------------------------------------------------ materializing a revision */

struct factory_file {
	char hex[65];
	char *path;
};

struct factory_index {
	bool built;
	int n, cap;
	struct factory_file *f;
};

static void index_file(const char *path, const char *hex, mode_t mode, void *ctx)
{
	(void)mode;
	struct factory_index *ix = ctx;
	if (ix->n == ix->cap) {
		int cap = ix->cap ? ix->cap * 2 : 256;
		struct factory_file *f = realloc(ix->f, (size_t)cap * sizeof *f);
		if (!f)
			return;
		ix->f = f;
		ix->cap = cap;
	}
	memcpy(ix->f[ix->n].hex, hex, 65);
	ix->f[ix->n].path = strdup(path);
	if (ix->f[ix->n].path)
		ix->n++;
}

static const char *factory_find(struct factory_index *ix, const struct pc_manifest *factory, const char *hex)
{
	if (!ix->built && factory) {
		struct pc_err err;
		ix->built = true;
		for (int i = 0; i < factory->ncontainers; i++)
			if (!factory->c[i].service && walk(factory->c[i].bundle, "", NULL, index_file, ix, &err) < 0)
				LOG("%s", err.msg);
	}
	for (int i = 0; i < ix->n; i++)
		if (!strcmp(ix->f[i].hex, hex))
			return ix->f[i].path;
	return NULL;
}

static void factory_free(struct factory_index *ix)
{
	for (int i = 0; i < ix->n; i++)
		free(ix->f[i].path);
	free(ix->f);
}

/* Copy src to dest (through dest.tmp) with the given mode, checking its digest. */
static int copy_blob(const char *src, const char *dest, const char *hex, unsigned mode, struct pc_err *err)
{
	char tmp[PATH_MAX], got[65];
	pc_fmt(tmp, sizeof tmp, "%s.tmp", dest);
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return pc_error(err, errno, "open %s", src);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return pc_error(err, errno, "create %s", tmp);
	}
	static unsigned char buf[COPY_BUF];
	struct pc_sha256 s;
	pc_sha256_init(&s);
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof buf)) > 0) {
		pc_sha256_update(&s, buf, (size_t)n);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				rc = pc_error(err, errno, "write %s", tmp);
				break;
			}
			off += w;
		}
		if (rc < 0)
			break;
	}
	if (n < 0 && rc == 0)
		rc = pc_error(err, errno, "read %s", src);
	close(in);
	pc_sha256_hex(&s, got);
	if (rc == 0 && strcmp(got, hex))
		rc = pc_error(err, 0, "%s: content does not match its digest %.12s", src, hex);
	if (rc == 0 && (fchmod(out, mode) < 0 || fsync(out) < 0))
		rc = pc_error(err, errno, "fsync %s", tmp);
	if (close(out) < 0 && rc == 0)
		rc = pc_error(err, errno, "close %s", tmp);
	if (rc == 0 && rename(tmp, dest) < 0)
		rc = pc_error(err, errno, "rename %s", tmp);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static bool safe_rel(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *s = p; s; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL)
		if (!strncmp(s, "..", 2) && (s[2] == '/' || s[2] == '\0'))
			return false;
	return true;
}

static bool valid_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int fsync_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_D || type == FTW_DP ? (fsync_dir(path) < 0 ? -1 : 0) : 0;
}

/* Split a line on tabs into at most max fields (the generator refuses tabs in paths and
 * symlink targets); returns the count. */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;
	for (char *tok; n < max && (tok = strsep(&line, "\t")) != NULL;)
		f[n++] = tok;
	return line ? max + 1 : n; /* more fields than any entry has */
}

int pc_store_materialize(const char *root, const char *staging, const struct pc_manifest *factory, char *id,
			 size_t idsize, struct pc_err *err)
{
	char path[PATH_MAX], tmpdir[PATH_MAX], final[PATH_MAX], blob[PATH_MAX], src[PATH_MAX];
	pc_fmt(path, sizeof path, "%s/revision", staging);
	char *text = read_text(path, REVISION_MAX, err);
	if (!text)
		return -1;
	struct factory_index ix = {0};
	int rc = -1, line = 0;
	char *save = NULL, *l = strtok_r(text, "\n", &save);
	if (!l || strcmp(l, "pycontainers-revision 1")) {
		pc_error(err, 0, "%s: not a pycontainers revision (format 1)", path);
		goto out;
	}
	l = strtok_r(NULL, "\n", &save);
	if (!l || strncmp(l, "id ", 3) || !valid_hex(l + 3, 16)) {
		pc_error(err, 0, "%s:2: expected 'id' and 16 hex digits", path);
		goto out;
	}
	pc_fmt(id, idsize, "%s", l + 3);
	line = 2;
	pc_fmt(final, sizeof final, "%s/revisions/%s", root, id);
	if (access(final, F_OK) == 0) { /* complete: it appears only by the final rename */
		rc = 0;
		goto out;
	}
	pc_fmt(tmpdir, sizeof tmpdir, "%s/revisions/%s.tmp", root, id);
	pc_fmt(blob, sizeof blob, "%s/blobs", root);
	pc_rmtree(tmpdir);
	if (pc_mkdirs(blob, err) < 0 || pc_mkdirs(tmpdir, err) < 0)
		goto out;
	char ctr[PC_NAME_MAX + 1] = "";
	while ((l = strtok_r(NULL, "\n", &save)) != NULL) {
		line++;
		char *f[6];
		if (!strncmp(l, "container ", 10)) {
			pc_fmt(ctr, sizeof ctr, "%s", l + 10);
			pc_fmt(path, sizeof path, "%s/%s", tmpdir, ctr);
			if (!safe_rel(ctr) || strchr(ctr, '/') || mkdir(path, 0755) < 0) {
				pc_error(err, errno, "revision:%d: container '%s'", line, ctr);
				goto out;
			}
			continue;
		}
		int n = split_tabs(l, f, 5);
		const char *rel = n >= 1 && n <= 5 ? f[n - 1] : "";
		if (!*ctr || n < 2 || !safe_rel(rel)) {
			pc_error(err, 0, "revision:%d: bad entry", line);
			goto out;
		}
		pc_fmt(path, sizeof path, "%s/%s/%s", tmpdir, ctr, rel);
		unsigned mode = n >= 3 ? (unsigned)strtoul(f[1], NULL, 8) & 07777 : 0;
		if (!strcmp(f[0], "d") && n == 3) {
			if (mkdir(path, 0755) < 0 || chmod(path, mode) < 0) {
				pc_error(err, errno, "revision:%d: mkdir %s", line, rel);
				goto out;
			}
		} else if (!strcmp(f[0], "l") && n == 3) {
			if (symlink(f[1], path) < 0) {
				pc_error(err, errno, "revision:%d: symlink %s", line, rel);
				goto out;
			}
		} else if (!strcmp(f[0], "p") && n == 3) {
			if (mkfifo(path, mode) < 0) {
				pc_error(err, errno, "revision:%d: mkfifo %s", line, rel);
				goto out;
			}
		} else if (!strcmp(f[0], "f") && n == 5 && valid_hex(f[3], 64)) {
			char dest[PATH_MAX];
			pc_fmt(dest, sizeof dest, "%s/blobs/%s.%04o", root, f[3], mode);
			if (access(dest, F_OK) < 0) {
				pc_fmt(src, sizeof src, "%s/blobs/%s", staging, f[3]);
				const char *from = access(src, F_OK) == 0 ? src : factory_find(&ix, factory, f[3]);
				if (!from) {
					pc_error(err, 0, "%s/%s (%.12s) is neither in the bundle nor on the device: make the "
						 "bundle --from the revision the device runs", ctr, rel, f[3]);
					goto out;
				}
				if (copy_blob(from, dest, f[3], mode, err) < 0)
					goto out;
			}
			if (link(dest, path) < 0) {
				pc_error(err, errno, "revision:%d: link %s", line, rel);
				goto out;
			}
		} else {
			pc_error(err, 0, "revision:%d: bad entry '%s'", line, f[0]);
			goto out;
		}
	}
	/* the manifest and the listing travel with the revision */
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "revision" : "manifest";
		pc_fmt(src, sizeof src, "%s/%s", staging, name);
		char *data = read_text(src, REVISION_MAX, err);
		pc_fmt(path, sizeof path, "%s/%s", tmpdir, name);
		if (!data || write_file_atomic(path, data, strlen(data), err) < 0) {
			free(data);
			goto out;
		}
		free(data);
	}
	if (fsync_dir(blob) < 0 || nftw(tmpdir, fsync_entry, 16, FTW_PHYS | FTW_DEPTH) != 0) {
		pc_error(err, errno, "fsync %s", tmpdir);
		goto out;
	}
	if (rename(tmpdir, final) < 0) {
		pc_error(err, errno, "rename %s", tmpdir);
		goto out;
	}
	pc_fmt(path, sizeof path, "%s/revisions", root);
	if (fsync_dir(path) < 0) {
		pc_error(err, errno, "fsync %s", path);
		goto out;
	}
	rc = 0;
out:
	factory_free(&ix);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ verification */

struct verify {
	FILE *out;
	int problems;
	long files, entries, blobs;
};

static void problem(struct verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct verify *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("store: ", v->out);
	vfprintf(v->out, fmt, ap);
	fputc('\n', v->out);
	va_end(ap);
	v->problems++;
}

static long count_tree(const char *dir)
{
	long n = 0;
	struct dirent **list;
	int k = scandir(dir, &list, NULL, by_name);
	for (int i = 0; i < k; i++) {
		const char *name = list[i]->d_name;
		if (strcmp(name, ".") && strcmp(name, "..")) {
			char path[PATH_MAX];
			struct stat st;
			pc_fmt(path, sizeof path, "%s/%s", dir, name);
			n++;
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
				n += count_tree(path);
		}
		free(list[i]);
	}
	if (k >= 0)
		free(list);
	return n;
}

/* One revision against its listing: every entry there, of its type, mode, size, content (the
 * digest its listing names) and a hard link of blobs/DIGEST.MODE; nothing else in its tree. */
static void verify_revision(const char *root, const char *slot, const char *target, struct verify *v)
{
	char dir[PATH_MAX], path[PATH_MAX * 2], blob[PATH_MAX * 2];
	struct pc_err err;
	const char *id = target + 10;
	pc_fmt(dir, sizeof dir, "%s/%s", root, target);
	if (!valid_hex(id, 16)) {
		problem(v, "%s: not revisions/ and 16 hex digits", target);
		return;
	}
	if (slot) {
		static struct pc_manifest m;
		if (pc_manifest_compose(slot, dir, &m, &err) < 0)
			problem(v, "%s: manifest: %s", target, err.msg);
	}
	pc_fmt(path, sizeof path, "%s/revision", dir);
	char *text = read_text(path, REVISION_MAX, &err);
	if (!text) {
		problem(v, "%s", err.msg);
		return;
	}
	char *save = NULL, *l = strtok_r(text, "\n", &save);
	if (!l || strcmp(l, "pycontainers-revision 1") || !(l = strtok_r(NULL, "\n", &save)) || strncmp(l, "id ", 3) ||
	    strcmp(l + 3, id)) {
		problem(v, "%s: its listing is not that of revision %s", target, id);
		free(text);
		return;
	}
	char ctr[PC_NAME_MAX + 1] = "";
	long listed = 2, line = 2; /* manifest, revision */
	while ((l = strtok_r(NULL, "\n", &save)) != NULL) {
		line++;
		listed++;
		struct stat st;
		if (!strncmp(l, "container ", 10)) {
			pc_fmt(ctr, sizeof ctr, "%s", l + 10);
			pc_fmt(path, sizeof path, "%s/%s", dir, ctr);
			if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
				problem(v, "%s: container %s: no directory", target, ctr);
			continue;
		}
		char *f[6];
		int n = split_tabs(l, f, 5);
		if (!*ctr || n < 3 || n > 5 || !safe_rel(f[n - 1])) {
			problem(v, "%s/revision:%ld: bad entry", target, line);
			continue;
		}
		const char *rel = f[n - 1];
		unsigned mode = (unsigned)strtoul(f[1], NULL, 8) & 07777;
		pc_fmt(path, sizeof path, "%s/%s/%s", dir, ctr, rel);
		v->entries++;
		if (lstat(path, &st) < 0) {
			problem(v, "%s/%s: missing (%s)", target, ctr, rel);
			continue;
		}
		if (!strcmp(f[0], "d") && n == 3) {
			if (!S_ISDIR(st.st_mode) || (st.st_mode & 07777) != mode)
				problem(v, "%s/%s/%s: not a directory of mode %04o", target, ctr, rel, mode);
		} else if (!strcmp(f[0], "l") && n == 3) {
			char t[PATH_MAX];
			ssize_t k = readlink(path, t, sizeof t - 1);
			t[k > 0 ? k : 0] = '\0';
			if (!S_ISLNK(st.st_mode) || strcmp(t, f[1]))
				problem(v, "%s/%s/%s: not a symlink to %s", target, ctr, rel, f[1]);
		} else if (!strcmp(f[0], "p") && n == 3) {
			if (!S_ISFIFO(st.st_mode) || (st.st_mode & 07777) != mode)
				problem(v, "%s/%s/%s: not a FIFO of mode %04o", target, ctr, rel, mode);
		} else if (!strcmp(f[0], "f") && n == 5 && valid_hex(f[3], 64)) {
			char hex[65];
			struct stat bs;
			v->files++;
			pc_fmt(blob, sizeof blob, "%s/blobs/%s.%04o", root, f[3], mode);
			if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != mode ||
			    (long long)st.st_size != strtoll(f[2], NULL, 10))
				problem(v, "%s/%s/%s: not a file of mode %04o and %s bytes", target, ctr, rel, mode, f[2]);
			else if (hash_file(path, hex) < 0 || strcmp(hex, f[3]))
				problem(v, "%s/%s/%s: content does not match its digest %.12s", target, ctr, rel, f[3]);
			else if (stat(blob, &bs) < 0 || bs.st_ino != st.st_ino || bs.st_dev != st.st_dev)
				problem(v, "%s/%s/%s: not a link of blobs/%.12s...%04o", target, ctr, rel, f[3], mode);
		} else {
			problem(v, "%s/revision:%ld: bad entry '%s'", target, line, f[0]);
		}
	}
	free(text);
	long found = count_tree(dir);
	if (found != listed)
		problem(v, "%s: %ld entries on disk, its listing has %ld", target, found, listed);
}

int pc_store_verify(const char *root, const char *slot, FILE *out)
{
	static const char *const pointers[] = {"current", "previous", "trial"};
	struct verify v = {.out = out};
	char targets[3][PATH_MAX], path[PATH_MAX * 2];
	struct stat st;
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(out, "store: %s: no app store (%s); the factory revision runs\n", root, strerror(errno));
		return errno == ENOENT ? 0 : 1;
	}
	for (int i = 0; i < 3; i++) {
		if (!pc_store_pointer(root, pointers[i], targets[i], sizeof targets[i])) {
			pc_fmt(path, sizeof path, "%s/%s", root, pointers[i]);
			if (lstat(path, &st) == 0)
				problem(&v, "%s: not a symlink", pointers[i]);
			continue;
		}
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen = seen || !strcmp(targets[i], targets[j]);
		if (!strcmp(targets[i], PC_FACTORY) || seen)
			continue;
		pc_fmt(path, sizeof path, "%s/%s", root, targets[i]);
		if (strncmp(targets[i], "revisions/", 10) || stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			problem(&v, "%s -> %s: dangling (no such revision)", pointers[i], targets[i]);
		else
			verify_revision(root, slot, targets[i], &v);
	}
	/* every blob: named DIGEST.MODE, of that mode and content; no half-written leftovers */
	pc_fmt(path, sizeof path, "%s/blobs", root);
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char hex[65], name[80], file[PATH_MAX * 2];
		const char *dot = strchr(e->d_name, '.');
		pc_fmt(file, sizeof file, "%s/%s", path, e->d_name);
		unsigned mode = dot ? (unsigned)strtoul(dot + 1, NULL, 8) : 0;
		pc_fmt(name, sizeof name, "%.64s", e->d_name);
		v.blobs++;
		if (!dot || dot - e->d_name != 64 || !valid_hex(name, 64) || strlen(dot) != 5 ||
		    lstat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
			problem(&v, "blobs/%s: not a blob (DIGEST.MODE): a leftover", e->d_name);
			continue;
		}
		if ((st.st_mode & 07777) != mode)
			problem(&v, "blobs/%s: mode %04o", e->d_name, (unsigned)st.st_mode & 07777);
		if (hash_file(file, hex) < 0 || strcmp(hex, name))
			problem(&v, "blobs/%s: content does not match its name", e->d_name);
	}
	if (d)
		closedir(d);
	pc_fmt(path, sizeof path, "%s/revisions", root);
	d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.' && !valid_hex(e->d_name, 16))
			problem(&v, "revisions/%s: a leftover", e->d_name);
	if (d)
		closedir(d);
	pc_fmt(path, sizeof path, "%s/staging", root);
	if (lstat(path, &st) == 0)
		problem(&v, "staging: a leftover");
	const char *cur = targets[0][0] ? targets[0] : PC_FACTORY;
	if (v.problems)
		fprintf(out, "store: %d problem%s (current %s)\n", v.problems, v.problems == 1 ? "" : "s", cur);
	else
		fprintf(out, "store OK: current %s; %ld entries and %ld files of the revisions pointed to checked, "
			     "%ld blobs rehashed\n", cur, v.entries, v.files, v.blobs);
	return v.problems ? 1 : 0;
}
