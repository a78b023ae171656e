#include "manifest.h"
#include "sched.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAX (256 * 1024)

enum key_type { K_INT, K_STR, K_ENUM, K_BOOL, K_CUSTOM };

struct key {
	const char *name;
	bool required;
};

/* Keys of [pycm], in bit order of pc_manifest.seen. */
static const struct key global_keys[] = {
	{"version", true},     {"device", true},        {"hostname", true},      {"data-device", true},
	{"data-fstype", true}, {"mark-good", true},     {"boot-attempts", true}, {"boot-deadline", true},
	{"crun", true},        {"crun-root", true},     {"stop-timeout", true},  {"watchdog", false},
	{"watchdog-timeout", false}, {"boot-confirmed", false}, {"apps-may-change-host", false},
};

/* Keys of [container NAME], in bit order of pc_container.seen. */
static const struct key container_keys[] = {
	{"role", true},		   {"bundle", true},	      {"required", true},	  {"restart", true},
	{"depends-on", false},	   {"volumes", false},	      {"health", true},		  {"health-interval", true},
	{"health-timeout", true}, {"health-retries", true}, {"backoff", true},	  {"crash-loop", true},
	{"exec", false},	   {"console", false},	      {"runtime-dir", false},	  {"user", false},
	{"devices", false},	   {"network", false},	      {"ports", false},
};
/* Bits of container_keys only a container has, and only a service has. */
/* role, bundle, volumes, user, devices, network, ports */
#define CONTAINER_ONLY ((1u << 0) | (1u << 1) | (1u << 5) | (1u << 15) | (1u << 16) | (1u << 17) | (1u << 18))
#define SERVICE_ONLY ((1u << 12) | (1u << 13) | (1u << 14)) /* exec, console, runtime-dir */

#define NKEYS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int key_index(const struct key *keys, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return i;
	return -1;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_int(const char *v, int min, int max, int *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max)
		return -1;
	*out = (int)n;
	return 0;
}

static int copy_str(char *dst, size_t size, const char *v)
{
	if (!*v || strlen(v) >= size)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PC_NAME_MAX || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

/* Parse "A B" into two ints >= min (no scanf: it would pull its whole engine into static builds). */
static int parse_pair(const char *v, int min, int *a, int *b)
{
	char *end;
	long x = strtol(v, &end, 10);
	if (end == v || *end != ' ')
		return -1;
	const char *second = end + 1;
	long y = strtol(second, &end, 10);
	if (end == second || *end || x < min || y < min || x > INT_MAX || y > INT_MAX)
		return -1;
	*a = (int)x;
	*b = (int)y;
	return 0;
}

/* A declared device: a path under /dev/ without "..", of characters that need no quoting in JSON
 * (pycm writes it into the container's runtime config). */
static bool valid_device(const char *p)
{
	if (strncmp(p, "/dev/", 5) || !p[5] || strstr(p, ".."))
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._+@:/-", *p))
			return false;
	return true;
}

/* Only these characters and exactly `fields` space-separated words: what pycm passes to pycm-net
 * (which checks each word itself). */
static bool valid_words(const char *v, const char *chars, int fields)
{
	int n = 0;
	for (const char *p = v; *p; p++) {
		if (*p == ' ' && (p == v || p[1] == ' ' || !p[1]))
			return false;
		if (*p != ' ' && !strchr(chars, *p))
			return false;
		n += *p == ' ';
	}
	return *v && (fields < 0 || n + 1 == fields);
}

/* HOST:CONTAINER[/tcp|/udp], each port 1 to 65535 */
static bool valid_port(const char *p)
{
	char *end;
	unsigned long h = strtoul(p, &end, 10), c;
	if (end == p || *end != ':' || !isdigit((unsigned char)end[1]))
		return false;
	c = strtoul(end + 1, &end, 10);
	return h && c && h < 65536 && c < 65536 && (!*end || !strcmp(end, "/tcp") || !strcmp(end, "/udp"));
}

/* A user or group id: digits only, at most 4294967294 ((uid_t)-1 means "unchanged"). */
static int parse_id(const char *v, unsigned *out)
{
	char *end;
	if (!isdigit((unsigned char)v[0]) || strlen(v) > 10)
		return -1;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end || n > 4294967294ULL)
		return -1;
	*out = (unsigned)n;
	return 0;
}

#define FAIL(...) return pc_error(err, 0, __VA_ARGS__)

