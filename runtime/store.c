#define _GNU_SOURCE
#include "store.h"
#include "log.h"
#include "pid1.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Every directory below the store root is opened with these: a link in its place is never followed. */
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* A file that is read: no link followed, and a FIFO in its place does not block the open. */
#define READ_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
#define RMTREE_DEPTH 256

/* Remove NAME in dirfd and, if it is a directory, everything below it, never following a link
 * (a link is removed, not what it points at). */
static int rmtree_at(int dirfd, const char *name, int depth)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	int fd = depth < RMTREE_DEPTH ? openat(dirfd, name, DIR_FLAGS) : -1;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int rc = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && rmtree_at(fd, e->d_name, depth + 1) < 0)
			rc = -1;
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int pc_rmtree(const char *path)
{
	return rmtree_at(AT_FDCWD, path, 0);
}

/* Create NAME in dirfd (it must not exist) with data, fsynced. */
static int write_file_at(int dirfd, const char *name, const char *data, size_t len, struct pc_err *err)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return pc_error(err, errno, "cannot create %s", name);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			close(fd);
			return pc_error(err, errno, "write %s", name);
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return pc_error(err, errno, "fsync %s", name);
	return 0;
}

/* SHA-256 of a regular file (a link or anything else: -1, errno EINVAL); st receives its stat. */
static int hash_at(int dirfd, const char *name, char hex[65], struct stat *st)
{
	int fd = openat(dirfd, name, READ_FLAGS);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
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

/* Open (making it if needed) the directory NAME of dirfd, never through a link. */
static int subdir(int dirfd, const char *name, struct pc_err *err)
{
	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return pc_error(err, errno, "mkdir %s", name);
	int fd = openat(dirfd, name, DIR_FLAGS);
	if (fd < 0)
		return pc_error(err, errno, "%s: not a directory of the store", name);
	return fd;
}

/* The names in a directory (malloc'd; NULL-terminated), so that it can change while they are handled. */
static char **dir_names(int fd)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return NULL;
	}
	size_t n = 0, cap = 16;
	char **names = malloc(cap * sizeof *names);
	for (struct dirent *e; names && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n + 1 == cap) {
			char **more = realloc(names, (cap *= 2) * sizeof *names);
			if (!more)
				break;
			names = more;
		}
		if ((names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	if (names)
		names[n] = NULL;
	closedir(d);
	return names;
}

static void free_names(char **names)
{
	for (char **p = names; p && *p; p++)
		free(*p);
	free(names);
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
	pc_fmt(path, sizeof path, "%s/" PC_WIPE_MARKER, root);
	if (access(path, F_OK) == 0) {
		LOG("factory reset: wiping " PC_VOLUMES_DIR);
		pc_rmtree(PC_VOLUMES_DIR);
		sync();
		unlink(path);
	}
}

int pc_store_factory_reset(const char *root, bool wipe, struct pc_err *err)
{
	char marker[PATH_MAX];
	if (wipe) { /* done at the next boot, before any container runs; the marker survives a power cut */
		pc_fmt(marker, sizeof marker, "%s/" PC_WIPE_MARKER, root);
		int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || fsync(fd) < 0) {
			pc_error(err, errno, "%s", marker);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	/* current first: once it is gone the factory revision runs, whatever happens next */
	if (pc_store_unset(root, "current", err) < 0 || pc_store_unset(root, "trial", err) < 0 ||
	    pc_store_unset(root, "previous", err) < 0)
		return -1;
	LOG("factory reset%s: the factory revision runs after this reboot", wipe ? " with " PC_VOLUMES_DIR " wiped" : "");
	return 0;
}

/* ------------------------------------------------------------------ GC */

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

static void gc_revisions(const char *root, int revs, const char *const keep[], int nkeep)
{
	char **names = dir_names(revs);
	for (char **p = names; p && *p; p++) {
		const char *name = *p;
		if (kept(root, name, keep, nkeep))
			continue;
		/* a revision under its final name is complete: it leaves that name (durably) before
		 * its content goes, so a power cut in the removal leaves a .gc leftover, never a
		 * partial revisions/ID that a later update would take as present */
		if (pc_valid_hex(name, 16)) {
			char gone[32];
			pc_fmt(gone, sizeof gone, "%s.gc", name);
			rmtree_at(revs, gone, 0);
			if (renameat(revs, name, revs, gone) < 0 || fsync(revs) < 0) {
				LOG("app store: cannot retire revisions/%s: %s", name, strerror(errno));
				continue;
			}
			name = gone;
		}
		rmtree_at(revs, name, 0);
	}
	free_names(names);
	fsync(revs);
}

/* Blobs no revision links to (link count 1); returns the bytes freed. */
static long long gc_blobs(int blobs)
{
	long long freed = 0;
	char **names = dir_names(blobs);
	for (char **p = names; p && *p; p++) {
		struct stat st;
		if (fstatat(blobs, *p, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) && st.st_nlink == 1 &&
		    unlinkat(blobs, *p, 0) == 0)
			freed += (long long)st.st_blocks * 512;
	}
	free_names(names);
	fsync(blobs);
	return freed;
}

long long pc_store_gc_blobs(const char *root)
{
	char path[PATH_MAX];
	pc_fmt(path, sizeof path, "%s/blobs", root);
	int blobs = open(path, DIR_FLAGS);
	if (blobs < 0)
		return 0;
	long long freed = gc_blobs(blobs);
	close(blobs);
	return freed;
}

long long pc_store_gc(const char *root, const char *const keep[], int nkeep)
{
	long long freed = 0;
	int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return 0;
	rmtree_at(rfd, "staging", 0);
	int revs = openat(rfd, "revisions", DIR_FLAGS), blobs = openat(rfd, "blobs", DIR_FLAGS);
	if (revs >= 0) {
		gc_revisions(root, revs, keep, nkeep);
		close(revs);
	}
	if (blobs >= 0) {
		freed = gc_blobs(blobs);
		close(blobs);
	}
	close(rfd);
	return freed;
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
			struct stat hs;
			if (hash_at(AT_FDCWD, path, hex, &hs) < 0) {
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

/* ------------------------------------------------------------------ the listing (a pure parser) */

/* The open directory chain while a container's entries are read: a listing is in depth-first
 * order (parents first, as pycontainers writes it), and every entry's parent is the container or
 * the last directory listed on its way, never a link or anything else. */
struct listing {
	char dirs[PC_LISTING_PATH + 1]; /* the path of the deepest open directory */
	size_t lens[PC_LISTING_DEPTH];  /* the length of each open directory's path in dirs */
	int depth;
	char names[PC_MAX_CONTAINERS][PC_NAME_MAX + 1];
	int ncontainers;
};

static bool container_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PC_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* A relative path of non-empty components, none of them "." or "..". */
static bool safe_rel(const char *p)
{
	if (!*p || strlen(p) > PC_LISTING_PATH)
		return false;
	for (const char *s = p;;) {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!s[n])
			return true;
		s += n + 1;
	}
}

/* Exactly 4 octal digits, as pycontainers writes modes. */
static int parse_mode(const char *s, unsigned *mode)
{
	if (strlen(s) != 4)
		return -1;
	*mode = 0;
	for (int i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -1;
		*mode = *mode * 8 + (unsigned)(s[i] - '0');
	}
	return 0;
}

static int parse_size(const char *s, long long *size)
{
	if (!*s || strlen(s) > 15)
		return -1;
	*size = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		*size = *size * 10 + (*s - '0');
	}
	return 0;
}

/* Split a line on tabs into at most max fields (the generator refuses tabs in paths and
 * symlink targets); returns the count, max + 1 when there are more. */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;
	for (char *tok; n < max && (tok = strsep(&line, "\t")) != NULL;)
		f[n++] = tok;
	return line ? max + 1 : n;
}

/* Leave the open directories path is not in; its parent must then be the deepest one left. */
static int place(struct listing *ls, struct pc_entry *e, struct pc_err *err)
{
	const char *path = e->path, *slash = strrchr(path, '/');
	size_t plen = slash ? (size_t)(slash - path) : 0;
	while (ls->depth > 0) {
		size_t l = ls->lens[ls->depth - 1];
		if (plen >= l && !strncmp(path, ls->dirs, l) && path[l] == '/')
			break;
		ls->depth--;
	}
	if (plen != (ls->depth ? ls->lens[ls->depth - 1] : 0))
		return pc_error(err, 0, "revision:%d: %s: its parent '%.*s' is not a directory listed before it "
				    "(nothing is made under a link)", e->line, path, (int)plen, path);
	e->depth = ls->depth;
	e->name = slash ? slash + 1 : path;
	if (e->type == PC_ENT_DIR) {
		if (ls->depth == PC_LISTING_DEPTH)
			return pc_error(err, 0, "revision:%d: %s: deeper than %d directories", e->line, path, PC_LISTING_DEPTH);
		memcpy(ls->dirs, path, strlen(path));
		ls->lens[ls->depth++] = strlen(path);
	}
	return 0;
}

static int container_line(struct listing *ls, struct pc_entry *e, const char *name, struct pc_err *err)
{
	if (!container_name(name))
		return pc_error(err, 0, "revision:%d: '%.64s' is not a container name ([a-z0-9][a-z0-9-]*, at most %d)",
				e->line, name, PC_NAME_MAX);
	for (int i = 0; i < ls->ncontainers; i++)
		if (!strcmp(ls->names[i], name))
			return pc_error(err, 0, "revision:%d: container '%s' is listed twice", e->line, name);
	if (ls->ncontainers == PC_MAX_CONTAINERS)
		return pc_error(err, 0, "revision:%d: more than %d containers", e->line, PC_MAX_CONTAINERS);
	strcpy(ls->names[ls->ncontainers++], name);
	ls->depth = 0;
	e->type = PC_ENT_CONTAINER;
	e->path = e->name = name;
	e->depth = -1;
	return 0;
}

/* One entry line split into fields: its type, mode, size, digest, target and path checked. */
static int entry_line(struct listing *ls, struct pc_entry *e, char **f, int n, struct pc_err *err)
{
	static const struct {
		const char *tag;
		enum pc_entry_type type;
		int fields;
	} kinds[] = {{"d", PC_ENT_DIR, 3}, {"f", PC_ENT_FILE, 5}, {"l", PC_ENT_LINK, 3}, {"p", PC_ENT_FIFO, 3}};
	int k = 0;
	while (k < 4 && strcmp(f[0], kinds[k].tag))
		k++;
	if (k == 4)
		return pc_error(err, 0, "revision:%d: unknown entry type '%.16s' (d, f, l, p; device nodes are not carried)",
				e->line, f[0]);
	if (n != kinds[k].fields)
		return pc_error(err, 0, "revision:%d: a '%s' entry has %s%d tab-separated fields, not %d", e->line, f[0],
				n > 5 ? "more than " : "", n > 5 ? 5 : n, kinds[k].fields);
	if (!ls->ncontainers)
		return pc_error(err, 0, "revision:%d: an entry before the first 'container NAME' line", e->line);
	e->type = kinds[k].type;
	e->path = f[n - 1];
	if (!safe_rel(e->path))
		return pc_error(err, 0, "revision:%d: '%.200s' is not a relative path of at most %d bytes without '.', "
				    "'..' or empty components", e->line, e->path, PC_LISTING_PATH);
	if (e->type == PC_ENT_LINK) {
		e->target = f[1];
		if (!*e->target)
			return pc_error(err, 0, "revision:%d: %s: an empty link target", e->line, e->path);
		return place(ls, e, err);
	}
	if (parse_mode(f[1], &e->mode) < 0)
		return pc_error(err, 0, "revision:%d: %s: mode '%.16s' is not 4 octal digits", e->line, e->path, f[1]);
	if (e->mode & (S_ISUID | S_ISGID))
		return pc_error(err, 0, "revision:%d: %s: mode %04o has the set-user-ID or set-group-ID bit; app "
				    "revisions carry neither", e->line, e->path, e->mode);
	if (e->type == PC_ENT_FILE) {
		if (parse_size(f[2], &e->size) < 0)
			return pc_error(err, 0, "revision:%d: %s: size '%.16s' is not a number of bytes", e->line, e->path, f[2]);
		if (!pc_valid_hex(f[3], 64))
			return pc_error(err, 0, "revision:%d: %s: '%.80s' is not 64 lower-case hex digits", e->line, e->path, f[3]);
		e->hex = f[3];
	}
	return place(ls, e, err);
}

int pc_listing_parse(const char *text, size_t len, char id[17], pc_entry_fn fn, void *ctx, struct pc_err *err)
{
	static struct listing ls;
	char line[PC_LISTING_LINE + 1];
	memset(&ls, 0, offsetof(struct listing, names));
	ls.ncontainers = 0;
	int lineno = 0;
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
		lineno++;
		if (n > PC_LISTING_LINE)
			return pc_error(err, 0, "revision:%d: longer than %d bytes", lineno, PC_LISTING_LINE);
		memcpy(line, text + off, n);
		line[n] = '\0';
		off += n + 1;
		if (strlen(line) != n)
			return pc_error(err, 0, "revision:%d: a NUL byte", lineno);
		if (lineno == 1) {
			if (strcmp(line, "pycontainers-revision 1"))
				return pc_error(err, 0, "revision:1: not a pycontainers revision listing (format 1)");
			continue;
		}
		if (lineno == 2) {
			if (strncmp(line, "id ", 3) || !pc_valid_hex(line + 3, 16))
				return pc_error(err, 0, "revision:2: expected 'id' and 16 hex digits");
			memcpy(id, line + 3, 17);
			continue;
		}
		struct pc_entry e = {.line = lineno};
		char *f[6];
		int rc = !strncmp(line, "container ", 10) ? container_line(&ls, &e, line + 10, err)
							   : entry_line(&ls, &e, f, split_tabs(line, f, 5), err);
		if (rc < 0 || (fn && fn(&e, ctx, err) < 0))
			return -1;
	}
	if (lineno < 2)
		return pc_error(err, 0, "revision:%d: not a pycontainers revision listing (format 1)", lineno + 1);
	return 0;
}

