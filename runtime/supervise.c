#define _GNU_SOURCE
#include "supervise.h"
#include "bootstate.h"
#include "control.h"
#include "devices.h"
#include "log.h"
#include "netrun.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/watchdog.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Until a container is first healthy its ready file is polled this often (a stat is cheap and
 * the boot waits for it). Once it is there, the directory holding it is watched (inotify): the
 * file is checked again when that directory changes, and every health-interval only while it is
 * missing (or when the directory cannot be watched). No timer runs for a healthy container
 * without an exec check, so an idle device does not wake the manager. */
#define READY_POLL_MS 100
#define WATCH_EVENTS (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define NEVER LLONG_MAX
/* An exec health check that fails before the first healthy one is repeated after this long
 * (health-interval applies once healthy: it is the liveness period). */
#define STARTUP_CHECK_MS 500
#define KIND(c) ((c)->cfg->service ? "service" : "container")
#define KILL_GRACE_MS 2000
#define STOP_RETRY_MS 100

long long pc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int crun(const struct pc_sup *s, const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[] = {(char *)s->m->crun, "--root", (char *)s->m->crun_root, (char *)a1, (char *)a2,
			(char *)a3,	    (char *)a4, NULL};
	return pc_run_wait(argv, true);
}

/* Signal (SIGTERM or SIGKILL) a container (crun kill) or a service (its process group: it is a
 * session leader). */
int pc_ctr_kill(const struct pc_sup *s, const struct pc_ctr *c, int sig)
{
	const char *name = sig == SIGKILL ? "KILL" : "TERM";
	if (!c->cfg->service && c->cfg->role == ROLE_HOST)
		/* no PID namespace: daemons it started outlive its init unless signalled too */
		return crun(s, "kill", "--all", c->cfg->name, name);
	if (!c->cfg->service)
		return crun(s, "kill", c->cfg->name, name, NULL);
	if (c->cfg->console && sig == SIGTERM)
		sig = SIGHUP; /* an interactive shell ignores SIGTERM; a hang-up ends it */
	return c->run_pid > 0 ? kill(-c->run_pid, sig) : 0;
}

static void pid_file(const struct pc_sup *s, const struct pc_ctr *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s.pid", s->run_dir, c->cfg->name);
}

void pc_sup_init(struct pc_sup *s, const struct pc_manifest *m, const char *run_dir, char slot)
{
	/* clear everything but the container array, whose used slots are cleared below: unused
	 * slots stay untouched zero pages, outside the manager's RSS */
	size_t after = offsetof(struct pc_sup, c) + sizeof s->c;
	memset(s, 0, offsetof(struct pc_sup, c));
	memset((char *)s + after, 0, sizeof *s - after);
	s->m = m;
	s->run_dir = run_dir;
	s->slot = slot;
	s->start_ms = pc_now_ms();
	s->stop_index = m->ncontainers - 1;
	s->watchdog_fd = -1;
	s->inotify_fd = -1;
	s->control_fd = -1;
	s->upd.fd = s->upd.client = -1;
	snprintf(s->revision, sizeof s->revision, "factory");
	for (int i = 0; i < m->ncontainers; i++) {
		struct pc_ctr *c = &s->c[i];
		memset(c, 0, sizeof *c);
		c->cfg = &m->c[i];
		c->out_fd = c->ring_fd = -1;
		pc_crashloop_init(&c->loop, c->cfg->crash_restarts, c->cfg->crash_window);
	}
}

static void request(struct pc_sup *s, enum pc_action a)
{
	if (s->action == ACTION_NONE)
		s->action = a;
}

