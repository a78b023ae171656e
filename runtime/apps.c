/* App updates inside the supervisor (docs/app-updates.md): stage in a child, switch only the
 * changed containers, commit once they are healthy, else roll back to the revision before. */
#define _GNU_SOURCE
#include "control.h"
#include "log.h"
#include "pid1.h"
#include "store.h"
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct pc_manifest spare;
static struct pc_manifest *free_buf = &spare; /* the manifest buffer no one uses: the next switch's */

static void reply(struct pc_sup *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct pc_sup *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (s->upd.client >= 0) {
		if (write(s->upd.client, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1)) < 0) {
			/* pycmctl gone: the console has the outcome */
		}
		close(s->upd.client);
		s->upd.client = -1;
	}
}

void pc_apps_boot(struct pc_sup *s, struct pc_manifest *m)
{
	char target[PC_PATH_MAX], dir[PC_PATH_MAX * 2], marker[PC_PATH_MAX + 16];
	struct pc_err err;
	pc_store_boot(s->apps);
	pc_fmt(marker, sizeof marker, "%s/wipe-data", s->apps);
	if (access(marker, F_OK) == 0) {
		LOG("factory reset: wiping /data/volumes");
		pc_rmtree("/data/volumes");
		sync();
		unlink(marker);
	}
	if (pc_store_pointer(s->apps, "current", target, sizeof target) && strcmp(target, PC_FACTORY)) {
		pc_fmt(dir, sizeof dir, "%s/%s", s->apps, target);
		if (!pc_store_target_ok(target)) {
			LOG("app store: current -> %s is not a revision: running the factory revision", target);
		} else if (pc_manifest_compose(s->slot_manifest, dir, &spare, &err) < 0) {
			LOG("app revision %s is unusable (%s): running the factory revision", target, err.msg);
		} else {
			*m = spare;
			pc_fmt(s->revision, sizeof s->revision, "%s", target);
		}
	}
	LOG("app revision: %s", s->revision);
	const char *keep[PC_MAX_CONTAINERS];
	for (int i = 0; i < m->ncontainers; i++)
		keep[i] = m->c[i].bundle;
	long long freed = pc_store_gc(s->apps, keep, m->ncontainers);
	if (freed)
		LOG("app store: %lld KiB of unreferenced blobs freed", freed / 1024);
}

int pc_apps_request(struct pc_sup *s, const char *what, bool allow_downgrade, int client, char *msg, size_t size)
{
	char target[PC_PATH_MAX];
	if (!s->apps[0]) {
		pc_fmt(msg, size, "no app store: /data is not mounted");
		return -1;
	}
	if (s->upd.phase != UPD_NONE) {
		pc_fmt(msg, size, "an app update is in progress (to %s)", s->upd.target[0] ? s->upd.target : "?");
		return -1;
	}
	if (!s->boot_decided) {
		pc_fmt(msg, size, "the boot is not decided yet; try again when `pycmctl status` says boot good");
		return -1;
	}
	if (!strcmp(what, "previous")) {
		if (!pc_store_pointer(s->apps, "previous", target, sizeof target) || !strcmp(target, s->revision) ||
		    !pc_store_target_ok(target)) {
			pc_fmt(msg, size, "no previous revision to roll back to (running %s)", s->revision);
			return -1;
		}
		what = target;
	} else if (what[0] != '/' && strcmp(what, PC_FACTORY)) {
		pc_fmt(msg, size, "'%s' is not an absolute path of an app bundle", what);
		return -1;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		pc_fmt(msg, size, "pipe: %s", strerror(errno));
		return -1;
	}
	/* argv: pycm --app-stage [--allow-downgrade] --running=REV TARGET ROOT SLOT_MANIFEST NAME=BUNDLE... */
	static char pairs[PC_MAX_CONTAINERS][PC_NAME_MAX + PC_PATH_MAX + 2], running[PC_PATH_MAX + 16];
	char *argv[8 + PC_MAX_CONTAINERS];
	int argc = 0;
	argv[argc++] = "pycm";
	argv[argc++] = "--app-stage";
	if (allow_downgrade)
		argv[argc++] = "--allow-downgrade";
	pc_fmt(running, sizeof running, "--running=%s", s->revision);
	argv[argc++] = running;
	argv[argc++] = (char *)what;
	argv[argc++] = s->apps;
	argv[argc++] = (char *)s->slot_manifest;
	for (int i = 0; i < s->m->ncontainers; i++)
		if (!s->m->c[i].service) {
			pc_fmt(pairs[i], sizeof pairs[i], "%s=%s", s->m->c[i].name, s->m->c[i].bundle);
			argv[argc++] = pairs[i];
		}
	argv[argc] = NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		pc_fmt(msg, size, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		pc_child_reset();
		dup2(fds[1], 3);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	memset(&s->upd, 0, sizeof s->upd);
	s->upd.phase = UPD_STAGING;
	s->upd.pid = pid;
	s->upd.fd = fds[0];
	s->upd.client = client;
	s->upd.t0 = pc_now_ms();
	pc_fmt(s->upd.from, sizeof s->upd.from, "%s", s->revision);
	LOG("app update: staging %s%s", what, allow_downgrade ? " (--allow-downgrade)" : "");
	return 0;
}

void pc_apps_read(struct pc_sup *s)
{
	for (;;) {
		ssize_t n = read(s->upd.fd, s->upd.out + s->upd.outlen, sizeof s->upd.out - 1 - s->upd.outlen);
		if (n > 0) {
			s->upd.outlen += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR) || s->upd.outlen == sizeof s->upd.out - 1) {
			close(s->upd.fd);
			s->upd.fd = -1;
		}
		return;
	}
}