/* ------------------------------------------------------------------ materializing a revision */

struct build {
	int tmp;    /* revisions/ID.tmp */
	int blobs;  /* the store's blobs/ */
	int bundle; /* blobs/ of the extracted bundle, or -1 */
	int fds[PC_LISTING_DEPTH + 1]; /* the container's directory, then those open below it */
	int top;    /* the deepest in fds, -1: none */
	char ctr[PC_NAME_MAX + 1];
	const struct pc_manifest *factory;
	struct factory_index ix;
};

/* Close (each fsynced) the directories deeper than depth. */
static int close_to(struct build *b, int depth, struct pc_err *err)
{
	int rc = 0;
	for (; b->top > depth; b->top--) {
		if (fsync(b->fds[b->top]) < 0 && rc == 0)
			rc = pc_error(err, errno, "fsync %s", b->ctr);
		close(b->fds[b->top]);
	}
	return rc;
}

/* Copy the open file in to blobs/NAME (through NAME.tmp) with the given mode, checking its digest. */
static int copy_blob(int in, int blobs, const char *name, const char *hex, unsigned mode, struct pc_err *err)
{
	char tmp[96], got[65];
	pc_fmt(tmp, sizeof tmp, "%s.tmp", name);
	unlinkat(blobs, tmp, 0);
	int out = openat(blobs, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return pc_error(err, errno, "create blobs/%s", tmp);
	}
	static unsigned char buf[COPY_BUF];
	struct pc_sha256 s;
	pc_sha256_init(&s);
	ssize_t n;
	int rc = 0;
	while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0) {
		pc_sha256_update(&s, buf, (size_t)n);
		for (ssize_t off = 0; off < n && rc == 0;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				rc = pc_error(err, errno, "write blobs/%s", tmp);
			off += w;
		}
	}
	if (n < 0 && rc == 0)
		rc = pc_error(err, errno, "read the content of %.12s", hex);
	close(in);
	pc_sha256_hex(&s, got);
	if (rc == 0 && strcmp(got, hex))
		rc = pc_error(err, 0, "the content of %.12s does not match its digest", hex);
	if (rc == 0 && (fchmod(out, mode) < 0 || fsync(out) < 0))
		rc = pc_error(err, errno, "fsync blobs/%s", tmp);
	if (close(out) < 0 && rc == 0)
		rc = pc_error(err, errno, "close blobs/%s", tmp);
	if (rc == 0 && renameat(blobs, tmp, blobs, name) < 0)
		rc = pc_error(err, errno, "rename blobs/%s", tmp);
	if (rc < 0)
		unlinkat(blobs, tmp, 0);
	return rc;
}

