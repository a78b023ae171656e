/* libFuzzer target: the app-bundle listing parser (pc_listing_parse, store.c) on any bytes. Beyond
 * the sanitizers' findings: every entry it passes on must be one the store may make. */
#include "store.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(const struct pc_entry *e, void *ctx, struct pc_err *err)
{
	(void)ctx;
	(void)err;
	if (e->type == PC_ENT_CONTAINER)
		return strchr(e->name, '/') || !*e->name ? (__builtin_trap(), 0) : 0;
	const char *p = e->path;
	size_t n = strlen(p);
	if (!n || n > PC_LISTING_PATH || p[0] == '/' || p[n - 1] == '/' || strstr(p, "//") || !strcmp(p, "..") ||
	    !strncmp(p, "../", 3) || strstr(p, "/../") || (n >= 3 && !strcmp(p + n - 3, "/..")) ||
	    e->depth < 0 || e->depth > PC_LISTING_DEPTH || strchr(e->name, '/'))
		__builtin_trap();
	if (e->type != PC_ENT_LINK && (e->mode & 06000))
		__builtin_trap();
	/* the parent's path has exactly depth components */
	int slashes = 0;
	for (const char *s = p; *s; s++)
		slashes += *s == '/';
	if (slashes != e->depth)
		__builtin_trap();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[17];
	struct pc_err err;
	pc_listing_parse((const char *)data, size, id, check, NULL, &err);
	return 0;
}
