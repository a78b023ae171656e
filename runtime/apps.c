/* App updates inside the supervisor (docs/app-updates.md): a pycm-store child stages the bundle,
 * pycm switches only the changed containers, commits once they are healthy (the pointer
 * renames), else rolls back to the revision before; a pycm-store child then collects the garbage.
 * pycm itself never parses a bundle nor walks the store: a pycm-store child that dies fails the
 * update, is reported, and its leftovers are collected; PID 1 carries on. */
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

/* The manifest buffer no one uses: the next switch's (allocated at the first update: its unused
 * container slots stay untouched pages, outside the manager's RSS). */
static struct pc_manifest *free_buf;

static const char *const job_names[] = {"", "--boot", "--app-stage", "--gc", "--factory-reset"};

const char *pc_store_program(void)
{
	const char *p = getenv("PYCM_STORE");
	return p && *p ? p : "/sbin/pycm-store";
}

/* Tell pycmctl the outcome (and close its connection). */
static void reply(struct pc_sup *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct pc_sup *s, const char *fmt, ...)
{
	char buf[1200];
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

/* Start pycm-store with args (argv[0] is set here) in its own process group, its answer on fd 3. */
static int store_job(struct pc_sup *s, enum pc_job job, char **argv, char *msg, size_t size)
{
	struct pc_update *u = &s->upd;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		pc_fmt(msg, size, "pipe: %s", strerror(errno));
		return -1;
	}
	argv[0] = "pycm-store";
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		pc_fmt(msg, size, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		pc_child_reset();
		setpgid(0, 0);
		if (fds[1] == 3)
			fcntl(3, F_SETFD, 0);
		else
			dup2(fds[1], 3);
		execv(pc_store_program(), argv);
		dprintf(STDOUT_FILENO, "pycm: cannot run %s: %s\n", pc_store_program(), strerror(errno));
		_exit(127);
	}
	setpgid(pid, 0); /* either of the two calls wins the race with exec */
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	u->job = job;
	u->pid = pid;
	u->fd = fds[0];
	u->outlen = 0;
	return 0;
}

/* pycm-store MODE ROOT BUNDLE...: the bundles the running containers use (kept by --gc and --boot). */
static int store_job_with_bundles(struct pc_sup *s, enum pc_job job, const char *mode)
{
	char *argv[4 + PC_MAX_CONTAINERS], msg[256];
	int argc = 1;
	argv[argc++] = (char *)mode;
	argv[argc++] = s->apps;
	for (int i = 0; i < s->m->ncontainers; i++)
		if (!s->m->c[i].service)
			argv[argc++] = (char *)s->m->c[i].bundle;
	argv[argc] = NULL;
	if (store_job(s, job, argv, msg, sizeof msg) == 0)
		return 0;
	LOG("app store: cannot start pycm-store %s: %s", mode, msg);
	return -1;
}

/* pycm-store --gc ROOT with the bundles that run kept. */
static int start_gc(struct pc_sup *s)
{
	return store_job_with_bundles(s, JOB_GC, "--gc");
}

/* The update is over: its outcome, told to pycmctl by settle() once no pycm-store runs. */
static void finish(struct pc_sup *s, bool add_freed, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void finish(struct pc_sup *s, bool add_freed, const char *fmt, ...)
{
	struct pc_update *u = &s->upd;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->answer, sizeof u->answer, fmt, ap);
	va_end(ap);
	u->add_freed = add_freed;
	u->phase = UPD_FINISHING;
}

/* A finished update whose GC has ended (or could not run): pycmctl is told, with the bytes the GC
 * freed when the answer wants them. */
static void settle(struct pc_sup *s)
{
	struct pc_update *u = &s->upd;
	if (u->phase != UPD_FINISHING || u->job != JOB_NONE || u->leftover)
		return;
	const char *f = strstr(u->out, "freed ");
	char freed[48] = "";
	if (u->add_freed)
		pc_fmt(freed, sizeof freed, "%lld KiB freed)\n", f ? strtoll(f + 6, NULL, 10) / 1024 : 0);
	reply(s, "%s%s", u->answer, freed);
	u->phase = UPD_NONE;
}

/* The GC of an update that is over, then its outcome told. */
static void collect(struct pc_sup *s)
{
	if (start_gc(s) < 0)
		settle(s);
}

