/* The release file and KEY=VALUE text (release.h): in pycm (SIGNING) and pycm-store. */
#define _GNU_SOURCE
#include "release.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* VALUE of a KEY=VALUE line of text (a release file, or a manifest.raucm's [update] section),
 * quotes around it removed; "" when there is none. */
void pc_key_value(const char *text, const char *key, char *val, size_t size)
{
	size_t klen = strlen(key);
	val[0] = '\0';
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (*l == '[' && strncmp(l, "[update]", 8)) /* a manifest.raucm: [update] only */
			break;
		if (strncmp(l, key, klen) || l[klen] != '=')
			continue;
		const char *v = l + klen + 1;
		size_t n = strcspn(v, "\n");
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v++;
			n -= 2;
		}
		pc_fmt(val, size, "%.*s", (int)n, v);
	}
}

void pc_release_value(const char *key, char *val, size_t size)
{
	const char *path = getenv("PYCM_RELEASE") ? getenv("PYCM_RELEASE") : "/etc/pycontainers/release";
	char text[4096]; /* a few KEY=VALUE lines written by the generator */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t n = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, sizeof text - 1) : -1;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	pc_key_value(text, key, val, size);
}