static void boot_bad(struct pc_sup *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void boot_bad(struct pc_sup *s, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	LOG("boot NOT good: %s", reason);
	s->boot_decided = true;
	if (s->slot)
		pc_demote(s->m, s->slot);
	request(s, ACTION_REBOOT);
}

/* ------------------------------------------------------------------ container output */

static const struct pc_sup *g_sup; /* for the log files of emit() */

/* A container's lines reach the console and /data at most CONSOLE_RATE a second (in bursts of
 * CONSOLE_BURST): a flood of output must not stall PID 1 on a slow serial console or wear the
 * flash. Every line still goes into its /run ring (`pycmctl logs NAME`). */
#define CONSOLE_RATE 20
#define CONSOLE_BURST 100

static bool budget(struct pc_ctr *c)
{
	long long now = pc_now_ms();
	if (!c->budget_ms) {
		c->budget = CONSOLE_BURST;
		c->budget_ms = now;
	}
	long long add = (now - c->budget_ms) * CONSOLE_RATE / 1000;
	if (add > 0) {
		c->budget = add >= CONSOLE_BURST - c->budget ? CONSOLE_BURST : c->budget + (int)add;
		c->budget_ms = now;
	}
	if (c->budget > 0) {
		c->budget--;
		return true;
	}
	c->dropped++;
	return false;
}

/* The count of lines left out: once the flood has stopped for a second, and during a long one
 * with a shown line every NOTICE_MS. */
#define NOTICE_MS 10000

static void flush_dropped(struct pc_ctr *c)
{
	c->notice_ms = pc_now_ms();
	char buf[PC_NAME_MAX * 2 + 96];
	int n = snprintf(buf, sizeof buf, "[%s] (%u lines not shown: more than %d a second; pycmctl logs %s)\n",
			 c->cfg->name, c->dropped, CONSOLE_RATE, c->cfg->name);
	c->dropped = 0;
	if (write(STDOUT_FILENO, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1)) < 0) {
		/* console gone: nothing to do */
	}
}

static void emit(struct pc_ctr *c)
{
	bool show = budget(c);
	if (g_sup)
		pc_log_line(g_sup, c, c->line, c->linelen, show);
	if (show) {
		char buf[sizeof c->line + PC_NAME_MAX + 8];
		if (c->dropped && pc_now_ms() - c->notice_ms >= NOTICE_MS)
			flush_dropped(c);
		int n = snprintf(buf, sizeof buf, "[%s] %.*s\n", c->cfg->name, (int)c->linelen, c->line);
		if (write(STDOUT_FILENO, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1)) < 0) {
			/* console gone: nothing to do */
		}
	}
	c->linelen = 0;
}

/* At most READ_BURST reads per container and turn of the main loop: a container writing without
 * pause must not keep PID 1 from everything else (the watchdog first); it is held back by its full
 * pipe instead. Returns true when more may be waiting. */
#define READ_BURST 16

static bool read_output(struct pc_ctr *c)
{
	char buf[4096];
	for (int burst = 0; burst < READ_BURST; burst++) {
		ssize_t n = read(c->out_fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				if (c->linelen)
					emit(c);
				close(c->out_fd);
				c->out_fd = -1;
			}
			return false;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || c->linelen == sizeof c->line)
				emit(c);
			if (buf[i] != '\n')
				c->line[c->linelen++] = buf[i];
		}
	}
	return true;
}

/* ------------------------------------------------------------------ start, health, exit */

/* In the child: stdin from /dev/null and output into the pipe, or, for a console service, all
 * three on /dev/console as its controlling terminal; a service gets its own session. */
static void child_stdio(const struct pc_container *cfg, int out)
{
	if (cfg->service)
		setsid();
	if (cfg->console) {
		int fd = open("/dev/console", O_RDWR);
		if (fd < 0)
			_exit(126);
		ioctl(fd, TIOCSCTTY, 1);
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		return;
	}
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(out, STDERR_FILENO);
}

