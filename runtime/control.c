#define _GNU_SOURCE
#include "control.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static const char *state_name(enum pc_state st)
{
	static const char *names[] = {"waiting", "running", "healthy", "backoff", "exited", "failed"};
	return names[st];
}

/* ------------------------------------------------------------------ clients in the poll loop */

/* A connection: its request read as it comes, then its answer written as the peer takes it; each
 * within a deadline. PID 1 never blocks on one. */
struct client {
	int fd; /* -1: a free slot */
	long long deadline;
	char req[PC_CONTROL_REQUEST];
	size_t len;
	char *out; /* the answer not written yet (malloc'd) */
	size_t outlen, outoff;
};

static struct client clients[PC_CONTROL_CLIENTS]; /* fd -1 from pc_control_listen on */

int pc_control_listen(const char *run_dir)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/control.sock", run_dir) >= sizeof addr.sun_path)
		return -1;
	for (int i = 0; i < PC_CONTROL_CLIENTS; i++)
		clients[i].fd = -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	unlink(addr.sun_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
		LOG("control socket %s: %s", addr.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	chmod(addr.sun_path, 0600);
	return fd;
}

/* An answer, grown as it is written (at most REPLY_MAX bytes) and freed once it is sent: no buffer
 * of the largest answer stays in the manager. */
#define REPLY_MAX (64 * 1024)
struct reply {
	char *buf;
	size_t len, cap;
};

/* Room for more bytes (as much as there is up to REPLY_MAX); false when there is none. */
static bool reserve(struct reply *r, size_t more)
{
	size_t want = r->len + more + 1 > REPLY_MAX ? REPLY_MAX : r->len + more + 1, cap = r->cap ? r->cap : 1024;
	while (cap < want)
		cap *= 2;
	if (cap > REPLY_MAX)
		cap = REPLY_MAX;
	if (cap > r->cap) {
		char *b = realloc(r->buf, cap);
		if (b) {
			r->buf = b;
			r->cap = cap;
		}
	}
	return r->cap > r->len + 1;
}

static void put(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0 || !reserve(r, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
	r->len = r->len + (size_t)n < r->cap ? r->len + (size_t)n : r->cap - 1;
}

static void status(const struct pc_sup *s, struct reply *r, bool json)
{
	const char *boot = !s->boot_decided ? "pending" : s->boot_good ? "good" : "not-good";
	static const char *phases[] = {"none", "staging", "switching", "trial", "finishing", "factory-reset", "rollback"};
	int phase = s->upd.phase == UPD_TRIAL && s->upd.rollback ? 6 : (int)s->upd.phase;
	bool dev_key = !strcmp(s->signing, "development");
	if (json)
		put(r, "{\"device\":\"%s\",\"slot\":\"%c\",\"boot\":\"%s\",\"revision\":\"%s\",\"update\":\"%s\","
		    "\"signing\":\"%s\",\"store_error\":\"%s\",\"containers\":[", s->m->device, s->slot ? s->slot : '-', boot,
		    s->revision, phases[phase], s->signing, s->store_error);
	else
		put(r, "device %s, slot %c, boot %s, app revision %s%s%s%s\n%-20s %-8s %7s %8s\n", s->m->device,
		    s->slot ? s->slot : '-', boot, s->revision, s->upd.phase ? ", update " : "",
		    s->upd.phase ? phases[phase] : "", dev_key ? ", trusts a DEVELOPMENT signing key" : "", "NAME",
		    "STATE", "PID", "RESTARTS");
	static const char *nets[] = {"none", "host", "bridge"};
	for (int i = 0; i < s->m->ncontainers; i++) {
		const struct pc_ctr *c = &s->c[i];
		/* network = bridge: its address (net_args: BRIDGE ADDRESS/PREFIX GATEWAY) and ports */
		char addr[PC_NET_ARGS_MAX] = "";
		const char *a = strchr(c->cfg->net_args, ' ');
		if (a)
			snprintf(addr, sizeof addr, "%.*s", (int)strcspn(a + 1, " "), a + 1);
		if (json)
			put(r, "%s{\"name\":\"%s\",\"role\":\"%s\",\"state\":\"%s\",\"pid\":%d,\"restarts\":%d,\"required\":%s,"
			    "\"error\":\"%s\",\"network\":\"%s\",\"address\":\"%s\",\"ports\":\"%s\"}",
			    i ? "," : "", c->cfg->name, c->cfg->role == ROLE_HOST ? "host" : "app", state_name(c->state),
			    (int)c->run_pid, c->total_restarts, c->cfg->required ? "true" : "false", c->error,
			    c->cfg->service ? "host" : nets[c->cfg->network], addr, c->cfg->ports);
		else
			put(r, "%-20s %-8s %7d %8d%s%s%s%s%s%s%s\n", c->cfg->name, state_name(c->state), (int)c->run_pid,
			    c->total_restarts, *addr ? "  address " : "", addr, *c->cfg->ports ? " ports " : "",
			    c->cfg->ports, c->cfg->network == NET_HOST ? "  network host" : "", *c->error ? "  " : "",
			    c->error);
	}
	if (json)
		put(r, "]}\n");
	else if (s->store_error[0])
		put(r, "app store: %s\n", s->store_error);
}

static void tail_file(struct reply *r, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)max ? size - (off_t)max : 0;
	lseek(fd, from, SEEK_SET);
	ssize_t n = reserve(r, max) ? read(fd, r->buf + r->len, r->cap - r->len - 1 < max ? r->cap - r->len - 1 : max) : 0;
	if (n > 0)
		r->len += (size_t)n;
	close(fd);
}

#define COMMANDS "status [--json], restart NAME, stop NAME, logs NAME, app-update [--allow-downgrade] FILE, " \
		 "app-rollback, " \
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
		bool allow = arg && !strcmp(cmd, "app-update") && !strcmp(arg, "--allow-downgrade");
		if (allow)
			arg = strtok(NULL, " \n");
		if (!strcmp(cmd, "app-update") && (!arg || arg[0] == '-')) {
			put(r, "ERR app-update: give the path of an app bundle (app-update [--allow-downgrade] FILE)\n");
			return false;
		}
		if (s->action != ACTION_NONE) {
			put(r, "ERR shutting down\n");
			return false;
		}
		if (pc_apps_request(s, arg && !strcmp(cmd, "app-update") ? arg : "previous", allow, fd, msg, sizeof msg) < 0) {
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
		if (s->action != ACTION_NONE) {
			put(r, "ERR shutting down\n");
			return false;
		}
		if (pc_apps_factory_reset(s, arg != NULL, fd, msg, sizeof msg) < 0) {
			put(r, "ERR factory-reset: %s\n", msg);
			return false;
		}
		return true; /* answered once pycm-store has done it */
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

static void drop(struct client *c)
{
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

/* Write what the peer takes now; the rest waits for POLLOUT. Done (or failed): the slot is free. */
static void flush(struct client *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		c->outoff += (size_t)n;
	}
	drop(c);
}

static void respond(struct client *c, const char *buf, size_t len)
{
	c->out = malloc(len ? len : 1);
	if (!c->out) {
		drop(c);
		return;
	}
	memcpy(c->out, buf, len);
	c->outlen = len;
	c->outoff = 0;
	c->deadline = pc_now_ms() + PC_CONTROL_DEADLINE_MS;
	flush(c);
}

static void serve(struct pc_sup *s, struct client *c)
{
	struct reply r = {NULL, 0, 0};
	c->req[c->len] = '\0';
	if (handle(s, c->req, &r, c->fd)) { /* the update answers on the connection when it is done */
		memset(c, 0, sizeof *c);
		c->fd = -1;
	} else {
		respond(c, r.buf ? r.buf : "", r.len);
	}
	free(r.buf);
}

/* Only root may talk to PID 1 (the socket's mode says so too), or the user pycm itself runs as:
 * the same thing on a device, where pycm is root; the black-box tests run it as an ordinary user. */
static bool peer_is_root(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && (cred.uid == 0 || cred.uid == geteuid()))
		return true;
	LOG("control socket: refused a client of uid %d (pid %d)", len == sizeof cred ? (int)cred.uid : -1,
	    len == sizeof cred ? (int)cred.pid : -1);
	return false;
}

static void accept_all(int listen_fd)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct client *c = NULL;
		for (int i = 0; i < PC_CONTROL_CLIENTS && !c; i++)
			if (clients[i].fd < 0)
				c = &clients[i];
		const char *no = !peer_is_root(fd) ? "ERR permission denied\n" : !c ? "ERR busy: too many clients\n" : NULL;
		if (no) {
			if (write(fd, no, strlen(no)) < 0) {
				/* it will see the connection closed */
			}
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = 0;
		c->deadline = pc_now_ms() + PC_CONTROL_DEADLINE_MS;
	}
}