static void fail_update(struct pc_sup *s, const char *why)
{
	LOG("app update: refused: %s", why);
	reply(s, "ERR %s\n", why);
	s->upd.phase = UPD_NONE;
}

/* Stop the running containers that the switch replaces or removes. */
static void begin_switch(struct pc_sup *s)
{
	const struct pc_manifest *next = s->upd.next;
	for (int i = 0; i < s->m->ncontainers; i++) {
		int j = pc_manifest_find(next, s->m->c[i].name);
		if (j < 0 || s->upd.changed[j])
			pc_sup_stop(s, &s->c[i]);
	}
	s->upd.phase = UPD_STOPPING;
	s->upd.killed = false;
	s->upd.stop_deadline = pc_now_ms() + s->m->stop_timeout * 1000LL;
}

void pc_apps_exited(struct pc_sup *s, int status)
{
	s->upd.pid = 0;
	if (s->upd.fd >= 0)
		pc_apps_read(s);
	if (s->upd.fd >= 0) {
		close(s->upd.fd);
		s->upd.fd = -1;
	}
	s->upd.out[s->upd.outlen] = '\0';
	char *err = strstr(s->upd.out, "error ");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || err) {
		char why[512];
		pc_fmt(why, sizeof why, "%s", err ? err + 6 : "the staging process failed");
		why[strcspn(why, "\n")] = '\0';
		fail_update(s, why);
		return;
	}
	char *t = strstr(s->upd.out, "target ");
	if (!t) {
		fail_update(s, "the staging process gave no target");
		return;
	}
	pc_fmt(s->upd.target, sizeof s->upd.target, "%.*s", (int)strcspn(t + 7, "\n"), t + 7);
	/* the manifest to switch to, and which of its containers change */
	struct pc_err e;
	struct pc_manifest *next = free_buf;
	if (!strcmp(s->upd.target, PC_FACTORY)) {
		if (pc_manifest_load(s->slot_manifest, next, &e) < 0) {
			fail_update(s, e.msg);
			return;
		}
	} else {
		char dir[PC_PATH_MAX * 2];
		pc_fmt(dir, sizeof dir, "%s/%s", s->apps, s->upd.target);
		if (pc_manifest_compose(s->slot_manifest, dir, next, &e) < 0) {
			fail_update(s, e.msg);
			return;
		}
	}
	char names[512] = "";
	int nchanged = 0;
	for (int j = 0; j < next->ncontainers; j++) {
		char line[PC_NAME_MAX + 10];
		pc_fmt(line, sizeof line, "changed %s\n", next->c[j].name);
		int i = pc_manifest_find(s->m, next->c[j].name);
		s->upd.changed[j] = strstr(s->upd.out, line) || i < 0 || !pc_container_same(s->m, &s->m->c[i], next, &next->c[j]);
		if (s->upd.changed[j]) {
			nchanged++;
			pc_fmt(names + strlen(names), sizeof names - strlen(names), "%s%s", *names ? " " : "", next->c[j].name);
		}
	}
	int removed = 0;
	for (int i = 0; i < s->m->ncontainers; i++)
		removed += pc_manifest_find(next, s->m->c[i].name) < 0;
	if (!strcmp(s->upd.target, s->revision) || (!nchanged && !removed)) {
		LOG("app update: %s is what runs already; nothing to do", s->upd.target);
		reply(s, "OK\nrevision %s runs already; nothing changed\n", s->revision);
		s->upd.phase = UPD_NONE;
		return;
	}
	struct pc_err perr;
	if (pc_store_set(s->apps, "trial", s->upd.target, &perr) < 0) {
		fail_update(s, perr.msg);
		return;
	}
	LOG("app update: switching to %s (changed: %s%s)", s->upd.target, *names ? names : "-",
	    removed ? ", some removed" : "");
	s->upd.old = (struct pc_manifest *)s->m;
	s->upd.next = next;
	s->upd.t_switch = pc_now_ms();
	begin_switch(s);
}

