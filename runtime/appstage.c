/* The staging child of an app update (docs/app-updates.md), run by pycm as
 *
 *   pycm-store --app-stage [--allow-downgrade] [--running=REV] TARGET ROOT SLOT_MANIFEST [NAME=BUNDLE ...]
 *
 * TARGET is an app bundle file, "factory" or "revisions/ID" (a rollback). For a bundle: open it
 * once and hand that same file to rauc (/proc/self/fd/N): `rauc info` checks the signature
 * against the keyring, pycm the compatible "<COMPATIBLE>-apps" and the version (not older than
 * the running revision REV's unless --allow-downgrade); the space it needs must be free on /data
 * (nothing written otherwise); `rauc extract` (signature and payload verified again) into
 * ROOT/staging, whose manifest.raucm must say what rauc info said; what the revision may set is
 * checked (check_manifest: bundles in the store, volumes, host containers, bridge networking only
 * on a slot that has it), then ROOT/revisions/ID is built, and its host containers' files and
 * its app containers' configs are checked (check_built: the app policy beside SLOT_MANIFEST,
 * policy.c); a revision refused then is removed again with its blobs. Then compare the target's container
 * bundles with the running ones (NAME=BUNDLE) and answer on fd 3:
 *
 *   target revisions/ID | factory
 *   changed NAME        (one line per container whose bundle content differs or that is new)
 *
 * or "error MESSAGE". Exit 0 or 1. It runs beside the supervisor, which keeps petting the
 * watchdog and serving containers while the hashing and copying take their time; if it dies,
 * only the update fails (pycm then runs pycm-store --gc for what it left).
 *
 * Also here: `pycm-store --rauc-pre-install`, RAUC's pre-install handler, which refuses a system
 * bundle older than the running system (pc_rauc_pre_install_main).
 */
#define _GNU_SOURCE
#include "log.h"
#include "manifest.h"
#include "pid1.h"
#include "policy.h"
#include "release.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESERVE (4LL << 20) /* /data keeps this free for logs and volumes */
#define VOLUMES_DIR "/data/volumes/"
#define RAUCM_MAX (64 * 1024)

int pc_answer(const char *fmt, ...)
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
	pc_answer("error %s\n", buf);
	return 1;
}

/* Run argv with stdout and stderr into buf, keep_fd (or -1) inherited; returns the exit status
 * (-1: not run). */
static int capture(char *const argv[], int keep_fd, char *buf, size_t size)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		pc_child_reset();
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0);
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
	pc_fmt(pat, sizeof pat, "\n%s='", key);
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

/* KEY of a small text file (a link or anything but a regular file gives ""). */
static void file_value(int dirfd, const char *name, const char *key, char *val, size_t size)
{
	static char text[RAUCM_MAX + 1];
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t n = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, RAUCM_MAX) : -1;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	pc_key_value(text, key, val, size);
}

/* ------------------------------------------------------------------ versions */

/* dpkg's ordering of one character: '~' before the end, letters before other characters. */
static int order(int c)
{
	if (isdigit(c))
		return 0;
	if (isalpha(c))
		return c;
	if (c == '~')
		return -1;
	return c ? c + 256 : 0;
}