/* Read what a client sent; a whole line (or its end of input) is served, a line too long refused. */
static void receive(struct pc_sup *s, struct client *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->req + c->len, sizeof c->req - 1 - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			serve(s, c);
			return;
		}
		c->len += (size_t)n;
		if (memchr(c->req, '\n', c->len)) {
			serve(s, c);
			return;
		}
		if (c->len == sizeof c->req - 1) {
			static const char msg[] = "ERR request longer than 255 bytes\n";
			respond(c, msg, sizeof msg - 1);
			return;
		}
	}
}

int pc_control_pollfds(struct pollfd *fds)
{
	int n = 0;
	for (int i = 0; i < PC_CONTROL_CLIENTS; i++)
		if (clients[i].fd >= 0)
			fds[n++] = (struct pollfd){.fd = clients[i].fd, .events = clients[i].out ? POLLOUT : POLLIN};
	return n;
}

void pc_control_events(struct pc_sup *s, bool listen_ready, const struct pollfd *fds, int n)
{
	for (int k = 0; k < n; k++)
		for (int i = 0; i < PC_CONTROL_CLIENTS; i++)
			if (clients[i].fd == fds[k].fd && fds[k].revents) {
				if (clients[i].out)
					flush(&clients[i]);
				else
					receive(s, &clients[i]);
			}
	long long now = pc_now_ms();
	for (int i = 0; i < PC_CONTROL_CLIENTS; i++)
		if (clients[i].fd >= 0 && now >= clients[i].deadline) {
			static const char msg[] = "ERR timeout: no whole request line within 2 s\n";
			if (clients[i].out)
				drop(&clients[i]); /* it does not read its answer */
			else
				respond(&clients[i], msg, sizeof msg - 1);
		}
	if (listen_ready)
		accept_all(s->control_fd);
}