/* In the child: exec a service's command, split on spaces. */
static void exec_service(const struct pc_container *cfg)
{
	char cmd[sizeof cfg->exec], *argv[64];
	int argc = 0;
	snprintf(cmd, sizeof cmd, "%s", cfg->exec);
	for (char *save = NULL, *tok = strtok_r(cmd, " ", &save); tok && argc < 63; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	execv(argv[0], argv);
	dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
}

static void exited(struct pc_sup *s, struct pc_ctr *c, int status);

static void start(struct pc_sup *s, struct pc_ctr *c)
{
	struct pc_err err;
	char pidf[PC_PATH_MAX + 64], config[PC_PATH_MAX + 64] = "";
	int fds[2];
	static struct pc_devjson dev; /* used by the child only, between fork and exec */

	if (c->cfg->devices[0]) {
		if (pc_devices_resolve(c->cfg, &dev, &err) < 0) {
			/* an error of this start, as if the container had exited at once: restarts,
			 * crash loop and the boot decision go their usual way */
			LOG("container %s: %s; not started", c->cfg->name, err.msg);
			pc_fmt(c->error, sizeof c->error, "%s", err.msg);
			c->state = ST_RUNNING;
			exited(s, c, 1 << 8);
			return;
		}
		pc_fmt(config, sizeof config, "%s/%s.config.json", s->run_dir, c->cfg->name);
	}
	c->error[0] = '\0';
	for (int i = 0; i < c->cfg->nvolumes; i++) {
		if (pc_mkdirs(c->cfg->volumes[i], &err) < 0)
			LOG("container %s: %s", c->cfg->name, err.msg);
		else if ((c->cfg->uid || c->cfg->gid) && lchown(c->cfg->volumes[i], c->cfg->uid, c->cfg->gid) < 0)
			LOG("container %s: chown %s: %s", c->cfg->name, c->cfg->volumes[i], strerror(errno));
	}
	if (c->cfg->runtime_dir[0] && pc_mkdirs(c->cfg->runtime_dir, &err) < 0)
		LOG("service %s: %s", c->cfg->name, err.msg);
	pid_file(s, c, pidf, sizeof pidf);
	unlink(pidf);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		LOG("container %s: pipe: %s", c->cfg->name, strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		LOG("container %s: fork: %s", c->cfg->name, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		pc_child_reset();
		child_stdio(c->cfg, fds[1]);
		if (c->cfg->service) {
			exec_service(c->cfg);
			_exit(127);
		}
		/* declared devices: crun reads a copy of config.json that has them */
		if (*config && pc_devices_config(c->cfg->bundle, config, &dev, &err) < 0) {
			dprintf(STDERR_FILENO, "%s\n", err.msg);
			_exit(127);
		}
		/* network = bridge: its namespace, veth, address and ports, which its config.json names */
		if (c->cfg->network == NET_BRIDGE && pc_net_up(c->cfg) != 0) {
			dprintf(STDERR_FILENO, "container %s: its network could not be set up\n", c->cfg->name);
			_exit(127);
		}
		/* detached: crun exits once the container runs, and its init, reparented to us (PID 1 or
		 * a child subreaper), is what we wait for; no crun process stays resident per container */
		if (*config)
			execl(s->m->crun, s->m->crun, "--root", s->m->crun_root, "run", "--detach", "--bundle",
			      c->cfg->bundle, "--config", config, "--pid-file", pidf, c->cfg->name, (char *)NULL);
		else
			execl(s->m->crun, s->m->crun, "--root", s->m->crun_root, "run", "--detach", "--bundle",
			      c->cfg->bundle, "--pid-file", pidf, c->cfg->name, (char *)NULL);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", s->m->crun, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	c->out_fd = fds[0];
	c->run_pid = pid;
	c->launching = !c->cfg->service;
	c->cpid = c->cfg->service ? pid : 0; /* a service's health checks look at its own /proc/PID/root */
	c->fails = 0;
	c->state = ST_RUNNING;
	c->started_ms = c->next_check_ms = pc_now_ms();
	LOG("%s %s: started (pid %d)", KIND(c), c->cfg->name, (int)pid);
	if (c->cfg->health == HEALTH_NONE) /* healthy once it has stayed up for an interval */
		c->next_check_ms = c->started_ms + c->cfg->health_interval * 1000LL;
}

/* Stop watching c's ready file (the watch is shared with any other container whose ready file is
 * in the same directory: removed with the last of them). */
static void unwatch(struct pc_sup *s, struct pc_ctr *c)
{
	if (c->wd <= 0)
		return;
	bool shared = false;
	for (int i = 0; i < s->m->ncontainers; i++)
		shared = shared || (&s->c[i] != c && s->c[i].wd == c->wd);
	if (!shared)
		inotify_rm_watch(s->inotify_fd, c->wd);
	c->wd = 0;
}

static void check_result(struct pc_sup *s, struct pc_ctr *c, bool ok)
{
	c->check_pid = 0;
	if (c->run_pid == 0)
		return;
	if (ok) {
		c->fails = 0;
		if (c->state == ST_RUNNING) {
			c->state = ST_HEALTHY;
			c->ever_healthy = true;
			c->restarts = 0; /* a healthy start resets the backoff */
			LOG("%s %s: healthy", KIND(c), c->cfg->name);
		}
	} else if (c->state == ST_RUNNING && c->cfg->health == HEALTH_EXEC) {
		/* not ready yet: the boot waits for it, so ask again soon rather than a whole interval later */
		long long soon = pc_now_ms() + STARTUP_CHECK_MS;
		if (soon < c->next_check_ms)
			c->next_check_ms = soon;
	} else if (c->state == ST_HEALTHY && ++c->fails >= c->cfg->health_retries) {
		LOG("%s %s: unhealthy (%d failed checks); stopping it", KIND(c), c->cfg->name, c->fails);
		pc_ctr_kill(s, c, SIGKILL);
	}
}

static pid_t container_pid(const struct pc_sup *s, struct pc_ctr *c)
{
	if (c->cpid == 0) {
		char pidf[PC_PATH_MAX + 64];
		pid_file(s, c, pidf, sizeof pidf);
		char buf[32];
		int fd = open(pidf, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof buf - 1);
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
			long pid = strtol(buf, NULL, 10);
			if (pid > 0)
				c->cpid = (pid_t)pid;
		}
	}
	return c->cpid;
}

static void run_check(struct pc_sup *s, struct pc_ctr *c, long long now)
{
	if (c->cfg->health == HEALTH_NONE) { /* up for an interval: healthy, and nothing more to check */
		check_result(s, c, true);
		c->next_check_ms = NEVER;
		return;
	}
	if (c->cfg->health == HEALTH_READY_FILE) {
		char path[PC_PATH_MAX + 600];
		pid_t pid = container_pid(s, c);
		bool ok = false;
		if (pid > 0) {
			snprintf(path, sizeof path, "/proc/%d/root%s", (int)pid, c->cfg->health_arg);
			ok = access(path, F_OK) == 0;
		}
		check_result(s, c, ok);
		bool gone = false;
		if (ok && c->state == ST_HEALTHY && c->wd <= 0 && s->inotify_fd >= 0 && !c->launching) {
			/* the directory the file is in now (through the container's mounts as they are);
			 * a file removed before the watch was there is checked again at once */
			char *slash = strrchr(path, '/');
			*slash = '\0';
			c->wd = inotify_add_watch(s->inotify_fd, *path ? path : "/", WATCH_EVENTS);
			*slash = '/';
			if (c->wd < 0)
				c->wd = 0;
			gone = c->wd > 0 && access(path, F_OK) != 0;
		}
		if (c->state != ST_HEALTHY)
			c->next_check_ms = now + READY_POLL_MS;
		else if (gone)
			c->next_check_ms = now;
		else
			c->next_check_ms = ok && c->wd > 0 ? NEVER : now + c->cfg->health_interval * 1000LL;
		return;
	}
	pid_t pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		pc_child_reset();
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		if (c->cfg->service)
			execl("/bin/sh", "sh", "-c", c->cfg->health_arg, (char *)NULL);
		else
			execl(s->m->crun, s->m->crun, "--root", s->m->crun_root, "exec", c->cfg->name, "/bin/sh", "-c",
			      c->cfg->health_arg, (char *)NULL);
		_exit(127);
	}
	c->check_pid = pid;
	c->check_deadline_ms = now + c->cfg->health_timeout * 1000LL;
	c->next_check_ms = now + c->cfg->health_interval * 1000LL;
}

static void exited(struct pc_sup *s, struct pc_ctr *c, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	long long now = pc_now_ms();

	/* what it wrote before it exited (bounded: a writer it left behind may still be going) */
	for (int i = 0; i < 64 && c->out_fd >= 0 && read_output(c); i++)
		;
	if (c->out_fd >= 0) {
		close(c->out_fd);
		c->out_fd = -1;
	}
	if (c->check_pid > 0)
		kill(c->check_pid, SIGKILL);
	unwatch(s, c);
	c->run_pid = c->cpid = c->check_pid = 0;
	c->launching = false;
	c->kill_at_ms = 0;
	LOG("%s %s: exited (status %d)", KIND(c), c->cfg->name, code);
	if (!c->cfg->service)
		crun(s, "delete", "-f", c->cfg->name, NULL);
	if (!c->cfg->service && c->cfg->network == NET_BRIDGE && pc_net_down(c->cfg) != 0)
		LOG("container %s: its network was not removed entirely", c->cfg->name);
	if (s->action != ACTION_NONE || c->user_stopped) {
		c->state = ST_EXITED;
		return;
	}
	if (c->user_restart) {
		c->user_restart = false;
		c->state = ST_BACKOFF;
		c->restart_at_ms = now;
		c->total_restarts++;
		return;
	}
	bool again = c->cfg->restart == RESTART_ALWAYS || (c->cfg->restart == RESTART_ON_FAILURE && code != 0);
	if (!again) {
		c->state = ST_EXITED;
		if (c->cfg->required && !c->ever_healthy && !s->boot_decided)
			boot_bad(s, "%s %s exited (status %d) before it was healthy", KIND(c), c->cfg->name, code);
		return;
	}
	if (pc_crashloop_record(&c->loop, now)) {
		c->state = ST_FAILED;
		LOG("%s %s: failed (crash loop: %d restarts within %d s)", KIND(c), c->cfg->name, c->loop.limit,
		    c->cfg->crash_window);
		if (c->cfg->required && !s->boot_decided)
			boot_bad(s, "%s %s is in a crash loop", KIND(c), c->cfg->name);
		return;
	}
	c->restarts++;
	c->total_restarts++;
	long long delay = pc_backoff_ms(c->cfg->backoff_initial, c->cfg->backoff_max, c->restarts);
	c->state = ST_BACKOFF;
	c->restart_at_ms = now + delay;
	LOG("%s %s: restarting in %lld.%03lld s", KIND(c), c->cfg->name, delay / 1000, delay % 1000);
}

/* `crun run --detach` has exited: the container runs (its init is now our child) or failed. */
static void launched(struct pc_sup *s, struct pc_ctr *c, int status)
{
	c->launching = false;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		exited(s, c, status);
		return;
	}
	c->cpid = 0;
	pid_t pid = container_pid(s, c);
	if (pid <= 0) {
		LOG("container %s: crun left no pid file", c->cfg->name);
		exited(s, c, 1 << 8);
		return;
	}
	c->run_pid = pid;
	for (unsigned i = 0; i < PC_ORPHANS; i++)
		if (s->orphans[i].pid == pid) { /* it has exited already */
			s->orphans[i].pid = 0;
			exited(s, c, s->orphans[i].status);
			return;
		}
	if (kill(pid, 0) < 0 && errno == ESRCH) { /* reaped by someone else: its status is lost */
		LOG("container %s: its init %d is gone (exit status unknown)", c->cfg->name, (int)pid);
		exited(s, c, 255 << 8);
	}
}