/* dpkg's verrevcmp: runs of non-digits compared by order(), runs of digits as numbers. */
static int verrevcmp(const char *a, const char *b)
{
	while (*a || *b) {
		int first_diff = 0;
		while ((*a && !isdigit((unsigned char)*a)) || (*b && !isdigit((unsigned char)*b))) {
			int ac = order((unsigned char)*a), bc = order((unsigned char)*b);
			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (isdigit((unsigned char)*a))
			return 1;
		if (isdigit((unsigned char)*b))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

int pc_version_cmp(const char *a, const char *b)
{
	char ua[128], ub[128];
	const char *ra = strrchr(a, '-'), *rb = strrchr(b, '-');
	pc_fmt(ua, sizeof ua, "%.*s", (int)(ra ? ra - a : (long)strlen(a)), a);
	pc_fmt(ub, sizeof ub, "%.*s", (int)(rb ? rb - b : (long)strlen(b)), b);
	int c = verrevcmp(ua, ub);
	return c ? c : verrevcmp(ra ? ra + 1 : "", rb ? rb + 1 : "");
}

/* The version of the running revision: the slot's for the factory one, else the one stored with
 * it ("" when it has none: made before versions were kept). */
static void running_version(const char *root, const char *running, char *val, size_t size)
{
	char dir[PATH_MAX];
	if (!strcmp(running, PC_FACTORY)) {
		pc_release_value("VERSION", val, size);
		return;
	}
	pc_fmt(dir, sizeof dir, "%s/%s", root, running);
	int fd = pc_store_target_ok(running) ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	val[0] = '\0';
	if (fd >= 0) {
		file_value(fd, "version", "version", val, size);
		close(fd);
	}
}

/* Anti-rollback: 0 when version may replace the running revision's. */
static int check_version(const char *bundle, const char *version, const char *root, const char *running,
			 bool allow_downgrade)
{
	char have[128];
	running_version(root, running, have, sizeof have);
	if (!*have || pc_version_cmp(version, have) >= 0)
		return 0;
	if (!allow_downgrade)
		return fail("%s: version %s is older than %s of the running revision (%s): refused; "
			    "`pycmctl app-update --allow-downgrade FILE` installs it",
			    bundle, version, have, running);
	LOG("app update: --allow-downgrade: installing version %s over %s (%s)", version, have, running);
	return 0;
}

/* ------------------------------------------------------------------ what a revision may set */

/* A volume: /data/volumes/NAME, and NAME none of another slot container's volumes. */
static int check_volume(const struct pc_manifest *slot, const struct pc_container *c, const char *vol)
{
	const char *name = vol + strlen(VOLUMES_DIR);
	if (strncmp(vol, VOLUMES_DIR, strlen(VOLUMES_DIR)) || !*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return fail("container %s: volume %s is not " VOLUMES_DIR "NAME", c->name, vol);
	const char *owner = NULL;
	for (int i = 0; i < slot->ncontainers; i++)
		for (int v = 0; v < slot->c[i].nvolumes; v++)
			if (!strcmp(slot->c[i].volumes[v], vol)) {
				if (!strcmp(slot->c[i].name, c->name))
					return 0;
				owner = slot->c[i].name;
			}
	return owner ? fail("container %s: volume %s belongs to container %s: an app bundle cannot give it "
			    "to another container", c->name, vol, owner)
		     : 0;
}

/* Role host containers are the slot's, with the same section, unless the slot allows otherwise
 * (the slot's services, which the composed manifest keeps, are no containers). */
static int check_hosts(const struct pc_manifest *slot, const struct pc_manifest *next)
{
	if (slot->apps_may_change_host)
		return 0;
	for (int j = 0; j < next->ncontainers; j++) {
		const struct pc_container *c = &next->c[j];
		if (c->service)
			continue;
		int i = pc_manifest_find(slot, c->name);
		bool host_there = i >= 0 && slot->c[i].role == ROLE_HOST && !slot->c[i].service;
		if (c->role == ROLE_HOST && !host_there)
			return fail("container %s: role host: an app bundle cannot add a host container "
				    "(update.apps_may_change_host is false)", c->name);
		if (host_there && (c->role != ROLE_HOST || !pc_container_same(slot, &slot->c[i], next, c)))
			return fail("container %s: an app bundle cannot change the host container's section "
				    "(update.apps_may_change_host is false)", c->name);
	}
	for (int i = 0; i < slot->ncontainers; i++)
		if (slot->c[i].role == ROLE_HOST && !slot->c[i].service && pc_manifest_find(next, slot->c[i].name) < 0)
			return fail("an app bundle cannot remove the host container %s (update.apps_may_change_host is "
				    "false)", slot->c[i].name);
	return 0;
}

/* Whether the slot has bridge networking: pycm-net and the kernel's network modules are in a slot
 * exactly when its device file has a network: bridge container (docs/networking.md), in every
 * backend. */
static bool slot_has_bridges(const struct pc_manifest *slot)
{
	for (int i = 0; i < slot->ncontainers; i++)
		if (!slot->c[i].service && slot->c[i].network == NET_BRIDGE)
			return true;
	return false;
}

/* The manifest of revision ID (composed with the slot's): every bundle its own directory of
 * ROOT/revisions/ID, volumes as check_volume says, host containers as check_hosts says, bridge
 * networking only on a slot that has it. */
static int check_manifest(const struct pc_manifest *slot, const struct pc_manifest *next, const char *root,
			  const char *id)
{
	char want[PATH_MAX];
	bool bridges = slot_has_bridges(slot);
	for (int j = 0; j < next->ncontainers; j++) {
		const struct pc_container *c = &next->c[j];
		if (c->service)
			continue;
		if (c->network == NET_BRIDGE && !bridges)
			return fail("container %s: network = bridge: this slot has no bridge networking (pycm-net and its "
				    "kernel modules come with a slot whose device file has a network: bridge container): a "
				    "system update must bring it first", c->name);
		pc_fmt(want, sizeof want, "%s/revisions/%s/%s", root, id, c->name);
		if (strcmp(c->bundle, want))
			return fail("container %s: bundle %s is not %s, its directory in the app store", c->name, c->bundle,
				    want);
		for (int v = 0; v < c->nvolumes; v++)
			if (check_volume(slot, c, c->volumes[v]))
				return 1;
	}
	return check_hosts(slot, next);
}

/* The content of each host container is the slot's (tree digests), unless the slot allows otherwise. */
static int check_host_content(const struct pc_manifest *slot, const struct pc_manifest *next)
{
	struct pc_err err;
	char a[65], b[65];
	for (int j = 0; j < next->ncontainers && !slot->apps_may_change_host; j++) {
		int i = pc_manifest_find(slot, next->c[j].name);
		if (next->c[j].service || next->c[j].role != ROLE_HOST || i < 0 || slot->c[i].service)
			continue;
		if (pc_tree_digest(slot->c[i].bundle, a, &err) < 0 || pc_tree_digest(next->c[j].bundle, b, &err) < 0)
			return fail("%s", err.msg);
		if (strcmp(a, b))
			return fail("container %s: an app bundle cannot change the host container's files "
				    "(update.apps_may_change_host is false)", next->c[j].name);
	}
	return 0;
}

/* ------------------------------------------------------------------ staging a bundle */

struct bundle_info {
	char compat[128], version[128], desc[256], id[32];
	long long need;
};

/* rauc info of the open bundle: signature, compatible, the revision id and the space it needs. */
static int bundle_info(const char *bundle, const char *fdpath, int fd, struct bundle_info *bi)
{
	const char *rauc = getenv("PYCM_RAUC") ? getenv("PYCM_RAUC") : "rauc";
	static char out[16384];
	char want[160];
	char *info[] = {(char *)rauc, "info", "--output-format=shell", (char *)fdpath, NULL};
	out[0] = '\n';
	if (capture(info, fd, out + 1, sizeof out - 1) != 0)
		return fail("%s: refused: %s", bundle, last_line(out + 1));
	pc_release_value("COMPATIBLE", want, sizeof want - 8);
	strcat(want, "-apps");
	if (shell_value(out, "RAUC_MF_COMPATIBLE", bi->compat, sizeof bi->compat) < 0 || strcmp(bi->compat, want))
		return fail("%s: compatible '%s' is not '%s': not an app bundle for this device", bundle, bi->compat, want);
	if (shell_value(out, "RAUC_MF_VERSION", bi->version, sizeof bi->version) < 0)
		bi->version[0] = '\0';
	/* description: "pycontainers app revision ID, needs N bytes" (set by pycontainers app-bundle) */
	const char *p;
	bi->need = -1;
	if (shell_value(out, "RAUC_MF_DESCRIPTION", bi->desc, sizeof bi->desc) == 0 && (p = strstr(bi->desc, ", needs ")))
		bi->need = strtoll(p + 8, NULL, 10);
	if (bi->need < 0 || sscanf(bi->desc, "pycontainers app revision %16[0-9a-f],", bi->id) != 1 ||
	    strlen(bi->id) != 16)
		return fail("%s: its description is not 'pycontainers app revision ID, needs N bytes' (ID: 16 hex digits)",
			    bundle);
	return 0;
}

/* The manifest.raucm rauc extract wrote must say what rauc info said of the bundle. */
static int check_extracted(const char *bundle, const char *staging, const struct bundle_info *bi)
{
	char compat[128], version[128], desc[256];
	int fd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	compat[0] = version[0] = desc[0] = '\0';
	if (fd >= 0) {
		file_value(fd, "manifest.raucm", "compatible", compat, sizeof compat);
		file_value(fd, "manifest.raucm", "version", version, sizeof version);
		file_value(fd, "manifest.raucm", "description", desc, sizeof desc);
		close(fd);
	}
	if (strcmp(compat, bi->compat) || strcmp(version, bi->version) || strcmp(desc, bi->desc))
		return fail("%s: what rauc extract wrote (compatible '%s', version '%s') is not the bundle rauc info "
			    "verified: refused", bundle, compat, version);
	return 0;
}

/* What one staging works with. */
struct stage {
	const char *bundle;   /* as the request named it */
	char fdpath[32];      /* /proc/self/fd/N: the one open file rauc info and rauc extract read */
	int fd;
	const char *root, *slot;
	const struct pc_manifest *factory; /* the slot's manifest */
	struct bundle_info bi;
	bool made; /* the revision was built by this staging (not on the device before) */
};

/* Free space, extraction, what the revision may set (next: room for its manifest), then the
 * revision built from it. */
static int extract_and_build(struct stage *st, const char *staging, struct pc_manifest *next)
{
	const char *rauc = getenv("PYCM_RAUC") ? getenv("PYCM_RAUC") : "rauc";
	static char out[16384];
	const struct bundle_info *bi = &st->bi;
	struct pc_err err;
	struct statvfs vfs;
	char got[32];
	if (statvfs(st->root, &vfs) < 0)
		return fail("statvfs %s: %s", st->root, strerror(errno));
	long long avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
	if (bi->need > avail - RESERVE)
		return fail("%s needs %.1f MiB on /data and %.1f MiB are free (%.0f MiB kept in reserve): refused, "
			    "nothing was written",
			    st->bundle, bi->need / 1048576.0, avail / 1048576.0, RESERVE / 1048576.0);
	LOG("app update: extracting %s (revision %s)", st->bundle, bi->id);
	char *extract[] = {(char *)rauc, "extract", st->fdpath, (char *)staging, NULL};
	if (capture(extract, st->fd, out, sizeof out) != 0)
		return fail("%s: rauc extract failed: %s", st->bundle, last_line(out));
	if (check_extracted(st->bundle, staging, bi))
		return 1;
	/* what the revision may set, before anything of it is written to the store */
	if (pc_manifest_compose(st->slot, staging, next, &err) < 0)
		return fail("%s", err.msg);
	if (check_manifest(st->factory, next, st->root, bi->id))
		return 1;
	if (pc_store_materialize(st->root, staging, st->factory, bi->version[0] ? bi->version : NULL, bi->id, got,
				 sizeof got, &err) < 0)
		return fail("%s: %s", st->bundle, err.msg);
	return 0;
}

static int stage_bundle(struct stage *st, const char *running, bool allow_downgrade, struct pc_manifest *next,
			char *target, size_t tsize)
{
	struct pc_err err;
	struct stat sb;
	char path[PATH_MAX], staging[PATH_MAX];
	st->fd = open(st->bundle, O_RDONLY | O_CLOEXEC);
	if (st->fd < 0 || fstat(st->fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return fail("%s: %s", st->bundle, st->fd < 0 ? strerror(errno) : "not a regular file");
	pc_fmt(st->fdpath, sizeof st->fdpath, "/proc/self/fd/%d", st->fd);
	if (bundle_info(st->bundle, st->fdpath, st->fd, &st->bi) ||
	    check_version(st->bundle, st->bi.version, st->root, running, allow_downgrade))
		return 1;
	pc_fmt(target, tsize, "revisions/%s", st->bi.id); /* 16 hex digits (bundle_info) */
	pc_fmt(path, sizeof path, "%s/%s", st->root, target);
	if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0; /* the device has it already (an update back to it) */
	if (pc_mkdirs(st->root, &err) < 0)
		return fail("%s", err.msg);
	pc_fmt(staging, sizeof staging, "%s/staging", st->root);
	pc_rmtree(staging);
	int rc = extract_and_build(st, staging, next);
	pc_rmtree(staging);
	st->made = rc == 0;
	return rc;
}

/* Every app container's config.json and rootfs as the slot's app policy allows (policy.c). */
static int check_configs(const char *slot, const struct pc_manifest *next)
{
	static struct pc_policy pol;
	struct pc_err err;
	char path[PATH_MAX];
	if (pc_policy_path(slot, path, sizeof path) < 0)
		return fail("app policy beside %s: path too long", slot);
	int rc = pc_policy_load(path, &pol, &err) < 0 || pc_policy_check_manifest(&pol, next, &err) < 0;
	pc_policy_free(&pol);
	return rc ? fail("%s", err.msg) : 0;
}

/* Refuse a revision whose host container's files are not the slot's, or whose app containers'
 * configs the app policy refuses: a revision this staging made goes again, with the blobs only it
 * linked to. */
static int check_built(const struct stage *st, const struct pc_manifest *next, const char *target)
{
	if (check_host_content(st->factory, next) == 0 && check_configs(st->slot, next) == 0)
		return 0;
	if (st->made) {
		char path[PATH_MAX], gone[PATH_MAX + 8];
		pc_fmt(path, sizeof path, "%s/%s", st->root, target);
		pc_fmt(gone, sizeof gone, "%s.gc", path);
		if (rename(path, gone) == 0)
			pc_rmtree(gone);
		pc_store_gc_blobs(st->root);
	}
	return 1;
}

/* The containers of m whose bundle differs from the running one (NAME=BUNDLE in pairs). */
static int answer_changes(const struct pc_manifest *m, char **pairs, int npairs)
{
	struct pc_err err;
	for (int i = 0; i < m->ncontainers; i++) {
		const struct pc_container *c = &m->c[i];
		if (c->service)
			continue;
		const char *old = NULL;
		size_t n = strlen(c->name);
		for (int a = 0; a < npairs; a++)
			if (!strncmp(pairs[a], c->name, n) && pairs[a][n] == '=')
				old = pairs[a] + n + 1;
		bool changed = !old;
		if (old && strcmp(old, c->bundle)) {
			char a[65], b[65];
			if (pc_tree_digest(old, a, &err) < 0 || pc_tree_digest(c->bundle, b, &err) < 0)
				return fail("%s", err.msg);
			changed = strcmp(a, b) != 0;
		}
		if (changed)
			pc_answer("changed %s\n", c->name);
	}
	return 0;
}

int pc_app_stage_main(int argc, char **argv)
{
	bool allow_downgrade = false;
	const char *running = PC_FACTORY;
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--allow-downgrade"))
			allow_downgrade = true;
		else if (!strncmp(argv[i], "--running=", 10))
			running = argv[i] + 10;
		else
			return fail("unknown option %s", argv[i]);
	}
	if (argc - i < 3)
		return fail("usage: pycm-store --app-stage [--allow-downgrade] [--running=REV] TARGET ROOT SLOT_MANIFEST "
			    "[NAME=BUNDLE ...]");
	static struct pc_manifest factory, next;
	struct stage st = {.bundle = argv[i], .fd = -1, .root = argv[i + 1], .slot = argv[i + 2], .factory = &factory};
	struct pc_err err;
	char target[PATH_MAX], revdir[PATH_MAX * 2];
	if (pc_manifest_load(st.slot, &factory, &err) < 0)
		return fail("%s", err.msg);
	if (!strcmp(st.bundle, PC_FACTORY) || !strncmp(st.bundle, "revisions/", 10)) {
		if (!pc_store_target_ok(st.bundle))
			return fail("'%s' is not factory nor revisions/ and 16 hex digits", st.bundle);
		pc_fmt(target, sizeof target, "%s", st.bundle);
	} else {
		int rc = stage_bundle(&st, running, allow_downgrade, &next, target, sizeof target);
		if (st.fd >= 0)
			close(st.fd);
		if (rc)
			return 1;
	}
	const struct pc_manifest *m = &factory;
	if (strcmp(target, PC_FACTORY)) {
		pc_fmt(revdir, sizeof revdir, "%s/%s", st.root, target);
		if (pc_manifest_compose(st.slot, revdir, &next, &err) < 0)
			return fail("%s", err.msg);
		if (check_manifest(&factory, &next, st.root, target + 10) || check_built(&st, &next, target))
			return 1;
		m = &next;
	}
	pc_answer("target %s\n", target);
	return answer_changes(m, argv + i + 3, argc - i - 3);
}

/* ------------------------------------------------------------------ system bundles */

/* The one-shot exception `pycmctl system-update --allow-downgrade` leaves for this install: a
 * marker naming a live process (pycmctl, waiting for rauc), made by root (or by the user pycm runs
 * as: the black-box tests). Used or stale, it is removed. */
static bool downgrade_allowed(void)
{
	const char *run = getenv("PYCM_RUN_DIR") ? getenv("PYCM_RUN_DIR") : "/run/pycm";
	char path[PATH_MAX], pid[32];
	struct stat st;
	pc_fmt(path, sizeof path, "%s/" PC_ALLOW_DOWNGRADE, run);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	bool ours = fd >= 0 && fstat(fd, &st) == 0 && (st.st_uid == 0 || st.st_uid == geteuid());
	ssize_t n = ours && S_ISREG(st.st_mode) && !(st.st_mode & 077) ? read(fd, pid, sizeof pid - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	pid[n] = '\0';
	unlink(path);
	long p = strtol(pid, NULL, 10);
	return p > 1 && kill((pid_t)p, 0) == 0;
}

int pc_rauc_pre_install_main(void)
{
	/* RAUC has verified and mounted the bundle: its manifest is the signed one */
	const char *mnt = getenv("RAUC_BUNDLE_MOUNT_POINT");
	char version[128], have[128];
	int fd = mnt ? open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd < 0) {
		printf("<< error pycm: no bundle mounted (RAUC_BUNDLE_MOUNT_POINT)\n");
		return 1;
	}
	file_value(fd, "manifest.raucm", "version", version, sizeof version);
	close(fd);
	pc_release_value("VERSION", have, sizeof have);
	if (!*have || pc_version_cmp(version, have) >= 0) {
		printf("pycm: system bundle version %s, running %s: installing\n", version, have);
		return 0;
	}
	if (downgrade_allowed()) {
		printf("pycm: system update: --allow-downgrade: installing version %s over %s\n", version, have);
		return 0;
	}
	printf("pycm: system update refused: bundle version %s is older than the running %s\n", version, have);
	printf("<< error system bundle version %s is older than the running %s: refused; "
	       "`pycmctl system-update --allow-downgrade BUNDLE` installs it\n", version, have);
	return 1;
}
