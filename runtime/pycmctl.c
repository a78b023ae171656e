/* pycmctl: talk to pycm over its control socket.
 *
 *   pycmctl [--socket PATH] status [--json] | restart NAME | stop NAME | logs NAME
 *           | app-update [--allow-downgrade] FILE | app-rollback | factory-reset [--wipe-data]
 *           | system-update [--allow-downgrade] FILE
 *
 * app-update and app-rollback wait until the new revision is committed or rolled back.
 * system-update runs `rauc install FILE` (PYCM_RAUC overrides rauc); RAUC's pre-install handler
 * (pycm --rauc-pre-install) refuses a bundle older than the running system, unless
 * --allow-downgrade: then a marker next to the socket, naming this process, allows it for this
 * install only (the handler removes it; so does pycmctl when rauc returns).
 *
 * Exit 0 on success, 1 when pycm (or rauc) refuses the request, 2 on usage or connection errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define USAGE                                                                                                     \
	"usage: pycmctl [--socket PATH] status [--json] | restart NAME | stop NAME | logs NAME"                     \
	" | app-update [--allow-downgrade] FILE | app-rollback | factory-reset [--wipe-data]"                      \
	" | system-update [--allow-downgrade] FILE\n"

/* rauc install FILE, with the one-shot downgrade marker around it when allowed. */
static int system_update(const char *socket_path, int argc, char **argv)
{
	int allow = argc > 1 && !strcmp(argv[0], "--allow-downgrade");
	if (argc != 1 + allow || argv[allow][0] == '-') {
		fputs(USAGE, stderr);
		return 2;
	}
	char marker[4200];
	const char *slash = strrchr(socket_path, '/');
	snprintf(marker, sizeof marker, "%.*s/allow-downgrade", slash ? (int)(slash - socket_path) : 1,
		 slash ? socket_path : ".");
	if (allow) {
		unlink(marker);
		int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0 || close(fd) < 0) {
			fprintf(stderr, "pycmctl: %s: %s\n", marker, strerror(errno));
			return 2;
		}
		fprintf(stderr, "pycmctl: --allow-downgrade: this install may put an older system on the device\n");
	}
	const char *rauc = getenv("PYCM_RAUC") ? getenv("PYCM_RAUC") : "rauc";
	pid_t pid = fork();
	if (pid == 0) {
		execlp(rauc, rauc, "install", argv[allow], (char *)NULL);
		fprintf(stderr, "pycmctl: cannot run %s: %s\n", rauc, strerror(errno));
		_exit(127);
	}
	int st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (allow)
		unlink(marker); /* unused (the install failed before the handler ran): gone too */
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 127 ? 2 : 1;
}

int main(int argc, char **argv)
{
	const char *path = "/run/pycm/control.sock";
	int i = 1;
	if (argc > 2 && !strcmp(argv[1], "--socket")) {
		path = argv[2];
		i = 3;
	}
	if (i >= argc) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (!strcmp(argv[i], "system-update"))
		return system_update(path, argc - i - 1, argv + i + 1);
	char req[256] = "";
	char abs[4096];
	int file = i + 1 + (i + 2 < argc && !strcmp(argv[i + 1], "--allow-downgrade"));
	if (file < argc && !strcmp(argv[i], "app-update") && argv[file][0] != '/' && argv[file][0] != '-') {
		/* pycm runs in /: a relative bundle path is made absolute here */
		if (!getcwd(abs, sizeof abs - 1 - strlen(argv[file])) || strlen(abs) + strlen(argv[file]) + 2 > sizeof abs) {
			fprintf(stderr, "pycmctl: %s: path too long\n", argv[file]);
			return 2;
		}
		strcat(strcat(abs, "/"), argv[file]);
		argv[file] = abs;
	}
	for (; i < argc; i++) {
		if (strlen(req) + strlen(argv[i]) + 2 >= sizeof req) {
			fprintf(stderr, "pycmctl: request too long\n");
			return 2;
		}
		strcat(req, argv[i]);
		strcat(req, i + 1 < argc ? " " : "\n");
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		fprintf(stderr, "pycmctl: cannot connect to %s: %s\n", path, strerror(errno));
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* pycm may answer and close before reading (a refusal): read that answer */
	int werr = write(fd, req, strlen(req)) < 0 ? errno : 0;
	char buf[65536];
	size_t len = 0;
	for (ssize_t n; len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0;)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	if (!len && werr) {
		fprintf(stderr, "pycmctl: %s\n", strerror(werr));
		return 2;
	}
	if (!strncmp(buf, "OK\n", 3)) {
		fputs(buf + 3, stdout);
		return 0;
	}
	fputs(!strncmp(buf, "ERR ", 4) ? buf + 4 : "pycmctl: no answer\n", stderr);
	return 1;
}