static void reap(struct pc_sup *s)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == s->upd.pid) {
			pc_apps_exited(s, status);
			continue;
		}
		bool known = false;
		for (int i = 0; i < s->m->ncontainers; i++) {
			struct pc_ctr *c = &s->c[i];
			if (pid == c->run_pid && c->launching) {
				launched(s, c, status);
				known = true;
			} else if (pid == c->run_pid) {
				exited(s, c, status);
				known = true;
			} else if (pid == c->check_pid) {
				check_result(s, c, WIFEXITED(status) && WEXITSTATUS(status) == 0);
				known = true;
			}
		}
		if (!known) { /* an orphan reparented to us, perhaps a container init not known yet */
			s->orphans[s->norphans % PC_ORPHANS].pid = pid;
			s->orphans[s->norphans % PC_ORPHANS].status = status;
			s->norphans++;
		}
	}
}

/* ------------------------------------------------------------------ scheduling */

static bool deps_healthy(const struct pc_sup *s, const struct pc_ctr *c)
{
	for (int i = 0; i < c->cfg->ndeps; i++)
		if (s->c[c->cfg->deps[i]].state != ST_HEALTHY)
			return false;
	return true;
}

static void decide_boot(struct pc_sup *s, long long now)
{
	if (s->boot_decided || s->action != ACTION_NONE)
		return;
	char waiting[512] = "";
	for (int i = 0; i < s->m->ncontainers; i++) {
		const struct pc_ctr *c = &s->c[i];
		if (c->cfg->required && c->state != ST_HEALTHY)
			snprintf(waiting + strlen(waiting), sizeof waiting - strlen(waiting), "%s%s", *waiting ? ", " : "",
				 c->cfg->name);
	}
	if (!*waiting) {
		s->boot_decided = true;
		if (!s->slot) {
			LOG("all containers healthy; no rauc.slot= on the kernel command line, so nothing to mark");
			return;
		}
		struct pc_err err;
		if (pc_mark_good(s->m, s->slot, &err) < 0)
			LOG("cannot mark the boot good: %s", err.msg);
		else {
			s->boot_good = true;
			LOG("boot good (slot %c)", s->slot);
		}
	} else if (now - s->start_ms > s->m->boot_deadline * 1000LL) {
		boot_bad(s, "not healthy %d s after start: %s", s->m->boot_deadline, waiting);
	}
}

