/* pycmctl: talk to pycm over its control socket.
 *
 *   pycmctl [--socket PATH] status [--json] | restart NAME | stop NAME | logs NAME
 *           | app-update FILE | app-rollback | factory-reset [--wipe-data]
 *
 * app-update and app-rollback wait until the new revision is committed or rolled back.
 *
 * Exit 0 on success, 1 when pycm refuses the request, 2 on usage or connection errors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = "/run/pycm/control.sock";
	int i = 1;
	if (argc > 2 && !strcmp(argv[1], "--socket")) {
		path = argv[2];
		i = 3;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: pycmctl [--socket PATH] status [--json] | restart NAME | stop NAME | logs NAME"
				" | app-update FILE | app-rollback | factory-reset [--wipe-data]\n");
		return 2;
	}
	char req[256] = "";
	char abs[4096];
	if (i + 1 < argc && !strcmp(argv[i], "app-update") && argv[i + 1][0] != '/') {
		/* pycm runs in /: a relative bundle path is made absolute here */
		if (!getcwd(abs, sizeof abs - 1 - strlen(argv[i + 1])) || strlen(abs) + strlen(argv[i + 1]) + 2 > sizeof abs) {
			fprintf(stderr, "pycmctl: %s: path too long\n", argv[i + 1]);
			return 2;
		}
		strcat(strcat(abs, "/"), argv[i + 1]);
		argv[i + 1] = abs;
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
	if (write(fd, req, strlen(req)) < 0) {
		fprintf(stderr, "pycmctl: %s\n", strerror(errno));
		return 2;
	}
	char buf[65536];
	size_t len = 0;
	for (ssize_t n; len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0;)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	if (!strncmp(buf, "OK\n", 3)) {
		fputs(buf + 3, stdout);
		return 0;
	}
	fputs(!strncmp(buf, "ERR ", 4) ? buf + 4 : "pycmctl: no answer\n", stderr);
	return 1;
}