/* blobs/DIGEST.MODE, from the store, the bundle or a factory file of that digest. */
static int blob(struct build *b, const struct pc_entry *e, const char *name, struct pc_err *err)
{
	struct stat st;
	if (fstatat(b->blobs, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return S_ISREG(st.st_mode) ? 0 : pc_error(err, 0, "blobs/%s: not a regular file", name);
	int in = b->bundle >= 0 ? openat(b->bundle, e->hex, READ_FLAGS) : -1;
	if (in < 0 && errno == ELOOP)
		return pc_error(err, 0, "blobs/%s of the bundle: not a regular file", e->hex);
	if (in < 0) {
		const char *from = factory_find(&b->ix, b->factory, e->hex);
		in = from ? open(from, READ_FLAGS) : -1;
	}
	if (in < 0)
		return pc_error(err, 0, "%s/%s (%.12s) is neither in the bundle nor on the device: make the bundle "
				    "--from the revision the device runs", b->ctr, e->path, e->hex);
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return pc_error(err, 0, "the content of %s/%s (%.12s): not a regular file", b->ctr, e->path, e->hex);
	}
	return copy_blob(in, b->blobs, name, e->hex, e->mode, err);
}

/* Make one entry, relative to its parent's descriptor: nothing is followed, nothing replaced. */
static int build_entry(const struct pc_entry *e, void *ctx, struct pc_err *err)
{
	struct build *b = ctx;
	if (close_to(b, e->type == PC_ENT_CONTAINER ? -1 : e->depth, err) < 0)
		return -1;
	if (e->type == PC_ENT_CONTAINER) {
		pc_fmt(b->ctr, sizeof b->ctr, "%s", e->name);
		if (mkdirat(b->tmp, e->name, 0755) < 0 || (b->fds[0] = openat(b->tmp, e->name, DIR_FLAGS)) < 0)
			return pc_error(err, errno, "revision:%d: container %s", e->line, e->name);
		b->top = 0;
		return 0;
	}
	int dir = b->fds[e->depth], fd;
	char name[96];
	switch (e->type) {
	case PC_ENT_DIR:
		if (mkdirat(dir, e->name, 0700) < 0 || (fd = openat(dir, e->name, DIR_FLAGS)) < 0)
			return pc_error(err, errno, "revision:%d: %s: mkdir", e->line, e->path);
		b->fds[++b->top] = fd;
		if (fchmod(fd, e->mode) < 0)
			return pc_error(err, errno, "revision:%d: %s: chmod", e->line, e->path);
		return 0;
	case PC_ENT_LINK:
		if (symlinkat(e->target, dir, e->name) < 0)
			return pc_error(err, errno, "revision:%d: %s: symlink", e->line, e->path);
		return 0;
	case PC_ENT_FIFO: /* the umask is 0 while a revision is built */
		if (mkfifoat(dir, e->name, e->mode) < 0)
			return pc_error(err, errno, "revision:%d: %s: mkfifo", e->line, e->path);
		return 0;
	default:
		pc_fmt(name, sizeof name, "%s.%04o", e->hex, e->mode);
		if (blob(b, e, name, err) < 0)
			return -1;
		if (linkat(b->blobs, name, dir, e->name, 0) < 0)
			return pc_error(err, errno, "revision:%d: %s: link", e->line, e->path);
		return 0;
	}
}

/* The listing, the manifest (and the bundle's version, when it names one) travel with the revision. */
static int copy_meta(int staging, int tmp, const char *version, struct pc_err *err)
{
	static const char *const names[] = {"manifest", "revision"};
	char line[160];
	if (version && (pc_fmt(line, sizeof line, "version=%s\n", version) < 0 ||
			write_file_at(tmp, "version", line, strlen(line), err) < 0))
		return pc_error(err, 0, "version '%.32s': cannot be kept", version);
	for (int i = 0; i < 2; i++) {
		size_t len;
		char *data = pc_read_file_at(staging, names[i], O_NOFOLLOW, REVISION_MAX, &len, err);
		if (!data || write_file_at(tmp, names[i], data, len, err) < 0) {
			free(data);
			return -1;
		}
		free(data);
	}
	return 0;
}

/* Build revisions/ID.tmp from the listing (checked whole first), then rename it to revisions/ID. */
static int build_revision(int revs, int staging, const char *text, size_t len, const char *id, const char *version,
			  struct build *b, struct pc_err *err)
{
	char tmpname[32];
	pc_fmt(tmpname, sizeof tmpname, "%s.tmp", id);
	rmtree_at(revs, tmpname, 0);
	if (mkdirat(revs, tmpname, 0755) < 0 || (b->tmp = openat(revs, tmpname, DIR_FLAGS)) < 0)
		return pc_error(err, errno, "mkdir revisions/%s", tmpname);
	b->bundle = openat(staging, "blobs", DIR_FLAGS);
	if (b->bundle < 0 && errno != ENOENT)
		return pc_error(err, 0, "blobs/ of the bundle: not a directory");
	char got[17];
	mode_t old = umask(0);
	int rc = pc_listing_parse(text, len, got, build_entry, b, err);
	umask(old);
	struct pc_err ignored;
	if (close_to(b, -1, rc < 0 ? &ignored : err) < 0 || rc < 0 || copy_meta(staging, b->tmp, version, err) < 0)
		return -1;
	if (fsync(b->blobs) < 0 || fsync(b->tmp) < 0)
		return pc_error(err, errno, "fsync revisions/%s", tmpname);
	if (renameat(revs, tmpname, revs, id) < 0 || fsync(revs) < 0)
		return pc_error(err, errno, "rename revisions/%s", tmpname);
	return 0;
}

int pc_store_materialize(const char *root, const char *staging, const struct pc_manifest *factory,
			 const char *version, const char *expect, char *id, size_t idsize, struct pc_err *err)
{
	struct build b = {.tmp = -1, .blobs = -1, .bundle = -1, .top = -1, .factory = factory};
	int sfd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rfd = -1, revs = -1, rc = -1;
	char *text = NULL, rid[17];
	size_t len = 0;
	struct stat st;
	if (sfd < 0) {
		pc_error(err, errno, "open %s", staging);
		goto out;
	}
	text = pc_read_file_at(sfd, "revision", O_NOFOLLOW, REVISION_MAX, &len, err);
	if (!text || pc_listing_parse(text, len, rid, NULL, NULL, err) < 0) /* all checked before anything is made */
		goto out;
	if (expect && strcmp(rid, expect)) {
		pc_error(err, 0, "revision:2: the listing is of revision %s, the bundle's description names %s", rid, expect);
		goto out;
	}
	pc_fmt(id, idsize, "%s", rid);
	if (pc_mkdirs(root, err) < 0 || (rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (revs = subdir(rfd, "revisions", err)) < 0 || (b.blobs = subdir(rfd, "blobs", err)) < 0)
		goto out;
	if (fstatat(revs, rid, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		rc = 0; /* complete: it appears only by the final rename */
		goto out;
	}
	rc = build_revision(revs, sfd, text, len, rid, version, &b, err);
	if (rc < 0) {
		char tmpname[32];
		pc_fmt(tmpname, sizeof tmpname, "%s.tmp", rid);
		rmtree_at(revs, tmpname, 0);
	}
out:
	for (int *fd = (int[]){sfd, rfd, revs, b.blobs, b.bundle, b.tmp, -2}; *fd != -2; fd++)
		if (*fd >= 0)
			close(*fd);
	factory_free(&b.ix);
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

/* Entries below NAME of dirfd (not counting it), no link followed. */
static long count_at(int dirfd, const char *name, int depth)
{
	int fd = depth < RMTREE_DEPTH ? openat(dirfd, name, DIR_FLAGS) : -1;
	char **names = fd >= 0 ? dir_names(fd) : NULL;
	long n = 0;
	for (char **p = names; p && *p; p++) {
		struct stat st;
		n++;
		if (fstatat(fd, *p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			n += count_at(fd, *p, depth + 1);
	}
	free_names(names);
	if (fd >= 0)
		close(fd);
	return n;
}

struct check {
	struct verify *v;
	const char *target;
	int blobs;
	int rev;
	int fds[PC_LISTING_DEPTH + 1];
	int top; /* -1: the container's directory is missing (its entries are not looked at) */
	char ctr[PC_NAME_MAX + 1];
	long listed;
};

static void check_close(struct check *c, int depth)
{
	for (; c->top > depth; c->top--)
		if (c->fds[c->top] >= 0)
			close(c->fds[c->top]);
}

static void check_file(struct check *c, const struct pc_entry *e, int dir, const struct stat *st)
{
	char hex[65], blob[96];
	struct stat hs, bs;
	c->v->files++;
	pc_fmt(blob, sizeof blob, "%s.%04o", e->hex, e->mode);
	if (!S_ISREG(st->st_mode) || (st->st_mode & 07777) != e->mode || (long long)st->st_size != e->size)
		problem(c->v, "%s/%s/%s: not a file of mode %04o and %lld bytes", c->target, c->ctr, e->path, e->mode, e->size);
	else if (hash_at(dir, e->name, hex, &hs) < 0 || strcmp(hex, e->hex))
		problem(c->v, "%s/%s/%s: content does not match its digest %.12s", c->target, c->ctr, e->path, e->hex);
	else if (c->blobs < 0 || fstatat(c->blobs, blob, &bs, AT_SYMLINK_NOFOLLOW) < 0 || bs.st_ino != st->st_ino ||
		 bs.st_dev != st->st_dev)
		problem(c->v, "%s/%s/%s: not a link of blobs/%.12s...%04o", c->target, c->ctr, e->path, e->hex, e->mode);
}

/* One entry of a stored revision against the tree, relative to its parent's descriptor. */
static int check_entry(const struct pc_entry *e, void *ctx, struct pc_err *err)
{
	(void)err;
	struct check *c = ctx;
	if (e->type == PC_ENT_CONTAINER) {
		check_close(c, -1);
		pc_fmt(c->ctr, sizeof c->ctr, "%s", e->name);
		c->listed++;
		c->fds[0] = openat(c->rev, e->name, DIR_FLAGS);
		c->top = c->fds[0] >= 0 ? 0 : -1;
		if (c->top < 0)
			problem(c->v, "%s: container %s: no directory", c->target, e->name);
		return 0;
	}
	c->listed++;
	c->v->entries++;
	if (c->top < e->depth || c->fds[e->depth] < 0)
		return 0; /* under a directory found missing */
	check_close(c, e->depth);
	int dir = c->fds[e->depth];
	struct stat st;
	if (fstatat(dir, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		problem(c->v, "%s/%s: missing (%s)", c->target, c->ctr, e->path);
		if (e->type == PC_ENT_DIR)
			c->fds[++c->top] = -1;
		return 0;
	}
	if (e->type == PC_ENT_DIR) {
		if (!S_ISDIR(st.st_mode) || (st.st_mode & 07777) != e->mode)
			problem(c->v, "%s/%s/%s: not a directory of mode %04o", c->target, c->ctr, e->path, e->mode);
		c->fds[++c->top] = S_ISDIR(st.st_mode) ? openat(dir, e->name, DIR_FLAGS) : -1;
	} else if (e->type == PC_ENT_LINK) {
		char t[PATH_MAX];
		ssize_t k = readlinkat(dir, e->name, t, sizeof t - 1);
		t[k > 0 ? k : 0] = '\0';
		if (!S_ISLNK(st.st_mode) || strcmp(t, e->target))
			problem(c->v, "%s/%s/%s: not a symlink to %s", c->target, c->ctr, e->path, e->target);
	} else if (e->type == PC_ENT_FIFO) {
		if (!S_ISFIFO(st.st_mode) || (st.st_mode & 07777) != e->mode)
			problem(c->v, "%s/%s/%s: not a FIFO of mode %04o", c->target, c->ctr, e->path, e->mode);
	} else {
		check_file(c, e, dir, &st);
	}
	return 0;
}

/* One revision against its listing: every entry there, of its type, mode, size, content (the
 * digest its listing names) and a hard link of blobs/DIGEST.MODE; nothing else in its tree. */
static void verify_revision(const char *root, const char *slot, const char *target, struct verify *v)
{
	char dir[PATH_MAX], blobs[PATH_MAX], rid[17];
	struct pc_err err;
	const char *id = target + 10;
	struct check c = {.v = v, .target = target, .top = -1, .listed = 2}; /* manifest, revision */
	pc_fmt(dir, sizeof dir, "%s/%s", root, target);
	if (slot) {
		static struct pc_manifest m;
		if (pc_manifest_compose(slot, dir, &m, &err) < 0)
			problem(v, "%s: manifest: %s", target, err.msg);
	}
	c.rev = open(dir, DIR_FLAGS);
	pc_fmt(blobs, sizeof blobs, "%s/blobs", root);
	c.blobs = open(blobs, DIR_FLAGS);
	size_t len;
	char *text = c.rev >= 0 ? pc_read_file_at(c.rev, "revision", O_NOFOLLOW, REVISION_MAX, &len, &err) : NULL;
	struct stat st;
	if (c.rev >= 0 && fstatat(c.rev, "version", &st, AT_SYMLINK_NOFOLLOW) == 0)
		c.listed++;
	if (!text)
		problem(v, "%s: %s", target, c.rev < 0 ? "not a directory" : err.msg);
	else if (pc_listing_parse(text, len, rid, check_entry, &c, &err) < 0)
		problem(v, "%s/%s", target, err.msg);
	else if (strcmp(rid, id))
		problem(v, "%s: its listing is not that of revision %s", target, id);
	else if (count_at(c.rev, ".", 0) != c.listed)
		problem(v, "%s: %ld entries on disk, its listing has %ld", target, count_at(c.rev, ".", 0), c.listed);
	check_close(&c, -1);
	free(text);
	if (c.blobs >= 0)
		close(c.blobs);
	if (c.rev >= 0)
		close(c.rev);
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
		if (!pc_store_target_ok(targets[i]))
			problem(&v, "%s -> %s: not factory nor revisions/ and 16 hex digits", pointers[i], targets[i]);
		else if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			problem(&v, "%s -> %s: dangling (no such revision)", pointers[i], targets[i]);
		else
			verify_revision(root, slot, targets[i], &v);
	}
	/* every blob: named DIGEST.MODE, of that mode and content; no half-written leftovers */
	pc_fmt(path, sizeof path, "%s/blobs", root);
	int bfd = open(path, DIR_FLAGS);
	char **names = bfd >= 0 ? dir_names(bfd) : NULL;
	for (char **p = names; p && *p; p++) {
		char hex[65], name[80];
		const char *dot = strchr(*p, '.');
		unsigned mode = 0;
		pc_fmt(name, sizeof name, "%.64s", *p);
		v.blobs++;
		if (!dot || dot - *p != 64 || !pc_valid_hex(name, 64) || parse_mode(dot + 1, &mode) < 0 ||
		    fstatat(bfd, *p, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
			problem(&v, "blobs/%s: not a blob (DIGEST.MODE): a leftover", *p);
			continue;
		}
		if ((st.st_mode & 07777) != mode)
			problem(&v, "blobs/%s: mode %04o", *p, (unsigned)st.st_mode & 07777);
		if (hash_at(bfd, *p, hex, &st) < 0 || strcmp(hex, name))
			problem(&v, "blobs/%s: content does not match its name", *p);
	}
	free_names(names);
	if (bfd >= 0)
		close(bfd);
	pc_fmt(path, sizeof path, "%s/revisions", root);
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.' && !pc_valid_hex(e->d_name, 16))
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
