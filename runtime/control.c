#define _GNU_SOURCE
#include "control.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *state_name(enum pc_state st)
{
	static const char *names[] = {"waiting", "running", "healthy", "backoff", "exited", "failed"};
	return names[st];
}

int pc_control_listen(const char *run_dir)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/control.sock", run_dir) >= sizeof addr.sun_path)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	unlink(addr.sun_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 4) < 0) {
		LOG("control socket %s: %s", addr.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	chmod(addr.sun_path, 0600);
	return fd;
}

struct reply {
	char buf[64 * 1024];
	size_t len;
};

static void put(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(r->buf + r->len, sizeof r->buf - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len = r->len + (size_t)n < sizeof r->buf ? r->len + (size_t)n : sizeof r->buf - 1;
}

static void status(const struct pc_sup *s, struct reply *r, bool json)
{
	const char *boot = !s->boot_decided ? "pending" : s->boot_good ? "good" : "not-good";
	static const char *phases[] = {"none", "staging", "switching", "trial", "rollback"};
	int phase = s->upd.phase == UPD_TRIAL && s->upd.rollback ? 4 : (int)s->upd.phase;
	if (json)
		put(r, "{\"device\":\"%s\",\"slot\":\"%c\",\"boot\":\"%s\",\"revision\":\"%s\",\"update\":\"%s\","
		    "\"containers\":[", s->m->device, s->slot ? s->slot : '-', boot, s->revision, phases[phase]);
	else
		put(r, "device %s, slot %c, boot %s, app revision %s%s%s\n%-20s %-8s %7s %8s\n", s->m->device,
		    s->slot ? s->slot : '-', boot, s->revision, s->upd.phase ? ", update " : "",
		    s->upd.phase ? phases[phase] : "", "NAME", "STATE", "PID", "RESTARTS");
	for (int i = 0; i < s->m->ncontainers; i++) {
		const struct pc_ctr *c = &s->c[i];
		if (json)
			put(r, "%s{\"name\":\"%s\",\"role\":\"%s\",\"state\":\"%s\",\"pid\":%d,\"restarts\":%d,\"required\":%s,"
			    "\"error\":\"%s\"}",
			    i ? "," : "", c->cfg->name, c->cfg->role == ROLE_HOST ? "host" : "app", state_name(c->state),
			    (int)c->run_pid, c->total_restarts, c->cfg->required ? "true" : "false", c->error);
		else
			put(r, "%-20s %-8s %7d %8d%s%s\n", c->cfg->name, state_name(c->state), (int)c->run_pid,
			    c->total_restarts, *c->error ? "  " : "", c->error);
	}
	if (json)
		put(r, "]}\n");
}

static void tail_file(struct reply *r, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)max ? size - (off_t)max : 0;
	lseek(fd, from, SEEK_SET);
	ssize_t n = read(fd, r->buf + r->len, sizeof r->buf - r->len - 1 < max ? sizeof r->buf - r->len - 1 : max);
	if (n > 0)
		r->len += (size_t)n;
	close(fd);
}

#define COMMANDS "status [--json], restart NAME, stop NAME, logs NAME, app-update FILE, app-rollback, " \
		 "factory-reset [--wipe-data]"