static int set_global(struct pc_manifest *m, int line, const char *k, const char *v, struct pc_err *err)
{
	if (!strcmp(k, "version")) {
		if (strcmp(v, "1"))
			FAIL("manifest:%d: version: '%s' is not supported (this pycm reads version 1)", line, v);
		m->version = 1;
	} else if (!strcmp(k, "device") || !strcmp(k, "hostname")) {
		char *dst = !strcmp(k, "device") ? m->device : m->hostname;
		if (copy_str(dst, sizeof m->device, v))
			FAIL("manifest:%d: %s: must be 1 to 63 characters", line, k);
	} else if (!strcmp(k, "data-device") || !strcmp(k, "crun") || !strcmp(k, "crun-root") ||
		   !strcmp(k, "watchdog")) {
		char *dst = !strcmp(k, "data-device") ? m->data_device
			    : !strcmp(k, "crun")      ? m->crun
			    : !strcmp(k, "crun-root") ? m->crun_root
						      : m->watchdog;
		if (v[0] != '/' || copy_str(dst, PC_PATH_MAX, v))
			FAIL("manifest:%d: %s: '%s' is not an absolute path", line, k, v);
	} else if (!strcmp(k, "data-fstype")) {
		if (strcmp(v, "ext4"))
			FAIL("manifest:%d: data-fstype: '%s' is not one of ext4", line, v);
		strcpy(m->data_fstype, v);
	} else if (!strcmp(k, "mark-good")) {
		if (!strcmp(v, "uboot-env"))
			m->mark_good = MARK_UBOOT_ENV;
		else if (!strcmp(v, "rauc"))
			m->mark_good = MARK_RAUC;
		else
			FAIL("manifest:%d: mark-good: '%s' is not one of uboot-env, rauc", line, v);
	} else if (!strcmp(k, "boot-attempts")) {
		if (parse_int(v, 1, 9, &m->boot_attempts))
			FAIL("manifest:%d: boot-attempts: '%s' is not an integer from 1 to 9", line, v);
	} else if (!strcmp(k, "boot-confirmed")) {
		if (parse_int(v, 2, 10, &m->boot_confirmed))
			FAIL("manifest:%d: boot-confirmed: '%s' is not an integer from 2 to 10", line, v);
	} else if (!strcmp(k, "apps-may-change-host")) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			FAIL("manifest:%d: apps-may-change-host: '%s' is not one of true, false", line, v);
		m->apps_may_change_host = !strcmp(v, "true");
	} else if (!strcmp(k, "watchdog-timeout")) {
		if (parse_int(v, 2, 600, &m->watchdog_timeout))
			FAIL("manifest:%d: watchdog-timeout: '%s' is not a number of seconds (2 to 600)", line, v);
	} else if (!strcmp(k, "boot-deadline") || !strcmp(k, "stop-timeout")) {
		int *dst = !strcmp(k, "boot-deadline") ? &m->boot_deadline : &m->stop_timeout;
		if (parse_int(v, 1, 86400, dst))
			FAIL("manifest:%d: %s: '%s' is not a number of seconds (1 to 86400)", line, k, v);
	}
	return 0;
}

