#define _GNU_SOURCE
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define CONFIG_MAX (1024 * 1024)

int pc_devices_resolve(const struct pc_container *cfg, struct pc_devjson *j, struct pc_err *err)
{
	char list[PC_DEVICES_MAX];
	size_t dl = 0, rl = 0;
	j->devs[0] = j->rules[0] = '\0';
	snprintf(list, sizeof list, "%s", cfg->devices);
	for (char *save = NULL, *p = strtok_r(list, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
		struct stat st;
		if (stat(p, &st) < 0)
			return pc_error(err, errno, "device %s", p);
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			return pc_error(err, 0, "device %s is not a device node", p);
		char type = S_ISCHR(st.st_mode) ? 'c' : 'b';
		unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);
		int n = snprintf(j->devs + dl, sizeof j->devs - dl,
				 "%s{\"path\": \"%s\", \"type\": \"%c\", \"major\": %u, \"minor\": %u, \"fileMode\": %u, "
				 "\"uid\": %u, \"gid\": %u}",
				 dl ? ", " : "", p, type, maj, min, (unsigned)(st.st_mode & 07777), cfg->uid, cfg->gid);
		int m = snprintf(j->rules + rl, sizeof j->rules - rl,
				 ", {\"allow\": true, \"type\": \"%c\", \"major\": %u, \"minor\": %u, \"access\": \"rwm\"}",
				 type, maj, min);
		if (n < 0 || m < 0 || (size_t)n >= sizeof j->devs - dl || (size_t)m >= sizeof j->rules - rl)
			return pc_error(err, 0, "devices: too many");
		dl += (size_t)n;
		rl += (size_t)m;
	}
	return 0;
}

int pc_devices_splice(const char *text, const char **at, const char **last)
{
	/* after `"linux": {`, and before the `]` that closes the file's last array,
	 * linux.resources.devices, which only the closing braces of the three objects follow */
	const char *lx = strstr(text, "\"linux\": {");
	*last = strrchr(text, ']');
	int braces = 0;
	for (const char *t = *last ? *last + 1 : text; *t; t++)
		braces += *t == '}' ? 1 : (*t == ' ' || *t == '\n') ? 0 : 100;
	if (!lx || !*last || *last < lx || braces != 3)
		return -1;
	*at = lx + strlen("\"linux\": {");
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int pc_devices_config(const char *bundle, const char *out, const struct pc_devjson *j, struct pc_err *err)
{
	char path[PC_PATH_MAX + 16];
	if (pc_fmt(path, sizeof path, "%s/config.json", bundle) < 0)
		return pc_error(err, ENAMETOOLONG, "%s/config.json", bundle);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pc_error(err, errno, "open %s", path);
	char *text = malloc(CONFIG_MAX + 1);
	size_t len = 0;
	ssize_t r = 0;
	while (text && len < CONFIG_MAX && ((r = read(fd, text + len, CONFIG_MAX - len)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			len += (size_t)r;
	close(fd);
	if (!text || r < 0 || len == CONFIG_MAX) {
		free(text);
		return pc_error(err, text ? errno : ENOMEM, "read %s", path);
	}
	text[len] = '\0';
	const char *at, *last;
	if (pc_devices_splice(text, &at, &last) < 0) {
		free(text);
		return pc_error(err, 0, "%s does not end with linux.resources.devices (not a pycontainers app config)", path);
	}
	char tmp[PC_PATH_MAX + 16];
	pc_fmt(tmp, sizeof tmp, "%s.tmp", out);
	int o = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = o < 0 || write_all(o, text, (size_t)(at - text)) || write_all(o, "\"devices\": [", 12) ||
		 write_all(o, j->devs, strlen(j->devs)) || write_all(o, "], ", 3) ||
		 write_all(o, at, (size_t)(last - at)) || write_all(o, j->rules, strlen(j->rules)) ||
		 write_all(o, last, strlen(last));
	int e = errno;
	free(text);
	if (o >= 0 && close(o) < 0 && !rc) {
		rc = -1;
		e = errno;
	}
	if (rc || rename(tmp, out) < 0) {
		e = rc ? e : errno;
		unlink(tmp);
		return pc_error(err, e, "write %s", out);
	}
	return 0;
}