/* Every container being replaced has stopped: swap the manifests, carrying the others' state. */
static void swap(struct pc_sup *s)
{
	static struct pc_ctr tmp[PC_MAX_CONTAINERS];
	struct pc_manifest *next = s->upd.next;
	for (int i = 0; i < s->m->ncontainers; i++) { /* the log rings of those replaced or removed */
		int j = pc_manifest_find(next, s->m->c[i].name);
		if (j < 0 || s->upd.changed[j])
			pc_log_close(&s->c[i]);
	}
	for (int j = 0; j < next->ncontainers; j++) {
		int i = pc_manifest_find(s->m, next->c[j].name);
		if (i >= 0 && !s->upd.changed[j]) {
			/* it keeps running from where it was started (a GC keeps that revision) */
			pc_fmt(next->c[j].bundle, sizeof next->c[j].bundle, "%s", s->m->c[i].bundle);
			tmp[j] = s->c[i];
		} else {
			memset(&tmp[j], 0, sizeof tmp[j]);
			tmp[j].out_fd = tmp[j].ring_fd = -1;
			tmp[j].state = ST_WAITING;
			pc_crashloop_init(&tmp[j].loop, next->c[j].crash_restarts, next->c[j].crash_window);
		}
		tmp[j].cfg = &next->c[j];
	}
	memcpy(s->c, tmp, sizeof s->c[0] * (size_t)next->ncontainers);
	s->m = next;
	s->stop_index = next->ncontainers - 1;
}

static void rollback(struct pc_sup *s, const char *why)
{
	struct pc_err e;
	LOG("app update: %s; rolling back to %s", why, s->upd.from);
	pc_fmt(s->upd.reason, sizeof s->upd.reason, "%s", why);
	if (pc_store_unset(s->apps, "trial", &e) < 0)
		LOG("%s", e.msg);
	/* switch back: what changed forward changes back */
	struct pc_manifest *back = s->upd.old;
	bool changed[PC_MAX_CONTAINERS];
	for (int i = 0; i < back->ncontainers; i++) {
		int j = pc_manifest_find(s->m, back->c[i].name);
		changed[i] = j < 0 || s->upd.changed[j];
	}
	memcpy(s->upd.changed, changed, sizeof changed);
	s->upd.old = (struct pc_manifest *)s->m;
	s->upd.next = back;
	s->upd.rollback = true;
	s->upd.t_switch = pc_now_ms();
	begin_switch(s);
}

/* The switch back has ended: the old containers are healthy (bad == NULL) or are not. The
 * rollback time runs from the failure being detected (the rollback's start) to that moment. */
static void rolled_back(struct pc_sup *s, long long now, const char *bad)
{
	struct pc_update *u = &s->upd;
	long long ms = now - u->t_switch, total = now - u->t0;
	if (bad) {
		LOG("app update: rolled back to %s, but %s", u->from, bad);
		reply(s, "ERR app update to %s failed: %s; rolled back to %s, but %s (rollback %lld ms, total %lld ms)\n",
		      u->target, u->reason, u->from, bad, ms, total);
	} else {
		LOG("app update: rolled back to %s: healthy again %lld ms after the failure was detected", u->from, ms);
		reply(s, "ERR app update to %s failed: %s; rolled back to %s (rollback %lld ms from the failure to its "
			 "containers healthy, total %lld ms)\n",
		      u->target, u->reason, u->from, ms, total);
	}
	u->phase = UPD_NONE;
}