/* Returns true when the answer comes later (an app update: on fd, once committed or rolled back). */
static bool handle(struct pc_sup *s, char *req, struct reply *r, int fd)
{
	char *cmd = strtok(req, " \n"), *arg = strtok(NULL, " \n");
	char msg[512];
	if (!cmd) {
		put(r, "ERR empty request\n");
		return false;
	}
	if (!strcmp(cmd, "app-update") || !strcmp(cmd, "app-rollback")) {
		if (!strcmp(cmd, "app-update") && !arg) {
			put(r, "ERR app-update: give the path of an app bundle\n");
			return false;
		}
		if (s->action != ACTION_NONE) {
			put(r, "ERR shutting down\n");
			return false;
		}
		if (pc_apps_request(s, arg && !strcmp(cmd, "app-update") ? arg : "previous", fd, msg, sizeof msg) < 0) {
			put(r, "ERR %s: %s\n", cmd, msg);
			return false;
		}
		return true;
	}
	if (!strcmp(cmd, "factory-reset")) {
		if (arg && strcmp(arg, "--wipe-data")) {
			put(r, "ERR factory-reset: unknown option '%s'; allowed: --wipe-data\n", arg);
			return false;
		}
		if (pc_apps_factory_reset(s, arg != NULL, msg, sizeof msg) < 0)
			put(r, "ERR factory-reset: %s\n", msg);
		else
			put(r, "OK\n%s\n", msg);
		return false;
	}
	if (!strcmp(cmd, "status")) {
		put(r, "OK\n");
		status(s, r, arg && !strcmp(arg, "--json"));
		return false;
	}
	if (strcmp(cmd, "restart") && strcmp(cmd, "stop") && strcmp(cmd, "logs")) {
		put(r, "ERR unknown command '%s'; allowed: " COMMANDS "\n", cmd);
		return false;
	}
	int i = arg ? pc_manifest_find(s->m, arg) : -1;
	if (i < 0) {
		put(r, "ERR %s: no container named '%s'\n", cmd, arg ? arg : "");
		return false;
	}
	struct pc_ctr *c = &s->c[i];
	if (!strcmp(cmd, "logs")) {
		char path[PC_PATH_MAX + 64];
		put(r, "OK\n");
		snprintf(path, sizeof path, "%s/logs/%s.log.1", s->run_dir, c->cfg->name);
		tail_file(r, path, PC_LOG_RUN_CAP);
		snprintf(path, sizeof path, "%s/logs/%s.log", s->run_dir, c->cfg->name);
		tail_file(r, path, PC_LOG_RUN_CAP);
		return false;
	}
	if (s->action != ACTION_NONE || s->upd.phase == UPD_STOPPING) {
		put(r, "ERR %s\n", s->action != ACTION_NONE ? "shutting down" : "an app update is switching containers");
		return false;
	}
	if (!strcmp(cmd, "stop"))
		pc_sup_stop(s, c);
	else
		pc_sup_restart(s, c);
	put(r, "OK\n%s %s\n", strcmp(cmd, "stop") ? "restarting" : "stopping", c->cfg->name);
	return false;
}

void pc_control_serve(struct pc_sup *s, int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	char req[256];
	size_t len = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	/* one short line; a client that does not send it within a second is dropped */
	while (len < sizeof req - 1 && poll(&p, 1, 1000) > 0) {
		ssize_t n = read(fd, req + len, sizeof req - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(req, '\n', len))
			break;
	}
	req[len] = '\0';
	static struct reply r;
	r.len = 0;
	if (handle(s, req, &r, fd))
		return; /* the update answers on fd when it is done */
	for (size_t off = 0; off < r.len;) {
		ssize_t n = write(fd, r.buf + off, r.len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
}

static void append_capped(const char *dir, const char *name, const char *line, size_t len, off_t cap)
{
	char path[PC_PATH_MAX + 64], old[PC_PATH_MAX + 72];
	snprintf(path, sizeof path, "%s/%s.log", dir, name);
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size + (off_t)len + 1 > cap) {
		snprintf(old, sizeof old, "%s.1", path);
		rename(path, old); /* the ring: NAME.log.1 is the older half */
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	if (write(fd, line, len) < 0 || write(fd, "\n", 1) < 0) {
		/* a full log partition must not stop the manager */
	}
	close(fd);
}

void pc_log_line(const struct pc_sup *s, const char *name, const char *line, size_t len, bool persist)
{
	char dir[PC_PATH_MAX + 16];
	snprintf(dir, sizeof dir, "%s/logs", s->run_dir);
	append_capped(dir, name, line, len, PC_LOG_RUN_CAP);
	if (persist && s->data_logs[0])
		append_capped(s->data_logs, name, line, len, PC_LOG_DATA_CAP);
}