/* One step of the orderly stop, last container first. True when everything is stopped. */
static bool stop_step(struct pc_sup *s, long long now)
{
	while (s->stop_index >= 0) {
		struct pc_ctr *c = &s->c[s->stop_index];
		if (c->run_pid == 0) {
			if (c->state == ST_BACKOFF || c->state == ST_WAITING)
				c->state = ST_EXITED;
			s->stop_index--;
			s->stop_deadline = s->stop_retry = 0;
			s->stop_killed = false;
			continue;
		}
		if (s->stop_deadline == 0) {
			LOG("%s %s: stopping", KIND(c), c->cfg->name);
			s->stop_deadline = now + s->m->stop_timeout * 1000LL;
			s->stop_retry = now;
		}
		if (!s->stop_killed && s->stop_retry && now >= s->stop_retry && now < s->stop_deadline) {
			/* crun refuses a container it has not finished creating: try again shortly */
			s->stop_retry = pc_ctr_kill(s, c, SIGTERM) == 0 ? 0 : now + STOP_RETRY_MS;
		} else if (now >= s->stop_deadline && !s->stop_killed) {
			LOG("%s %s: did not stop in %d s; killing it", KIND(c), c->cfg->name, s->m->stop_timeout);
			pc_ctr_kill(s, c, SIGKILL);
			s->stop_killed = true;
			s->stop_deadline = now + KILL_GRACE_MS;
		} else if (now >= s->stop_deadline) {
			kill(c->run_pid, SIGKILL); /* crun itself hangs: it is reaped like any child */
			s->stop_deadline = now + KILL_GRACE_MS;
		}
		return false;
	}
	return true;
}