void pc_apps_tick(struct pc_sup *s, long long now)
{
	struct pc_update *u = &s->upd;
	if (u->phase == UPD_STOPPING) {
		bool running = false;
		for (int i = 0; i < s->m->ncontainers; i++) {
			int j = pc_manifest_find(u->next, s->m->c[i].name);
			if ((j < 0 || u->changed[j]) && s->c[i].run_pid > 0) {
				running = true;
				if (now >= u->stop_deadline && !u->killed)
					pc_ctr_kill(s, &s->c[i], SIGKILL);
			}
		}
		if (now >= u->stop_deadline)
			u->killed = true;
		if (running)
			return;
		swap(s);
		free_buf = u->old; /* forward: kept for a rollback until the commit; back: the failed one */
		if (u->rollback) {
			pc_fmt(s->revision, sizeof s->revision, "%s", u->from);
			LOG("app update: switched back to %s in %lld ms; waiting for its containers to be healthy", u->from,
			    now - u->t_switch);
			const char *keep[PC_MAX_CONTAINERS];
			for (int i = 0; i < s->m->ncontainers; i++)
				keep[i] = s->m->c[i].bundle;
			pc_store_gc(s->apps, keep, s->m->ncontainers); /* the failed revision and its blobs */
		}
		u->phase = UPD_TRIAL; /* forward: the health gate; back: until the old ones are healthy again */
		u->deadline = now + s->m->boot_deadline * 1000LL;
		return;
	}
	if (u->phase != UPD_TRIAL)
		return;
	bool all = true;
	for (int j = 0; j < s->m->ncontainers; j++) {
		const struct pc_ctr *c = &s->c[j];
		if (!u->changed[j])
			continue;
		if (c->state == ST_FAILED || (c->state == ST_EXITED && !c->ever_healthy)) {
			char why[128];
			pc_fmt(why, sizeof why, "container %s %s before it was healthy", c->cfg->name,
				 c->state == ST_FAILED ? "failed (crash loop)" : "exited");
			if (u->rollback)
				rolled_back(s, now, why);
			else
				rollback(s, why);
			return;
		}
		all = all && c->state == ST_HEALTHY;
	}
	if (!all) {
		if (now > u->deadline) {
			char why[128];
			pc_fmt(why, sizeof why, "not healthy %d s after the switch", s->m->boot_deadline);
			if (u->rollback)
				rolled_back(s, now, why);
			else
				rollback(s, why);
		}
		return;
	}
	if (u->rollback) {
		rolled_back(s, now, NULL);
		return;
	}
	struct pc_err e;
	if (pc_store_commit(s->apps, &e) < 0) {
		rollback(s, e.msg);
		return;
	}
	pc_fmt(s->revision, sizeof s->revision, "%s", u->target);
	long long switch_ms = now - u->t_switch, total_ms = now - u->t0;
	LOG("app update: committed %s (switch to healthy %lld ms, total %lld ms)", u->target, switch_ms, total_ms);
	const char *keep[PC_MAX_CONTAINERS];
	for (int i = 0; i < s->m->ncontainers; i++)
		keep[i] = s->m->c[i].bundle;
	long long freed = pc_store_gc(s->apps, keep, s->m->ncontainers);
	reply(s, "OK\ncommitted %s (from %s; switch %lld ms, total %lld ms; %lld KiB freed)\n", u->target, u->from,
	      switch_ms, total_ms, freed / 1024);
	u->phase = UPD_NONE;
}

int pc_apps_factory_reset(struct pc_sup *s, bool wipe, char *msg, size_t size)
{
	struct pc_err e;
	char marker[PC_PATH_MAX + 16];
	if (!s->apps[0]) {
		pc_fmt(msg, size, "no app store: /data is not mounted");
		return -1;
	}
	if (s->upd.phase != UPD_NONE) {
		pc_fmt(msg, size, "an app update is in progress");
		return -1;
	}
	if (wipe) { /* done at the next boot, before any container runs; the marker survives a power cut */
		pc_fmt(marker, sizeof marker, "%s/wipe-data", s->apps);
		int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || fsync(fd) < 0) {
			pc_fmt(msg, size, "%s: %s", marker, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	/* current first: once it is gone the factory revision runs, whatever happens next */
	if (pc_store_unset(s->apps, "current", &e) < 0 || pc_store_unset(s->apps, "trial", &e) < 0 ||
	    pc_store_unset(s->apps, "previous", &e) < 0) {
		pc_fmt(msg, size, "%s", e.msg);
		return -1;
	}
	LOG("factory reset%s: the factory revision runs after this reboot", wipe ? " with /data/volumes wiped" : "");
	pc_fmt(msg, size, "factory reset: rebooting into the factory revision%s", wipe ? ", volumes wiped" : "");
	s->action = ACTION_REBOOT;
	return 0;
}