static int set_container(struct pc_manifest *m, struct pc_container *c, int line, const char *k, char *v,
			 struct pc_err *err)
{
	int kidx = key_index(container_keys, NKEYS(container_keys), k);
	if (c->service && (CONTAINER_ONLY & (1u << kidx)))
		FAIL("manifest:%d: %s: not a key of a service (only of a container)", line, k);
	if (!c->service && (SERVICE_ONLY & (1u << kidx)))
		FAIL("manifest:%d: %s: not a key of a container (only of a service)", line, k);
	if (!strcmp(k, "exec")) {
		if (v[0] != '/' || copy_str(c->exec, sizeof c->exec, v))
			FAIL("manifest:%d: exec: '%s' does not start with an absolute path", line, v);
	} else if (!strcmp(k, "runtime-dir")) {
		if (v[0] != '/' || copy_str(c->runtime_dir, sizeof c->runtime_dir, v))
			FAIL("manifest:%d: runtime-dir: '%s' is not an absolute path", line, v);
	} else if (!strcmp(k, "console")) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			FAIL("manifest:%d: console: '%s' is not one of true, false", line, v);
		c->console = !strcmp(v, "true");
	} else if (!strcmp(k, "role")) {
		if (!strcmp(v, "host"))
			c->role = ROLE_HOST;
		else if (!strcmp(v, "app"))
			c->role = ROLE_APP;
		else
			FAIL("manifest:%d: role: '%s' is not one of host, app", line, v);
	} else if (!strcmp(k, "bundle")) {
		if (v[0] != '/' || copy_str(c->bundle, sizeof c->bundle, v))
			FAIL("manifest:%d: bundle: '%s' is not an absolute path", line, v);
	} else if (!strcmp(k, "required")) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			FAIL("manifest:%d: required: '%s' is not one of true, false", line, v);
		c->required = !strcmp(v, "true");
	} else if (!strcmp(k, "restart")) {
		if (!strcmp(v, "always"))
			c->restart = RESTART_ALWAYS;
		else if (!strcmp(v, "on-failure"))
			c->restart = RESTART_ON_FAILURE;
		else if (!strcmp(v, "never"))
			c->restart = RESTART_NEVER;
		else
			FAIL("manifest:%d: restart: '%s' is not one of always, on-failure, never", line, v);
	} else if (!strcmp(k, "depends-on")) {
		for (char *save = NULL, *tok = strtok_r(v, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			int idx = pc_manifest_find(m, tok);
			if (idx < 0 || idx >= m->ncontainers - 1)
				FAIL("manifest:%d: depends-on: '%s' is not a container defined before %s", line, tok,
				     c->name);
			if (c->ndeps == PC_MAX_DEPS)
				FAIL("manifest:%d: depends-on: more than %d dependencies", line, PC_MAX_DEPS);
			c->deps[c->ndeps++] = idx;
		}
	} else if (!strcmp(k, "volumes")) {
		for (char *save = NULL, *tok = strtok_r(v, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			if (c->nvolumes == PC_MAX_VOLUMES)
				FAIL("manifest:%d: volumes: more than %d volumes", line, PC_MAX_VOLUMES);
			if (tok[0] != '/' || copy_str(c->volumes[c->nvolumes], PC_PATH_MAX, tok))
				FAIL("manifest:%d: volumes: '%s' is not an absolute path", line, tok);
			c->nvolumes++;
		}
	} else if (!strcmp(k, "user")) {
		char *colon = strchr(v, ':');
		if (colon)
			*colon = '\0';
		if (parse_id(v, &c->uid) || parse_id(colon ? colon + 1 : v, &c->gid))
			FAIL("manifest:%d: user: '%s%s%s' is not UID or UID:GID", line, v, colon ? ":" : "", colon ? colon + 1 : "");
	} else if (!strcmp(k, "devices")) {
		char list[PC_DEVICES_MAX];
		if (copy_str(c->devices, sizeof c->devices, v))
			FAIL("manifest:%d: devices: longer than %d bytes", line, PC_DEVICES_MAX - 1);
		strcpy(list, v);
		int n = 0;
		for (char *save = NULL, *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (!valid_device(tok) || ++n > PC_MAX_DEVICES)
				FAIL("manifest:%d: devices: '%s' is not a path under /dev/ of letters, digits and ._+@:/- "
				     "(at most %d devices)", line, tok, PC_MAX_DEVICES);
	} else if (!strcmp(k, "network")) {
		if (!strcmp(v, "none")) {
			c->network = NET_NONE;
		} else if (!strcmp(v, "host")) {
			c->network = NET_HOST;
		} else if (!strncmp(v, "bridge pcbr", 11) && valid_words(v + 7, "abcdefghijklmnopqrstuvwxyz0123456789./", 3) &&
			   !copy_str(c->net_args, sizeof c->net_args, v + 7)) {
			c->network = NET_BRIDGE;
		} else {
			FAIL("manifest:%d: network: '%s' is not one of none, host, bridge BRIDGE ADDRESS/PREFIX GATEWAY", line, v);
		}
	} else if (!strcmp(k, "ports")) {
		char list[PC_PORTS_MAX];
		if (c->network != NET_BRIDGE)
			FAIL("manifest:%d: ports: given without network = bridge", line);
		if (copy_str(c->ports, sizeof c->ports, v))
			FAIL("manifest:%d: ports: longer than %d bytes", line, PC_PORTS_MAX - 1);
		strcpy(list, v);
		int n = 0;
		for (char *save = NULL, *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (!valid_port(tok) || ++n > 32)
				FAIL("manifest:%d: ports: '%s' is not HOST:CONTAINER[/tcp|/udp] (at most 32 ports)", line, tok);
	} else if (!strcmp(k, "health")) {
		if (!strcmp(v, "none")) {
			c->health = HEALTH_NONE;
		} else if (!strncmp(v, "ready-file ", 11) && v[11] == '/') {
			c->health = HEALTH_READY_FILE;
			if (copy_str(c->health_arg, sizeof c->health_arg, v + 11))
				FAIL("manifest:%d: health: path too long", line);
		} else if (!strncmp(v, "exec ", 5) && v[5]) {
			c->health = HEALTH_EXEC;
			if (copy_str(c->health_arg, sizeof c->health_arg, v + 5))
				FAIL("manifest:%d: health: command too long", line);
		} else {
			FAIL("manifest:%d: health: '%s' is not one of none, ready-file /PATH, exec COMMAND", line, v);
		}
	} else if (!strcmp(k, "health-interval") || !strcmp(k, "health-timeout") ||
		   !strcmp(k, "health-retries")) {
		int *dst = !strcmp(k, "health-interval") ? &c->health_interval
			   : !strcmp(k, "health-timeout") ? &c->health_timeout
							  : &c->health_retries;
		if (parse_int(v, 1, 3600, dst))
			FAIL("manifest:%d: %s: '%s' is not an integer from 1 to 3600", line, k, v);
	} else if (!strcmp(k, "backoff")) {
		if (parse_pair(v, 0, &c->backoff_initial, &c->backoff_max) || c->backoff_max < c->backoff_initial)
			FAIL("manifest:%d: backoff: '%s' is not 'INITIAL MAX' seconds with MAX >= INITIAL", line, v);
	} else if (!strcmp(k, "crash-loop")) {
		if (parse_pair(v, 1, &c->crash_restarts, &c->crash_window) || c->crash_restarts > PC_CRASHLOOP_MAX ||
		    c->crash_window > PC_CRASH_WINDOW_MAX)
			FAIL("manifest:%d: crash-loop: '%s' is not 'N T' (1 <= N <= %d restarts within 1 <= T <= %d seconds)",
			     line, v, PC_CRASHLOOP_MAX, PC_CRASH_WINDOW_MAX);
	}
	return 0;
}

static int check_missing(const struct key *keys, int n, unsigned seen, const char *where, int line,
			 struct pc_err *err)
{
	for (int i = 0; i < n; i++)
		if (keys[i].required && !(seen & (1u << i)))
			FAIL("manifest:%d: %s: required key '%s' is missing", line, where, keys[i].name);
	return 0;
}

/* A container needs role and bundle; a service needs exec instead. */
static int check_entry(const struct pc_container *c, int line, struct pc_err *err)
{
	unsigned seen = c->seen | (c->service ? CONTAINER_ONLY : 0);
	if (check_missing(container_keys, NKEYS(container_keys), seen, c->name, line, err))
		return -1;
	if (c->service && !(c->seen & (1u << 12)))
		FAIL("manifest:%d: %s: required key 'exec' is missing", line, c->name);
	return 0;
}

bool pc_container_same(const struct pc_manifest *ma, const struct pc_container *a, const struct pc_manifest *mb,
		       const struct pc_container *b)
{
	if (a->role != b->role || a->required != b->required || a->restart != b->restart || a->health != b->health ||
	    strcmp(a->health_arg, b->health_arg) || a->health_interval != b->health_interval ||
	    a->health_timeout != b->health_timeout || a->health_retries != b->health_retries ||
	    a->backoff_initial != b->backoff_initial || a->backoff_max != b->backoff_max ||
	    a->crash_restarts != b->crash_restarts || a->crash_window != b->crash_window || a->ndeps != b->ndeps ||
	    a->nvolumes != b->nvolumes || a->service != b->service || a->network != b->network ||
	    strcmp(a->net_args, b->net_args) || strcmp(a->ports, b->ports))
		return false;
	for (int i = 0; i < a->ndeps; i++)
		if (strcmp(ma->c[a->deps[i]].name, mb->c[b->deps[i]].name))
			return false;
	for (int i = 0; i < a->nvolumes; i++)
		if (strcmp(a->volumes[i], b->volumes[i]))
			return false;
	return true;
}

int pc_manifest_find(const struct pc_manifest *m, const char *name)
{
	for (int i = 0; i < m->ncontainers; i++)
		if (!strcmp(m->c[i].name, name))
			return i;
	return -1;
}

int pc_manifest_parse(const char *text, struct pc_manifest *m, struct pc_err *err)
{
	char *copy = strdup(text), *raw;
	int line = 0, section_line = 0, rc = -1;
	enum { NONE, GLOBAL, CONTAINER } section = NONE;
	struct pc_container *c = NULL;

	/* only the header: a container slot is cleared when used, so unused slots stay untouched
	 * (zero) pages that do not count in the manager's RSS */
	memset(m, 0, offsetof(struct pc_manifest, c));
	if (!copy)
		return pc_error(err, ENOMEM, "manifest");
	/* strsep keeps empty lines so that line numbers stay right */
	for (char *rest = copy; (raw = strsep(&rest, "\n")) != NULL;) {
		line++;
		char *s = trim(raw);
		if (!*s || *s == '#')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (!close || close[1]) {
				pc_error(err, 0, "manifest:%d: '%s' is not a section header", line, s);
				goto out;
			}
			*close = '\0';
			char *name = trim(s + 1);
			if (section == GLOBAL && check_missing(global_keys, NKEYS(global_keys), m->seen, "[pycm]",
							       section_line, err))
				goto out;
			if (section == CONTAINER && check_entry(c, section_line, err))
				goto out;
			section_line = line;
			if (!strcmp(name, "pycm")) {
				if (section != NONE) {
					pc_error(err, 0, "manifest:%d: [pycm] must come first, once", line);
					goto out;
				}
				section = GLOBAL;
			} else if (!strncmp(name, "container ", 10) || !strncmp(name, "service ", 8)) {
				bool service = name[0] == 's';
				char *cname = trim(name + (service ? 8 : 10));
				if (section == NONE) {
					pc_error(err, 0, "manifest:%d: [pycm] must come first", line);
					goto out;
				}
				if (!valid_name(cname)) {
					pc_error(err, 0, "manifest:%d: '%s' is not a %s name ([a-z0-9][a-z0-9-]*, at most %d)",
						 line, cname, service ? "service" : "container", PC_NAME_MAX);
					goto out;
				}
				if (pc_manifest_find(m, cname) >= 0) {
					pc_error(err, 0, "manifest:%d: %s '%s' is defined twice", line,
						 service ? "service" : "container", cname);
					goto out;
				}
				if (m->ncontainers == PC_MAX_CONTAINERS) {
					pc_error(err, 0, "manifest:%d: more than %d containers", line, PC_MAX_CONTAINERS);
					goto out;
				}
				c = &m->c[m->ncontainers++];
				memset(c, 0, sizeof *c);
				strcpy(c->name, cname);
				c->service = service;
				section = CONTAINER;
			} else {
				pc_error(err, 0, "manifest:%d: unknown section [%s]; allowed: [pycm], [service NAME], [container NAME]",
					 line, name);
				goto out;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			pc_error(err, 0, "manifest:%d: expected 'key = value'", line);
			goto out;
		}
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		if (section == NONE) {
			pc_error(err, 0, "manifest:%d: %s: key outside a section ([pycm] must come first)", line, k);
			goto out;
		}
		const struct key *keys = section == GLOBAL ? global_keys : container_keys;
		int nkeys = section == GLOBAL ? NKEYS(global_keys) : NKEYS(container_keys);
		unsigned *seen = section == GLOBAL ? &m->seen : &c->seen;
		int idx = key_index(keys, nkeys, k);
		if (idx < 0) {
			char allowed[512] = "";
			unsigned other = section == GLOBAL ? 0 : c->service ? CONTAINER_ONLY : SERVICE_ONLY;
			for (int i = 0; i < nkeys; i++)
				if (!(other & (1u << i)))
					snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
						 *allowed ? ", " : "", keys[i].name);
			pc_error(err, 0, "manifest:%d: %s: unknown key; allowed: %s", line, k, allowed);
			goto out;
		}
		if (*seen & (1u << idx)) {
			pc_error(err, 0, "manifest:%d: %s: given twice", line, k);
			goto out;
		}
		*seen |= 1u << idx;
		if (section == GLOBAL ? set_global(m, line, k, v, err) : set_container(m, c, line, k, v, err))
			goto out;
	}
	if (section == NONE) {
		pc_error(err, 0, "manifest:%d: no [pycm] section", line);
		goto out;
	}
	if (section == GLOBAL && check_missing(global_keys, NKEYS(global_keys), m->seen, "[pycm]", section_line, err))
		goto out;
	if (section == CONTAINER && check_entry(c, section_line, err))
		goto out;
	if (!m->boot_confirmed)
		m->boot_confirmed = m->boot_attempts + 1;
	if (m->boot_confirmed <= m->boot_attempts) {
		pc_error(err, 0, "manifest: boot-confirmed (%d) must be greater than boot-attempts (%d)", m->boot_confirmed,
			 m->boot_attempts);
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

int pc_manifest_load(const char *path, struct pc_manifest *m, struct pc_err *err)
{
	char *buf = malloc(MANIFEST_MAX + 2);
	if (!buf)
		return pc_error(err, ENOMEM, "manifest");
	ssize_t n = pc_read_path(path, buf, MANIFEST_MAX + 2);
	if (n < 0) {
		int e = errno;
		free(buf);
		return pc_error(err, e, "cannot open %s", path);
	}
	if (n > MANIFEST_MAX) {
		free(buf);
		return pc_error(err, 0, "%s: larger than %d bytes", path, MANIFEST_MAX);
	}
	int rc = pc_manifest_parse(buf, m, err);
	free(buf);
	return rc;
}