static void tick(struct pc_sup *s, long long now)
{
	for (int i = 0; i < s->m->ncontainers; i++) {
		struct pc_ctr *c = &s->c[i];
		if (c->dropped && now - c->budget_ms >= 1000)
			flush_dropped(c);
		if (s->action != ACTION_NONE)
			break;
		if (c->kill_at_ms && c->run_pid > 0 && now >= c->kill_at_ms) {
			LOG("%s %s: did not stop in %d s; killing it", KIND(c), c->cfg->name, s->m->stop_timeout);
			pc_ctr_kill(s, c, SIGKILL);
			c->kill_at_ms = 0;
		}
		if (s->upd.job == JOB_BOOT)
			continue; /* the store's boot cleanup first (a factory reset may wipe the volumes) */
		if ((c->state == ST_WAITING && deps_healthy(s, c)) ||
		    (c->state == ST_BACKOFF && now >= c->restart_at_ms))
			start(s, c);
		if (c->state == ST_RUNNING || c->state == ST_HEALTHY) {
			if (c->check_pid == 0 && now >= c->next_check_ms)
				run_check(s, c, now);
			else if (c->check_pid > 0 && now >= c->check_deadline_ms)
				kill(c->check_pid, SIGKILL); /* reaped as a failed check */
		}
	}
	decide_boot(s, now);
	if (s->action == ACTION_NONE)
		pc_apps_tick(s, now);
}