void pc_apps_boot(struct pc_sup *s, struct pc_manifest *m)
{
	char target[PC_PATH_MAX], dir[PC_PATH_MAX * 2];
	struct pc_err err;
	if (pc_store_pointer(s->apps, "current", target, sizeof target) && strcmp(target, PC_FACTORY)) {
		pc_fmt(dir, sizeof dir, "%s/%s", s->apps, target);
		if (!pc_store_target_ok(target)) {
			LOG("app store: current -> %s is not a revision: running the factory revision", target);
		} else if (pc_manifest_compose(s->slot_manifest, dir, m, &err) < 0) {
			LOG("app revision %s is unusable (%s): running the factory revision", target, err.msg);
			if (pc_manifest_load(s->slot_manifest, m, &err) < 0) /* read before: it was fine */
				LOG("%s", err.msg);
		} else {
			pc_fmt(s->revision, sizeof s->revision, "%s", target);
		}
	}
	LOG("app revision: %s", s->revision);
}

void pc_apps_start(struct pc_sup *s)
{
	if (!s->apps[0] || access(s->apps, F_OK) < 0)
		return; /* no store: nothing to clean */
	store_job_with_bundles(s, JOB_BOOT, "--boot");
}

int pc_apps_request(struct pc_sup *s, const char *what, bool allow_downgrade, int client, char *msg, size_t size)
{
	char target[PC_PATH_MAX];
	if (!s->apps[0]) {
		pc_fmt(msg, size, "no app store: /data is not mounted");
		return -1;
	}
	if (s->upd.phase != UPD_NONE || s->upd.job != JOB_NONE) {
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
	/* argv: pycm-store --app-stage [--allow-downgrade] --running=REV TARGET ROOT SLOT_MANIFEST NAME=BUNDLE... */
	char (*pairs)[PC_NAME_MAX + PC_PATH_MAX + 2] = calloc((size_t)s->m->ncontainers + 1, sizeof *pairs);
	char running[PC_PATH_MAX + 16], *argv[8 + PC_MAX_CONTAINERS];
	if (!pairs) {
		pc_fmt(msg, size, "out of memory");
		return -1;
	}
	int argc = 1;
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
	memset(&s->upd, 0, sizeof s->upd);
	s->upd.fd = s->upd.client = -1;
	int rc = store_job(s, JOB_STAGE, argv, msg, size);
	free(pairs); /* the child has its copy */
	if (rc < 0)
		return -1;
	s->upd.phase = UPD_STAGING;
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

/* The staging child has answered: switch to its target, or refuse. */
static void staged(struct pc_sup *s, bool ok, const char *died)
{
	char *err = strstr(s->upd.out, "error ");
	if (died) {
		/* killed or crashed: what it left in the store is collected before pycmctl is told */
		LOG("app update: failed: %s; the device keeps %s", died, s->revision);
		finish(s, false, "ERR app update failed: %s; the device keeps %s\n", died, s->revision);
		return;
	}
	if (!ok || err) {
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
	if (!free_buf && !(free_buf = calloc(1, sizeof *free_buf))) {
		fail_update(s, "out of memory");
		return;
	}
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

void pc_apps_exited(struct pc_sup *s, int status)
{
	struct pc_update *u = &s->upd;
	enum pc_job job = u->job;
	pid_t pid = u->pid;
	if (u->fd >= 0)
		pc_apps_read(s);
	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
	u->out[u->outlen] = '\0';
	u->job = JOB_NONE;
	u->pid = 0;
	/* a refusal is exit status 1 with an "error" line; anything else but 0 is the program failing */
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	bool refused = WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(u->out, "error ");
	char died[160] = "";
	if (!ok && !refused) {
		if (WIFSIGNALED(status))
			pc_fmt(died, sizeof died, "pycm-store %s was killed by signal %d", job_names[job], WTERMSIG(status));
		else
			pc_fmt(died, sizeof died, "pycm-store %s failed (exit status %d)", job_names[job], WEXITSTATUS(status));
		pc_fmt(s->store_error, sizeof s->store_error, "%s", died);
		LOG("app store: %s", died);
		/* whatever it started (rauc, unsquashfs) goes too; the GC waits until they are gone */
		if (kill(-pid, SIGKILL) == 0 || errno != ESRCH) {
			u->leftover = pid;
			u->leftover_deadline = pc_now_ms() + 5000;
		}
	}
	/* what a staging child left is collected; a GC that died is run once more (it removes its own
	 * .gc leftover) */
	if (*died && (job == JOB_STAGE || (job == JOB_GC && !u->gc_again))) {
		u->gc_wanted = true;
		u->gc_again = job == JOB_GC;
	}
	switch (job) {
	case JOB_STAGE:
		staged(s, ok, *died ? died : NULL);
		break;
	case JOB_GC:
		if (!u->gc_wanted)
			settle(s);
		break;
	case JOB_RESET:
		if (ok) {
			reply(s, "OK\nfactory reset: rebooting into the factory revision%s\n", u->add_freed ? ", volumes wiped" : "");
			s->action = ACTION_REBOOT;
		} else {
			char *e = strstr(u->out, "error ");
			reply(s, "ERR factory-reset: %.*s\n", e ? (int)strcspn(e + 6, "\n") : (int)strlen(died), e ? e + 6 : died);
		}
		u->phase = UPD_NONE;
		break;
	default: /* the boot's cleanup: the containers start now, whatever its outcome */
		break;
	}
	if (u->gc_wanted && !u->leftover) {
		u->gc_wanted = false;
		collect(s);
	}
}

long long pc_apps_due(const struct pc_sup *s)
{
	const struct pc_update *u = &s->upd;
	if (u->leftover)
		return pc_now_ms() + 50; /* its process group emptying */
	if (u->phase == UPD_STOPPING)
		return u->stop_deadline;
	if (u->phase == UPD_TRIAL)
		return u->deadline + 1;
	return LLONG_MAX;
}

/* Every container being replaced has stopped: swap the manifests, carrying the others' state. */
static bool swap(struct pc_sup *s)
{
	struct pc_manifest *next = s->upd.next;
	struct pc_ctr *tmp = calloc((size_t)next->ncontainers + 1, sizeof *tmp);
	if (!tmp) { /* nothing is lost by waiting: the containers it replaces have stopped */
		LOG("app update: out of memory; trying again");
		return false;
	}
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
	free(tmp);
	s->m = next;
	s->stop_index = next->ncontainers - 1;
	return true;
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
		finish(s, false, "ERR app update to %s failed: %s; rolled back to %s, but %s (rollback %lld ms, total %lld ms)\n",
		      u->target, u->reason, u->from, bad, ms, total);
	} else {
		LOG("app update: rolled back to %s: healthy again %lld ms after the failure was detected", u->from, ms);
		finish(s, false, "ERR app update to %s failed: %s; rolled back to %s (rollback %lld ms from the failure to its "
			 "containers healthy, total %lld ms)\n",
		      u->target, u->reason, u->from, ms, total);
	}
	settle(s); /* now, or when the GC of the failed revision has ended */
}

void pc_apps_tick(struct pc_sup *s, long long now)
{
	struct pc_update *u = &s->upd;
	if (u->leftover && ((kill(-u->leftover, 0) < 0 && errno == ESRCH) || now >= u->leftover_deadline)) {
		u->leftover = 0; /* the process group of a pycm-store that died is empty: collect what it left */
		if (u->gc_wanted && u->job == JOB_NONE) {
			u->gc_wanted = false;
			collect(s); /* an update is told once its leftovers are collected */
		}
	}
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
		if (!swap(s))
			return;
		free_buf = u->old; /* forward: kept for a rollback until the commit; back: the failed one */
		if (u->rollback) {
			pc_fmt(s->revision, sizeof s->revision, "%s", u->from);
			LOG("app update: switched back to %s in %lld ms; waiting for its containers to be healthy", u->from,
			    now - u->t_switch);
			start_gc(s); /* the failed revision and its blobs, while the old containers start */
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
	finish(s, true, "OK\ncommitted %s (from %s; switch %lld ms, total %lld ms; ", u->target, u->from, switch_ms,
	       total_ms);
	collect(s);
}

int pc_apps_factory_reset(struct pc_sup *s, bool wipe, int client, char *msg, size_t size)
{
	char *argv[] = {NULL, "--factory-reset", wipe ? "--wipe-data" : s->apps, s->apps, NULL};
	if (!s->apps[0]) {
		pc_fmt(msg, size, "no app store: /data is not mounted");
		return -1;
	}
	if (s->upd.phase != UPD_NONE || s->upd.job != JOB_NONE) {
		pc_fmt(msg, size, "an app update is in progress");
		return -1;
	}
	if (!wipe)
		argv[3] = NULL;
	memset(&s->upd, 0, sizeof s->upd);
	s->upd.fd = s->upd.client = -1;
	if (store_job(s, JOB_RESET, argv, msg, size) < 0)
		return -1;
	s->upd.phase = UPD_RESET;
	s->upd.client = client;
	s->upd.add_freed = wipe; /* for the answer: volumes wiped */
	return 0;
}