long long pc_control_deadline(void)
{
	long long next = LLONG_MAX;
	for (int i = 0; i < PC_CONTROL_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].deadline < next)
			next = clients[i].deadline;
	return next;
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

static void ring_append(const char *dir, struct pc_ctr *c, const char *line, size_t len)
{
	char path[PC_PATH_MAX + 64], old[PC_PATH_MAX + 72];
	snprintf(path, sizeof path, "%s/%s.log", dir, c->cfg->name);
	if (c->ring_fd >= 0 && c->ring_size + (off_t)len + 1 > PC_LOG_RUN_CAP) {
		close(c->ring_fd);
		c->ring_fd = -1;
		snprintf(old, sizeof old, "%s.1", path);
		rename(path, old); /* the ring: NAME.log.1 is the older half */
	}
	if (c->ring_fd < 0) {
		struct stat st;
		c->ring_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		c->ring_size = c->ring_fd >= 0 && fstat(c->ring_fd, &st) == 0 ? st.st_size : 0;
		if (c->ring_fd >= 0 && c->ring_size + (off_t)len + 1 > PC_LOG_RUN_CAP) {
			close(c->ring_fd); /* a file of an earlier run, full: start the next half */
			snprintf(old, sizeof old, "%s.1", path);
			rename(path, old);
			c->ring_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
			c->ring_size = 0;
		}
	}
	if (c->ring_fd < 0)
		return;
	struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
	if (writev(c->ring_fd, iov, 2) > 0) /* a full tmpfs must not stop the manager */
		c->ring_size += (off_t)len + 1;
}

void pc_log_line(const struct pc_sup *s, struct pc_ctr *c, const char *line, size_t len, bool persist)
{
	char dir[PC_PATH_MAX + 16];
	snprintf(dir, sizeof dir, "%s/logs", s->run_dir);
	ring_append(dir, c, line, len);
	if (persist && s->data_logs[0])
		append_capped(s->data_logs, c->cfg->name, line, len, PC_LOG_DATA_CAP);
}

void pc_log_close(struct pc_ctr *c)
{
	if (c->ring_fd >= 0)
		close(c->ring_fd);
	c->ring_fd = -1;
}