/* When the loop must wake next (NEVER: only for an event): the watchdog, a due health check or
 * restart, a deadline. */
static long long next_wake(const struct pc_sup *s, long long now)
{
	long long next = s->watchdog_fd >= 0 ? s->petted_ms + s->watchdog_ms : NEVER;
#define EARLIER(t)                                                                                 \
	do {                                                                                       \
		if ((t) < next)                                                                    \
			next = (t);                                                                \
	} while (0)
	for (int i = 0; i < s->m->ncontainers; i++) {
		const struct pc_ctr *c = &s->c[i];
		if (c->dropped)
			EARLIER(c->budget_ms + 1000);
		if (c->state == ST_BACKOFF)
			EARLIER(c->restart_at_ms);
		if (c->kill_at_ms)
			EARLIER(c->kill_at_ms);
		if (c->state == ST_RUNNING || c->state == ST_HEALTHY)
			EARLIER(c->check_pid > 0 ? c->check_deadline_ms : c->next_check_ms);
	}
	if (!s->boot_decided)
		EARLIER(s->start_ms + s->m->boot_deadline * 1000LL + 1);
	if (s->action != ACTION_NONE && s->stop_deadline)
		EARLIER(s->stop_deadline);
	if (s->action != ACTION_NONE && s->stop_retry)
		EARLIER(s->stop_retry);
	EARLIER(pc_apps_due(s));
	EARLIER(pc_control_deadline());
#undef EARLIER
	return next < now ? now : next;
}

void pc_sup_stop(struct pc_sup *s, struct pc_ctr *c)
{
	c->user_stopped = true;
	c->user_restart = false;
	if (c->run_pid > 0) {
		LOG("%s %s: stopping (pycmctl)", KIND(c), c->cfg->name);
		pc_ctr_kill(s, c, SIGTERM);
		c->kill_at_ms = pc_now_ms() + s->m->stop_timeout * 1000LL;
	} else if (c->state != ST_WAITING) {
		c->state = ST_EXITED;
	}
}

void pc_sup_restart(struct pc_sup *s, struct pc_ctr *c)
{
	c->user_stopped = false;
	pc_crashloop_init(&c->loop, c->cfg->crash_restarts, c->cfg->crash_window);
	if (c->run_pid > 0) {
		LOG("%s %s: restarting (pycmctl)", KIND(c), c->cfg->name);
		c->user_restart = true;
		pc_ctr_kill(s, c, SIGTERM);
		c->kill_at_ms = pc_now_ms() + s->m->stop_timeout * 1000LL;
	} else if (c->state != ST_WAITING) {
		c->state = ST_BACKOFF;
		c->restart_at_ms = pc_now_ms();
		c->total_restarts++;
	}
}

static void pet_watchdog(struct pc_sup *s, long long now)
{
	if (s->watchdog_fd < 0)
		return;
	if (write(s->watchdog_fd, "\0", 1) < 0)
		LOG("watchdog: %s", strerror(errno));
	s->petted_ms = now;
}

/* inotify: a watched directory changed: check the ready files in it now. */
static void watch_events(struct pc_sup *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	while ((n = read(s->inotify_fd, buf, sizeof buf)) > 0)
		for (char *p = buf; p < buf + n; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			for (int i = 0; i < s->m->ncontainers; i++) {
				struct pc_ctr *c = &s->c[i];
				if (c->wd <= 0 || (e->wd != c->wd && !(e->mask & IN_Q_OVERFLOW)))
					continue;
				if (e->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))
					c->wd = 0; /* the directory is gone: its ready file is polled again */
				if (c->check_pid == 0)
					c->next_check_ms = 0;
			}
		}
}

enum pc_action pc_sup_run(struct pc_sup *s)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		LOG("signalfd: %s", strerror(errno));
		return ACTION_REBOOT;
	}
	g_sup = s;
	char logdir[PC_PATH_MAX + 16];
	struct pc_err err;
	snprintf(logdir, sizeof logdir, "%s/logs", s->run_dir);
	if (pc_mkdirs(logdir, &err) < 0 || (s->data_logs[0] && pc_mkdirs(s->data_logs, &err) < 0))
		LOG("logs: %s", err.msg);
	s->control_fd = pc_control_listen(s->run_dir);
	if (s->m->watchdog[0]) {
		s->watchdog_fd = open(s->m->watchdog, O_WRONLY | O_CLOEXEC);
		int timeout = s->m->watchdog_timeout;
		if (s->watchdog_fd < 0)
			LOG("WARNING: watchdog %s: %s; running without it", s->m->watchdog, strerror(errno));
		else if (timeout && ioctl(s->watchdog_fd, WDIOC_SETTIMEOUT, &timeout) < 0)
			LOG("watchdog %s armed; cannot set its timeout: %s", s->m->watchdog, strerror(errno));
		else
			LOG("watchdog %s armed (%d s)", s->m->watchdog, timeout);
		/* petted every half of the timeout the driver has (whatever was asked), 1 s when it does
		 * not say */
		if (s->watchdog_fd >= 0 && ioctl(s->watchdog_fd, WDIOC_GETTIMEOUT, &timeout) < 0)
			timeout = 0;
		s->watchdog_ms = timeout > 0 ? timeout * 500 : 1000;
	}
	s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->inotify_fd < 0)
		LOG("inotify: %s; ready files are polled", strerror(errno));
	pc_apps_start(s);
	for (;;) {
		long long now = pc_now_ms();
		pet_watchdog(s, now);
		tick(s, now);
		if (s->action != ACTION_NONE && stop_step(s, now))
			break;
		struct pollfd fds[4 + PC_MAX_CONTAINERS + PC_CONTROL_CLIENTS];
		int map[4 + PC_MAX_CONTAINERS], n = 0;
		fds[n] = (struct pollfd){.fd = sfd, .events = POLLIN};
		map[n++] = -1;
		fds[n] = (struct pollfd){.fd = s->control_fd, .events = POLLIN};
		map[n++] = -2;
		fds[n] = (struct pollfd){.fd = s->upd.fd, .events = POLLIN}; /* -1: ignored by poll */
		map[n++] = -3;
		fds[n] = (struct pollfd){.fd = s->inotify_fd, .events = POLLIN};
		map[n++] = -4;
		for (int i = 0; i < s->m->ncontainers; i++)
			if (s->c[i].out_fd >= 0) {
				fds[n] = (struct pollfd){.fd = s->c[i].out_fd, .events = POLLIN};
				map[n++] = i;
			}
		int nctl = n;
		n += pc_control_pollfds(fds + n);
		long long wake = next_wake(s, pc_now_ms()), left = wake - pc_now_ms();
		int timeout = wake == NEVER ? -1 : left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
		if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			LOG("poll: %s", strerror(errno));
			continue;
		}
		for (int i = 4; i < nctl; i++)
			if (fds[i].revents && s->c[map[i]].out_fd >= 0)
				read_output(&s->c[map[i]]);
		if (fds[2].revents)
			pc_apps_read(s);
		if (fds[3].revents)
			watch_events(s);
		pc_control_events(s, fds[1].revents & POLLIN, fds + nctl, n - nctl);
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) == sizeof si) {
			switch (si.ssi_signo) {
			case SIGCHLD:
				break;
			case SIGUSR2:
				request(s, ACTION_POWEROFF);
				break;
			case SIGUSR1:
				request(s, ACTION_HALT);
				break;
			default: /* SIGTERM and SIGINT: reboot, as busybox init does */
				request(s, ACTION_REBOOT);
				break;
			}
		}
		reap(s);
	}
	close(sfd);
	if (s->control_fd >= 0)
		close(s->control_fd);
	if (s->watchdog_fd >= 0 && s->action != ACTION_REBOOT) {
		/* magic close: an orderly power-off must not end in a watchdog reset */
		if (write(s->watchdog_fd, "V", 1) < 0)
			LOG("watchdog: %s", strerror(errno));
		close(s->watchdog_fd);
	}
	return s->action;
}
