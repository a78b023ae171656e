/* Unit tests of pycm's pure parts: manifest parser, dependency checks, backoff, crash loop;
 * SHA-256 and the app store (in a temporary directory); the JSON parser and the app policy (with
 * the golden demo's policy and configs, tests/golden/demo/contract: run from runtime/). */
#include "bootstate.h"
#include "json.h"
#include "manifest.h"
#include "net.h"
#include "pid1.h"
#include "policy.h"
#include "sched.h"
#include "sha256.h"
#include "store.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			passed++;                                                                  \
		} else {                                                                           \
			failed++;                                                                  \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);         \
		}                                                                                  \
	} while (0)

static const char *GLOBAL = "# comment\n"
			    "[pycm]\n"
			    "version = 1\n"
			    "device = demo\n"
			    "hostname = demo\n"
			    "data-device = /dev/disk/by-partlabel/data\n"
			    "data-fstype = ext4\n"
			    "mark-good = uboot-env\n"
			    "boot-attempts = 3\n"
			    "boot-deadline = 60\n"
			    "crun = /usr/bin/crun\n"
			    "crun-root = /run/crun\n"
			    "stop-timeout = 10\n";

static const char *CONTAINER = "role = app\n"
			       "bundle = /b\n"
			       "required = true\n"
			       "restart = always\n"
			       "health = ready-file /run/ready\n"
			       "health-interval = 1\n"
			       "health-timeout = 5\n"
			       "health-retries = 3\n"
			       "backoff = 1 30\n"
			       "crash-loop = 5 60\n";

static struct pc_manifest m;

/* GLOBAL + "[container a]" + CONTAINER + extra, then `replace` swapped for `with` once. */
static int parse(const char *extra, const char *replace, const char *with, struct pc_err *err)
{
	char text[8192];
	snprintf(text, sizeof text, "%s\n[container a]\n%s%s", GLOBAL, CONTAINER, extra);
	if (replace) {
		char *p = strstr(text, replace);
		if (!p) {
			fprintf(stderr, "test bug: '%s' not in text\n", replace);
			exit(2);
		}
		char tail[8192];
		snprintf(tail, sizeof tail, "%s", p + strlen(replace));
		snprintf(p, sizeof text - (size_t)(p - text), "%s%s", with, tail);
	}
	memset(err, 0, sizeof *err);
	return pc_manifest_parse(text, &m, err);
}

static void expect_error(const char *extra, const char *replace, const char *with, const char *msg)
{
	struct pc_err err;
	int rc = parse(extra, replace, with, &err);
	CHECK(rc == -1 && !strcmp(err.msg, msg));
	if (rc != -1 || strcmp(err.msg, msg))
		fprintf(stderr, "  want: %s\n  got:  %s\n", msg, rc == -1 ? err.msg : "(no error)");
}

static void test_valid(void)
{
	struct pc_err err;
	CHECK(parse("\n[container b]\nrole = host\nbundle = /c\nrequired = false\nrestart = on-failure\n"
		    "depends-on = a\nvolumes = /data/volumes/x /data/volumes/y\nhealth = exec test -f /x = y\n"
		    "health-interval = 2\nhealth-timeout = 3\nhealth-retries = 4\nbackoff = 0 0\ncrash-loop = 1 1\n",
		    NULL, NULL, &err) == 0);
	CHECK(m.version == 1 && !strcmp(m.device, "demo") && m.boot_attempts == 3 && m.mark_good == MARK_UBOOT_ENV);
	CHECK(m.ncontainers == 2 && !strcmp(m.c[1].name, "b") && m.c[1].role == ROLE_HOST);
	CHECK(m.c[1].ndeps == 1 && m.c[1].deps[0] == 0);
	CHECK(m.c[1].nvolumes == 2 && !strcmp(m.c[1].volumes[1], "/data/volumes/y"));
	CHECK(m.c[1].health == HEALTH_EXEC && !strcmp(m.c[1].health_arg, "test -f /x = y"));
	CHECK(m.c[0].health == HEALTH_READY_FILE && !strcmp(m.c[0].health_arg, "/run/ready"));
	CHECK(m.c[1].restart == RESTART_ON_FAILURE && !m.c[1].required);
	CHECK(m.c[0].crash_restarts == 5 && m.c[0].crash_window == 60 && m.c[0].backoff_max == 30);
	CHECK(pc_manifest_find(&m, "b") == 1 && pc_manifest_find(&m, "zz") == -1);
	CHECK(m.boot_confirmed == 4); /* default: boot-attempts + 1 */
	CHECK(m.c[0].network == NET_NONE && !m.c[0].net_args[0] && !m.c[0].ports[0]);
}

static void test_network_keys(void)
{
	struct pc_err err;
	CHECK(parse("network = bridge pcbr0 10.88.0.2/24 10.88.0.1\nports = 8080:80/tcp 53:53/udp 9:9\n"
		    "\n[container h]\nrole = app\nbundle = /c\nrequired = false\nrestart = always\nnetwork = host\n"
		    "health = none\nhealth-interval = 2\nhealth-timeout = 3\nhealth-retries = 4\nbackoff = 0 0\n"
		    "crash-loop = 1 1\n", NULL, NULL, &err) == 0);
	CHECK(m.c[0].network == NET_BRIDGE && !strcmp(m.c[0].net_args, "pcbr0 10.88.0.2/24 10.88.0.1"));
	CHECK(!strcmp(m.c[0].ports, "8080:80/tcp 53:53/udp 9:9") && m.c[1].network == NET_HOST);
	expect_error("network = nat\n", NULL, NULL,
		     "manifest:26: network: 'nat' is not one of none, host, bridge BRIDGE ADDRESS/PREFIX GATEWAY");
	expect_error("network = bridge pcbr0 10.88.0.2/24\n", NULL, NULL,
		     "manifest:26: network: 'bridge pcbr0 10.88.0.2/24' is not one of none, host, bridge BRIDGE ADDRESS/PREFIX GATEWAY");
	expect_error("network = bridge pcbr0 10.88.0.2/24 1;reboot\n", NULL, NULL,
		     "manifest:26: network: 'bridge pcbr0 10.88.0.2/24 1;reboot' is not one of none, host, bridge BRIDGE ADDRESS/PREFIX GATEWAY");
	expect_error("network = bridge pcbr0 10.88.0.2/24 10.88.0.1\nports = 80\n", NULL, NULL,
		     "manifest:27: ports: '80' is not HOST:CONTAINER[/tcp|/udp] (at most 32 ports)");
	expect_error("ports = 80:80\n", NULL, NULL, "manifest:26: ports: given without network = bridge");
	/* a container's network is part of what an app update compares */
	struct pc_manifest *a = malloc(sizeof *a);
	CHECK(parse("network = bridge pcbr0 10.88.0.2/24 10.88.0.1\nports = 8080:80/tcp\n", NULL, NULL, &err) == 0);
	memcpy(a, &m, sizeof m);
	CHECK(parse("network = bridge pcbr0 10.88.0.2/24 10.88.0.1\nports = 8081:80/tcp\n", NULL, NULL, &err) == 0);
	CHECK(!pc_container_same(a, &a->c[0], &m, &m.c[0]));
	CHECK(parse("network = bridge pcbr0 10.88.0.2/24 10.88.0.1\nports = 8080:80/tcp\n", NULL, NULL, &err) == 0);
	CHECK(pc_container_same(a, &a->c[0], &m, &m.c[0]));
	free(a);
}

static void test_service(void)
{
	struct pc_err err;
	CHECK(parse("\n[service rauc]\nexec = /usr/bin/rauc service\nruntime-dir = /run/x\nrequired = true\nrestart = always\n"
		    "health = exec rauc status\nhealth-interval = 2\nhealth-timeout = 3\nhealth-retries = 4\n"
		    "backoff = 1 5\ncrash-loop = 5 60\n\n[service shell]\nexec = /bin/busybox sh\nconsole = true\n"
		    "required = false\nrestart = always\nhealth = none\nhealth-interval = 1\nhealth-timeout = 1\n"
		    "health-retries = 1\nbackoff = 1 1\ncrash-loop = 64 1\n",
		    "mark-good = uboot-env", "mark-good = uboot-env\nboot-confirmed = 7", &err) == 0);
	CHECK(m.ncontainers == 3 && m.c[1].service && !m.c[0].service && !strcmp(m.c[1].exec, "/usr/bin/rauc service"));
	CHECK(!m.c[1].console && m.c[2].console && m.boot_confirmed == 7 && !strcmp(m.c[1].runtime_dir, "/run/x"));
	const char *svc = "\n[service s]\nrequired = true\nrestart = always\nhealth = none\nhealth-interval = 1\n"
			  "health-timeout = 1\nhealth-retries = 1\nbackoff = 1 1\ncrash-loop = 5 60\n";
	expect_error(svc, NULL, NULL, "manifest:27: s: required key 'exec' is missing");
	char text[1024];
	snprintf(text, sizeof text, "%sexec = /bin/x\nbundle = /b\n", svc);
	expect_error(text, NULL, NULL, "manifest:37: bundle: not a key of a service (only of a container)");
	snprintf(text, sizeof text, "%sexec = bin/x\n", svc);
	expect_error(text, NULL, NULL, "manifest:36: exec: 'bin/x' does not start with an absolute path");
	snprintf(text, sizeof text, "%sexec = /bin/x\ncolour = red\n", svc);
	expect_error(text, NULL, NULL,
		     "manifest:37: colour: unknown key; allowed: required, restart, depends-on, health, health-interval, "
		     "health-timeout, health-retries, backoff, crash-loop, exec, console, runtime-dir");
	expect_error("console = true\n", NULL, NULL, "manifest:26: console: not a key of a container (only of a service)");
	expect_error("\n[service a]\n", NULL, NULL, "manifest:27: service 'a' is defined twice");
	expect_error("", "boot-attempts = 3", "boot-attempts = 3\nboot-confirmed = 3",
		     "manifest: boot-confirmed (3) must be greater than boot-attempts (3)");
}

static void test_errors(void)
{
	expect_error("", "restart = always", "restart = sometimes",
		     "manifest:19: restart: 'sometimes' is not one of always, on-failure, never");
	expect_error("", "version = 1", "version = 2", "manifest:3: version: '2' is not supported (this pycm reads version 1)");
	expect_error("", "role = app", "role = king", "manifest:16: role: 'king' is not one of host, app");
	expect_error("", "bundle = /b", "bundle = b", "manifest:17: bundle: 'b' is not an absolute path");
	expect_error("", "required = true", "required = yes", "manifest:18: required: 'yes' is not one of true, false");
	expect_error("", "boot-attempts = 3", "boot-attempts = 0",
		     "manifest:9: boot-attempts: '0' is not an integer from 1 to 9");
	expect_error("", "mark-good = uboot-env", "mark-good = grub",
		     "manifest:8: mark-good: 'grub' is not one of uboot-env, rauc");
	expect_error("", "health = ready-file /run/ready", "health = ready-file run",
		     "manifest:20: health: 'ready-file run' is not one of none, ready-file /PATH, exec COMMAND");
	expect_error("", "backoff = 1 30", "backoff = 30 1",
		     "manifest:24: backoff: '30 1' is not 'INITIAL MAX' seconds with MAX >= INITIAL");
	expect_error("", "crash-loop = 5 60", "crash-loop = 5",
		     "manifest:25: crash-loop: '5' is not 'N T' (1 <= N <= 64 restarts within 1 <= T <= 86400 seconds)");
	expect_error("", "crash-loop = 5 60", "crash-loop = 5 86401",
		     "manifest:25: crash-loop: '5 86401' is not 'N T' (1 <= N <= 64 restarts within 1 <= T <= 86400 seconds)");
	expect_error("", "crash-loop = 5 60", "crash-loop = 5 2147484",
		     "manifest:25: crash-loop: '5 2147484' is not 'N T' (1 <= N <= 64 restarts within 1 <= T <= 86400 seconds)");
	expect_error("colour = red\n", NULL, NULL,
		     "manifest:26: colour: unknown key; allowed: role, bundle, required, restart, depends-on, volumes, "
		     "health, health-interval, health-timeout, health-retries, backoff, crash-loop, user, devices, network, ports");
	expect_error("role = app\n", NULL, NULL, "manifest:26: role: given twice");
	expect_error("", "health-retries = 3\n", "", "manifest:15: a: required key 'health-retries' is missing");
	expect_error("", "stop-timeout = 10\n", "", "manifest:2: [pycm]: required key 'stop-timeout' is missing");
	expect_error("depends-on = b\n", NULL, NULL, "manifest:26: depends-on: 'b' is not a container defined before a");
	expect_error("depends-on = a\n", NULL, NULL, "manifest:26: depends-on: 'a' is not a container defined before a");
	expect_error("\n[container a]\n", NULL, NULL, "manifest:27: container 'a' is defined twice");
	expect_error("\n[container Bad]\n", NULL, NULL,
		     "manifest:27: 'Bad' is not a container name ([a-z0-9][a-z0-9-]*, at most 32)");
	expect_error("\n[volume x]\n", NULL, NULL, "manifest:27: unknown section [volume x]; allowed: [pycm], [service NAME], [container NAME]");
	expect_error("just words\n", NULL, NULL, "manifest:26: expected 'key = value'");
	expect_error("", "[pycm]", "[container z]", "manifest:2: [pycm] must come first");
	expect_error("", "[pycm]", "# no section", "manifest:3: version: key outside a section ([pycm] must come first)");

	struct pc_err err;
	CHECK(pc_manifest_parse("", &m, &err) == -1 && !strcmp(err.msg, "manifest:1: no [pycm] section"));
	CHECK(pc_manifest_load("/nonexistent/manifest", &m, &err) == -1 &&
	      !strcmp(err.msg, "cannot open /nonexistent/manifest: No such file or directory"));
}

static void test_backoff(void)
{
	CHECK(pc_backoff_ms(1, 30, 1) == 1000);
	CHECK(pc_backoff_ms(1, 30, 2) == 2000);
	CHECK(pc_backoff_ms(1, 30, 5) == 16000);
	CHECK(pc_backoff_ms(1, 30, 6) == 30000);
	CHECK(pc_backoff_ms(1, 30, 1000) == 30000);
	CHECK(pc_backoff_ms(0, 0, 3) == 0);
	CHECK(pc_backoff_ms(5, 3, 1) == 3000);
}

static void test_crashloop(void)
{
	struct pc_crashloop cl;
	pc_crashloop_init(&cl, 3, 10);
	CHECK(!pc_crashloop_record(&cl, 0));
	CHECK(!pc_crashloop_record(&cl, 1000));
	CHECK(pc_crashloop_record(&cl, 2000)); /* 3 restarts within 10 s */
	pc_crashloop_init(&cl, 3, 10);
	CHECK(!pc_crashloop_record(&cl, 0));
	CHECK(!pc_crashloop_record(&cl, 6000));
	CHECK(!pc_crashloop_record(&cl, 12000)); /* 0..12 s: 3 restarts in 12 s, not within 10 */
	CHECK(!pc_crashloop_record(&cl, 17000)); /* 6..17 */
	CHECK(pc_crashloop_record(&cl, 20000));	 /* 12..20 */
	pc_crashloop_init(&cl, 1, 60);
	CHECK(pc_crashloop_record(&cl, 5)); /* a limit of 1: the first restart is already a loop */
	/* the longest window the manifest allows, and one whose milliseconds overflow an int: both
	 * still detect a loop (the window once wrapped negative and disabled the detection) */
	pc_crashloop_init(&cl, 2, PC_CRASH_WINDOW_MAX);
	CHECK(!pc_crashloop_record(&cl, 0));
	CHECK(pc_crashloop_record(&cl, PC_CRASH_WINDOW_MAX * 1000LL));
	CHECK(!pc_crashloop_record(&cl, PC_CRASH_WINDOW_MAX * 2000LL + 1));
	pc_crashloop_init(&cl, 2, INT_MAX);
	CHECK(!pc_crashloop_record(&cl, 0));
	CHECK(pc_crashloop_record(&cl, 1000));
	CHECK(pc_crashloop_record(&cl, 3000LL * 1000 * 1000));
}

static void test_slot(void)
{
	char path[] = "/tmp/pycm-test-cmdline-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs("console=ttyAMA0 root=PARTLABEL=rootfs_b xrauc.slot=A rauc.slot=B panic=5\n", f);
	fclose(f);
	CHECK(pc_booted_slot(path) == 'B');
	f = fopen(path, "w");
	fputs("console=ttyAMA0 rauc.slot=AB\n", f);
	fclose(f);
	CHECK(pc_booted_slot(path) == 0);
	unlink(path);
	CHECK(pc_booted_slot("/nonexistent") == 0);
}

static void test_sha256(void)
{
	char hex[65];
	struct pc_sha256 s;
	pc_sha256_init(&s);
	pc_sha256_update(&s, "abc", 3);
	pc_sha256_hex(&s, hex);
	CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	pc_sha256_init(&s);
	for (int i = 0; i < 1000; i++) /* 56..64-byte padding boundaries and multi-block input */
		pc_sha256_update(&s, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", i % 2 ? 56 : 0);
	pc_sha256_hex(&s, hex);
	pc_sha256_init(&s);
	pc_sha256_update(&s, "", 0);
	pc_sha256_hex(&s, hex);
	CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	pc_sha256_init(&s);
	pc_sha256_update(&s, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
	pc_sha256_hex(&s, hex);
	CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
}

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

#define HELLO "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" /* "hello\n" */
#define WORLD "e258d248fda94c63753607f7c4494ee0fcbe92f1a76bfdac795c9d84101eb317" /* "world\n" */

static void put_staging(const char *root)
{
	char p[512];
	struct pc_err err;
	snprintf(p, sizeof p, "%s/staging/blobs", root);
	CHECK(pc_mkdirs(p, &err) == 0);
	snprintf(p, sizeof p, "%s/staging/revision", root);
	put_file(p, "pycontainers-revision 1\nid 0123456789abcdef\ncontainer app\n"
		    "f\t0644\t6\t" HELLO "\tconfig.json\nd\t0755\trootfs\nd\t0700\trootfs/etc\n"
		    "f\t0755\t6\t" HELLO "\trootfs/etc/hello\nl\t../world\trootfs/etc/link\n"
		    "f\t0644\t6\t" WORLD "\trootfs/world\n");
	snprintf(p, sizeof p, "%s/staging/manifest", root);
	put_file(p, "[container app]\nrole = app\nbundle = /x/app\nrequired = true\nrestart = always\n"
		    "health = none\nhealth-interval = 1\nhealth-timeout = 1\nhealth-retries = 1\nbackoff = 1 2\n"
		    "crash-loop = 5 60\n");
}

static void test_store(void)
{
	char root[] = "/tmp/pycm-test-store-XXXXXX", p[512], id[32], t[256];
	struct pc_err err;
	CHECK(mkdtemp(root) != NULL);
	/* an extracted app bundle: revision, manifest, one blob; "world" comes from the factory */
	snprintf(p, sizeof p, "%s/staging/blobs", root);
	CHECK(pc_mkdirs(p, &err) == 0);
	snprintf(p, sizeof p, "%s/staging/blobs/" HELLO, root);
	put_file(p, "hello\n");
	snprintf(p, sizeof p, "%s/factory/app/rootfs", root);
	CHECK(pc_mkdirs(p, &err) == 0);
	snprintf(p, sizeof p, "%s/factory/app/rootfs/w", root);
	put_file(p, "world\n");
	put_staging(root);
	static struct pc_manifest factory;
	factory.ncontainers = 1;
	snprintf(factory.c[0].bundle, sizeof factory.c[0].bundle, "%s/factory/app", root);
	snprintf(p, sizeof p, "%s/staging", root);
	int rc = pc_store_materialize(root, p, &factory, NULL, NULL, id, sizeof id, &err);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(!strcmp(id, "0123456789abcdef"));
	struct stat st;
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef/app/rootfs/etc/hello", root);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_nlink == 2); /* store + revision */
	snprintf(p, sizeof p, "%s/blobs/" HELLO ".0644", root);
	CHECK(stat(p, &st) == 0 && st.st_nlink == 2); /* config.json */
	snprintf(p, sizeof p, "%s/blobs/" WORLD ".0644", root);
	CHECK(stat(p, &st) == 0 && st.st_nlink == 2); /* copied from the factory, checked */
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef/app/rootfs/etc", root);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0700);
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef/app/rootfs/etc/link", root);
	CHECK(readlink(p, t, sizeof t) == 8);
	/* the same tree has the same digest; any change another */
	char d1[65], d2[65];
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef/app", root);
	CHECK(pc_tree_digest(p, d1, &err) == 0 && pc_tree_digest(p, d2, &err) == 0 && !strcmp(d1, d2));
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef/app/rootfs/etc", root);
	chmod(p, 0755);
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef/app", root);
	CHECK(pc_tree_digest(p, d2, &err) == 0 && strcmp(d1, d2));
	/* trial, commit: previous = factory, current = the revision; no trial left */
	CHECK(pc_store_set(root, "trial", "revisions/0123456789abcdef", &err) == 0);
	CHECK(pc_store_commit(root, &err) == 0);
	CHECK(pc_store_pointer(root, "current", t, sizeof t) == 1 && !strcmp(t, "revisions/0123456789abcdef"));
	CHECK(pc_store_pointer(root, "previous", t, sizeof t) == 1 && !strcmp(t, "factory"));
	CHECK(pc_store_pointer(root, "trial", t, sizeof t) == 0);
	CHECK(pc_store_commit(root, &err) == -1); /* nothing on trial */
	/* verification: the committed store is sound; a changed byte of a blob, an extra file, a
	 * dangling pointer, a leftover are each found */
	char *vout = NULL;
	size_t vlen = 0;
	FILE *vf = open_memstream(&vout, &vlen);
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef/app/rootfs/etc", root);
	chmod(p, 0700); /* as listed (the digest test above changed it) */
	snprintf(p, sizeof p, "%s/staging", root);
	CHECK(pc_store_verify(root, NULL, vf) == 1); /* an extracted bundle left over */
	pc_rmtree(p);
	rewind(vf);
	CHECK(pc_store_verify(root, NULL, vf) == 0);
	fflush(vf);
	CHECK(strstr(vout, "store OK: current revisions/0123456789abcdef; 6 entries and 3 files") != NULL);
	snprintf(p, sizeof p, "%s/blobs/" WORLD ".0644", root);
	int wfd = open(p, O_WRONLY);
	CHECK(wfd >= 0 && write(wfd, "W", 1) == 1);
	close(wfd);
	CHECK(pc_store_verify(root, NULL, vf) == 1);
	fflush(vf);
	CHECK(strstr(vout, "app/rootfs/world: content does not match its digest e258d248fda9") != NULL);
	CHECK(strstr(vout, "blobs/" WORLD ".0644: content does not match its name") != NULL);
	put_file(p, "world\n");
	CHECK(pc_store_verify(root, NULL, vf) == 0);
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef/app/rootfs/extra", root);
	put_file(p, "x");
	CHECK(pc_store_verify(root, NULL, vf) == 1);
	fflush(vf);
	CHECK(strstr(vout, "10 entries on disk, its listing has 9") != NULL);
	unlink(p);
	CHECK(pc_store_set(root, "previous", "revisions/aaaaaaaaaaaaaaaa", &err) == 0);
	CHECK(pc_store_verify(root, NULL, vf) == 1);
	fflush(vf);
	CHECK(strstr(vout, "previous -> revisions/aaaaaaaaaaaaaaaa: dangling") != NULL);
	CHECK(pc_store_set(root, "previous", "factory", &err) == 0);
	snprintf(p, sizeof p, "%s/blobs/" WORLD ".0644.tmp", root);
	put_file(p, "wor");
	CHECK(pc_store_verify(root, NULL, vf) == 1);
	unlink(p);
	CHECK(pc_store_verify(root, NULL, vf) == 0);
	fclose(vf);
	free(vout);
	/* an uncommitted trial is dropped at boot */
	CHECK(pc_store_set(root, "trial", "revisions/ffffffffffffffff", &err) == 0);
	pc_store_boot(root);
	CHECK(pc_store_pointer(root, "trial", t, sizeof t) == 0);
	/* GC keeps what current names; an unreferenced blob and revision go */
	snprintf(p, sizeof p, "%s/blobs/" WORLD ".0755", root);
	put_file(p, "world\n");
	snprintf(p, sizeof p, "%s/revisions/aaaaaaaaaaaaaaaa", root);
	CHECK(pc_mkdirs(p, &err) == 0);
	CHECK(pc_store_gc(root, NULL, 0) > 0);
	snprintf(p, sizeof p, "%s/blobs/" WORLD ".0755", root);
	CHECK(access(p, F_OK) < 0);
	snprintf(p, sizeof p, "%s/revisions/aaaaaaaaaaaaaaaa", root);
	CHECK(access(p, F_OK) < 0);
	snprintf(p, sizeof p, "%s/revisions/aaaaaaaaaaaaaaaa.gc", root); /* retired, then removed */
	CHECK(access(p, F_OK) < 0);
	snprintf(p, sizeof p, "%s/blobs/" HELLO ".0755", root);
	CHECK(access(p, F_OK) == 0);
	/* factory reset: no current, so the revision and its blobs go too */
	CHECK(pc_store_unset(root, "current", &err) == 0 && pc_store_unset(root, "previous", &err) == 0);
	pc_store_gc(root, NULL, 0);
	snprintf(p, sizeof p, "%s/blobs/" HELLO ".0755", root);
	CHECK(access(p, F_OK) < 0);
	/* a blob that is nowhere: refused, nothing left half-written */
	put_staging(root);
	snprintf(p, sizeof p, "%s/staging", root);
	factory.ncontainers = 0;
	CHECK(pc_store_materialize(root, p, &factory, NULL, NULL, id, sizeof id, &err) == -1);
	CHECK(strstr(err.msg, "app/config.json (5891b5b522d5) is neither in the bundle nor on the device") != NULL);
	if (!strstr(err.msg, "is neither"))
		fprintf(stderr, "  got: %s\n", err.msg);
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef", root);
	CHECK(access(p, F_OK) < 0);
	pc_rmtree(root);
	CHECK(access(root, F_OK) < 0);
}

/* ------------------------------------------------------------------ hostile listings */

/* Entries of a tree (names and types, recursively, never following a link): a snapshot to
 * compare before and after. */
static void snapshot(const char *dir, char *out, size_t size)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char p[1024];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", dir, list[i]->d_name);
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..") && lstat(p, &st) == 0) {
			size_t len = strlen(out);
			snprintf(out + len, size - len, "%s %o %lld\n", p, (unsigned)st.st_mode, (long long)st.st_size);
			if (S_ISDIR(st.st_mode))
				snapshot(p, out, size);
		}
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

/* Materialize a listing (header and id added) with "hello\n" as the one blob of the bundle. */
static int materialize(const char *root, const char *entries, struct pc_err *err)
{
	char p[512], id[32];
	snprintf(p, sizeof p, "%s/staging/blobs", root);
	CHECK(pc_mkdirs(p, err) == 0);
	snprintf(p, sizeof p, "%s/staging/blobs/" HELLO, root);
	put_file(p, "hello\n");
	snprintf(p, sizeof p, "%s/staging/manifest", root);
	put_file(p, "");
	char listing[2048];
	snprintf(listing, sizeof listing, "pycontainers-revision 1\nid 0123456789abcdef\ncontainer app\n%s", entries);
	snprintf(p, sizeof p, "%s/staging/revision", root);
	put_file(p, listing);
	snprintf(p, sizeof p, "%s/staging", root);
	memset(err, 0, sizeof *err);
	int rc = pc_store_materialize(root, p, NULL, NULL, NULL, id, sizeof id, err);
	pc_rmtree(p);
	return rc;
}

static void expect_refused(const char *base, const char *entries, const char *msg)
{
	char root[256], before[16384] = "", after[16384] = "", p[600];
	struct pc_err err;
	snprintf(root, sizeof root, "%s/store", base);
	snapshot(base, before, sizeof before);
	int rc = materialize(root, entries, &err);
	CHECK(rc == -1 && strstr(err.msg, msg));
	if (rc != -1 || !strstr(err.msg, msg))
		fprintf(stderr, "  want: %s\n  got:  %s\n", msg, rc == -1 ? err.msg : "(no error)");
	snprintf(p, sizeof p, "%s/revisions/0123456789abcdef", root);
	CHECK(access(p, F_OK) < 0);
	pc_store_gc(root, NULL, 0); /* the half-built revision goes; the store is sound */
	char *vout = NULL;
	size_t vlen = 0;
	FILE *vf = open_memstream(&vout, &vlen);
	CHECK(pc_store_verify(root, NULL, vf) == 0);
	fclose(vf);
	free(vout);
	pc_rmtree(root); /* what is left is what was there before: nothing was made outside the store */
	snapshot(base, after, sizeof after);
	CHECK(!strcmp(before, after));
	if (strcmp(before, after))
		fprintf(stderr, "  changed outside the store:\n%s---\n%s", before, after);
}

static void test_hostile_listings(void)
{
	char base[] = "/tmp/pycm-test-hostile-XXXXXX", p[600], out[600], listing[2048];
	CHECK(mkdtemp(base) != NULL);
	snprintf(out, sizeof out, "%s/outside", base);
	mkdir(out, 0755);
	snprintf(p, sizeof p, "%s/outside/keep", base);
	put_file(p, "keep\n");
	/* a link to a directory outside, then entries under it: a file, a setuid file, a FIFO, a directory */
	snprintf(listing, sizeof listing, "l\t%s\tesc\nf\t0644\t6\t" HELLO "\tesc/x\n", out);
	expect_refused(base, listing, "revision:5: esc/x: its parent 'esc' is not a directory listed before it");
	snprintf(listing, sizeof listing, "l\t%s\tesc\nf\t4755\t6\t" HELLO "\tesc/su\n", out);
	expect_refused(base, listing, "revision:5: esc/su: mode 4755 has the set-user-ID or set-group-ID bit");
	snprintf(listing, sizeof listing, "l\t%s\tesc\np\t0644\tesc/fifo\n", out);
	expect_refused(base, listing, "revision:5: esc/fifo: its parent 'esc' is not a directory listed before it");
	snprintf(listing, sizeof listing, "d\t0755\ta\nl\t%s\ta/esc\nd\t0755\ta/esc/sub\n", out);
	expect_refused(base, listing, "revision:6: a/esc/sub: its parent 'a/esc' is not a directory listed before it");
	/* a link to a link: still a link */
	snprintf(listing, sizeof listing, "l\t%s\tesc\nl\tesc\tesc2\nf\t0644\t6\t" HELLO "\tesc2/x\n", out);
	expect_refused(base, listing, "revision:6: esc2/x: its parent 'esc2' is not a directory listed before it");
	/* names that leave the container */
	expect_refused(base, "f\t0644\t6\t" HELLO "\t../x\n", "revision:4: '../x' is not a relative path");
	expect_refused(base, "d\t0755\ta\nf\t0644\t6\t" HELLO "\ta/../../x\n", "revision:5: 'a/../../x' is not a relative path");
	snprintf(listing, sizeof listing, "f\t0644\t6\t" HELLO "\t%s/x\n", out);
	expect_refused(base, listing, "is not a relative path");
	expect_refused(base, "f\t0644\t6\t" HELLO "\ta//x\n", "revision:4: 'a//x' is not a relative path");
	/* modes and types */
	expect_refused(base, "d\t2755\tsgid\n", "revision:4: sgid: mode 2755 has the set-user-ID or set-group-ID bit");
	expect_refused(base, "c\t0644\t1\t3\tnull\n", "revision:4: unknown entry type 'c'");
	expect_refused(base, "b\t0644\t254\t0\tdisk\n", "revision:4: unknown entry type 'b'");
	expect_refused(base, "d\t755\tx\n", "revision:4: x: mode '755' is not 4 octal digits");
	expect_refused(base, "f\t0644\t6\t../../../../etc/shadow.......................................\tx\n",
		       "is not 64 lower-case hex digits");
	/* the same name twice */
	expect_refused(base, "d\t0755\ta\nf\t0644\t6\t" HELLO "\ta\n", "revision:5: a:");
	/* an entry before any container, a container name that is a path */
	snprintf(p, sizeof p, "%s/store", base);
	expect_refused(base, "container ../../outside\n", "revision:4: '../../outside' is not a container name");
	/* a blob of the bundle that is a link to a file outside (whose digest is known) */
	snprintf(p, sizeof p, "%s/outside/hello", base);
	put_file(p, "hello\n");
	char root[256], link[600], id[32];
	struct pc_err err;
	snprintf(root, sizeof root, "%s/store", base);
	snprintf(link, sizeof link, "%s/staging/blobs", root);
	CHECK(pc_mkdirs(link, &err) == 0);
	snprintf(link, sizeof link, "%s/staging/blobs/" HELLO, root);
	CHECK(symlink(p, link) == 0);
	snprintf(link, sizeof link, "%s/staging/revision", root);
	put_file(link, "pycontainers-revision 1\nid 0123456789abcdef\ncontainer app\nf\t0644\t6\t" HELLO "\tx\n");
	snprintf(link, sizeof link, "%s/staging/manifest", root);
	put_file(link, "");
	snprintf(link, sizeof link, "%s/staging", root);
	CHECK(pc_store_materialize(root, link, NULL, NULL, NULL, id, sizeof id, &err) == -1 && strstr(err.msg, "not a regular file"));
	if (!strstr(err.msg, "not a regular file"))
		fprintf(stderr, "  got: %s\n", err.msg);
	pc_rmtree(root);
	/* a revision listing that is a link */
	snprintf(link, sizeof link, "%s/staging", root);
	CHECK(pc_mkdirs(link, &err) == 0);
	snprintf(link, sizeof link, "%s/staging/revision", root);
	CHECK(symlink(p, link) == 0);
	snprintf(link, sizeof link, "%s/staging", root);
	CHECK(pc_store_materialize(root, link, NULL, NULL, NULL, id, sizeof id, &err) == -1 && strstr(err.msg, "revision"));
	pc_rmtree(root);
	/* GC and rmtree of a tree holding links out: the links go, what they point at stays */
	snprintf(link, sizeof link, "%s/revisions/aaaaaaaaaaaaaaaa/app", root);
	CHECK(pc_mkdirs(link, &err) == 0);
	snprintf(link, sizeof link, "%s/revisions/aaaaaaaaaaaaaaaa/app/esc", root);
	CHECK(symlink(out, link) == 0);
	snprintf(link, sizeof link, "%s/revisions/bbbbbbbbbbbbbbbb.tmp", root);
	CHECK(symlink(out, link) == 0);
	snprintf(link, sizeof link, "%s/staging", root);
	CHECK(symlink(out, link) == 0);
	pc_store_gc(root, NULL, 0);
	CHECK(access(p, F_OK) == 0);
	snprintf(link, sizeof link, "%s/revisions/aaaaaaaaaaaaaaaa", root);
	CHECK(access(link, F_OK) < 0);
	snprintf(link, sizeof link, "%s/blobs", root); /* blobs a link out: nothing there is removed */
	CHECK(symlink(out, link) == 0);
	pc_store_gc(root, NULL, 0);
	CHECK(access(p, F_OK) == 0);
	pc_rmtree(root);
	CHECK(access(p, F_OK) == 0 && access(root, F_OK) < 0);
	/* verify does not follow a link of a (tampered) revision either */
	snprintf(link, sizeof link, "%s/revisions/0123456789abcdef/app", root);
	CHECK(pc_mkdirs(link, &err) == 0);
	snprintf(link, sizeof link, "%s/revisions/0123456789abcdef/app/esc", root);
	CHECK(symlink(out, link) == 0);
	snprintf(link, sizeof link, "%s/revisions/0123456789abcdef/revision", root);
	put_file(link, "pycontainers-revision 1\nid 0123456789abcdef\ncontainer app\nl\t/x\tesc\nf\t0644\t6\t" HELLO "\tesc/hello\n");
	snprintf(link, sizeof link, "%s/revisions/0123456789abcdef/manifest", root);
	put_file(link, "");
	CHECK(pc_store_set(root, "current", "revisions/0123456789abcdef", &err) == 0);
	char *vout = NULL;
	size_t vlen = 0;
	FILE *vf = open_memstream(&vout, &vlen);
	CHECK(pc_store_verify(root, NULL, vf) == 1);
	fclose(vf);
	CHECK(strstr(vout, "esc/hello: its parent 'esc' is not a directory listed before it") != NULL);
	if (!strstr(vout, "its parent"))
		fprintf(stderr, "  got: %s\n", vout);
	free(vout);
	pc_rmtree(base);
}

static void test_versions(void)
{
	CHECK(pc_version_cmp("2.0.0", "1.0.0") > 0);
	CHECK(pc_version_cmp("2.0.0-crashloop", "1.0.0") > 0);
	CHECK(pc_version_cmp("3.0.0-crashloop", "2.0.0") > 0);
	CHECK(pc_version_cmp("1.0.0", "2.0.0-crashloop") < 0);
	CHECK(pc_version_cmp("1.10.0", "1.9.0") > 0);
	CHECK(pc_version_cmp("1.2.0", "1.3.0") < 0);
	CHECK(pc_version_cmp("1.0.0", "1.0.0") == 0);
	CHECK(pc_version_cmp("1.0.01", "1.0.1") == 0);
	CHECK(pc_version_cmp("1.0~rc1", "1.0") < 0);
	CHECK(pc_version_cmp("1.0", "1.0+b1") < 0);
	CHECK(pc_version_cmp("1.0a", "1.0") > 0);
	CHECK(pc_version_cmp("1.0.0-1", "1.0.0-2") < 0);
	CHECK(pc_version_cmp("1.0-2", "1.0.1-1") < 0);
	CHECK(pc_version_cmp("", "1") < 0);
}

static void test_compose(void)
{
	char dir[] = "/tmp/pycm-test-compose-XXXXXX", p[512];
	struct pc_err err;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(p, sizeof p, "%s/slot", dir);
	char slot[4096];
	snprintf(slot, sizeof slot, "%s\n[container a]\n%s\n[container b]\n%s", GLOBAL, CONTAINER, CONTAINER);
	put_file(p, slot);
	snprintf(p, sizeof p, "%s/manifest", dir);
	put_file(p, "[container c]\nrole = app\nbundle = /r/c\nrequired = false\nrestart = never\nhealth = none\n"
		    "health-interval = 1\nhealth-timeout = 1\nhealth-retries = 1\nbackoff = 1 2\ncrash-loop = 5 60\n");
	snprintf(p, sizeof p, "%s/slot", dir);
	CHECK(pc_manifest_compose(p, dir, &m, &err) == 0);
	CHECK(m.ncontainers == 1 && !strcmp(m.c[0].name, "c") && !strcmp(m.c[0].bundle, "/r/c") && !strcmp(m.device, "demo"));
	snprintf(p, sizeof p, "%s/manifest", dir);
	put_file(p, "[pycm]\nversion = 1\n");
	snprintf(p, sizeof p, "%s/slot", dir);
	CHECK(pc_manifest_compose(p, dir, &m, &err) == -1 && strstr(err.msg, "only [container NAME] sections"));
	pc_rmtree(dir);
}

/* ------------------------------------------------------------------ JSON */

static int json(const char *text, struct pc_json_doc *doc, struct pc_err *err)
{
	memset(err, 0, sizeof *err);
	return pc_json_parse(text, strlen(text), "t.json", doc, err);
}

static void expect_json_error(const char *text, const char *msg)
{
	struct pc_json_doc doc;
	struct pc_err err;
	int rc = json(text, &doc, &err);
	CHECK(rc == -1 && strstr(err.msg, msg));
	if (rc == 0) {
		fprintf(stderr, "  parsed: %s\n", text);
		pc_json_free(&doc);
	} else if (!strstr(err.msg, msg))
		fprintf(stderr, "  %s: got '%s', want '%s'\n", text, err.msg, msg);
}

static void test_json(void)
{
	struct pc_json_doc doc, other;
	struct pc_err err;
	long long n;
	CHECK(json(" {\"a\": [1, -2.5e3, \"x\\u00e9\\ud83d\\ude00\\n\", true, false, null, {}, []], \"b\": {\"c\": 0}}\n",
		   &doc, &err) == 0);
	const struct pc_json *a = pc_json_get(doc.root, "a");
	CHECK(doc.root->type == PC_JSON_OBJECT && doc.root->n == 2 && a && a->type == PC_JSON_ARRAY && a->n == 8);
	CHECK(a->child->type == PC_JSON_NUMBER && pc_json_int(a->child, 1, 1, &n) == 0 && n == 1);
	CHECK(a->child->next->len == 6 && pc_json_int(a->child->next, LLONG_MIN, LLONG_MAX, &n) == -1);
	const struct pc_json *s = a->child->next->next;
	CHECK(s->type == PC_JSON_STRING && !strcmp(s->str, "x\xc3\xa9\xf0\x9f\x98\x80\n") && s->len == 8);
	CHECK(s->next->type == PC_JSON_TRUE && s->next->next->type == PC_JSON_FALSE &&
	      s->next->next->next->type == PC_JSON_NULL);
	CHECK(a->start == 7 && a->key_start == 2 && doc.root->start == 1);
	CHECK(pc_json_get(a, "x") == NULL && pc_json_get(doc.root, "c") == NULL);
	CHECK(json("{\"b\": {\"c\": 0}, \"a\": [1, -2.5e3, \"x\\u00e9\\ud83d\\ude00\\n\", true, false, null, {}, []]}",
		   &other, &err) == 0);
	CHECK(pc_json_equal(doc.root, other.root)); /* members in another order */
	pc_json_free(&other);
	CHECK(json("{\"b\": {\"c\": 0}, \"a\": [1, -2.5E3, \"x\\u00e9\\ud83d\\ude00\\n\", true, false, null, {}, []]}",
		   &other, &err) == 0);
	CHECK(!pc_json_equal(doc.root, other.root)); /* numbers by their text */
	pc_json_free(&other);
	pc_json_free(&doc);
	CHECK(json("-9223372036854775808", &doc, &err) == 0 && pc_json_int(doc.root, LLONG_MIN, 0, &n) == 0 &&
	      n == LLONG_MIN);
	pc_json_free(&doc);
	CHECK(json("18446744073709551616", &doc, &err) == 0 && pc_json_int(doc.root, 0, LLONG_MAX, &n) == -1);
	pc_json_free(&doc);
	CHECK(json("9223372036854775808", &doc, &err) == 0 && pc_json_int(doc.root, 0, LLONG_MAX, &n) == -1);
	pc_json_free(&doc);
	/* what parsers read differently, or a C string cannot hold */
	expect_json_error("{\"a\": 1, \"b\": 2,\n \"a\": 3}", "t.json:2:2: duplicate key a");
	expect_json_error("{\"a\": {\"x\": 1, \"x\": 1}}", "duplicate key x");
	expect_json_error("{\"\\u0061\": 1, \"a\": 2}", "duplicate key a");
	expect_json_error("\"a\\u0000b\"", "t.json:1:3: \\u0000 in a string");
	expect_json_error("\"\\ud800\"", "a lone surrogate");
	expect_json_error("\"\\udc00\"", "a lone surrogate");
	expect_json_error("\"\\ud800\\u0041\"", "a lone surrogate");
	expect_json_error("\"\xc0\xaf\"", "not UTF-8");
	expect_json_error("\"\xed\xa0\x80\"", "not UTF-8");     /* a surrogate in UTF-8 */
	expect_json_error("\"\xf4\x90\x80\x80\"", "not UTF-8"); /* above U+10FFFF */
	expect_json_error("\"\xe2\x82\"", "not UTF-8");
	expect_json_error("\"\x80\"", "not UTF-8");
	expect_json_error("\xef\xbb\xbf{}", "unexpected byte 0xef");
	expect_json_error("\"a\tb\"", "control character 0x09");
	expect_json_error("\"\\x\"", "unexpected 'x', expected an escape");
	expect_json_error("\"\\u12\"", "4 hex digits");
	expect_json_error("\"abc", "unexpected end, in a string");
	expect_json_error("{\"a\": 1,}", "t.json:1:9: unexpected '}', expected a key");
	expect_json_error("[1,]", "unexpected ']', expected a value");
	expect_json_error("[1 2]", "expected ',' or ']'");
	expect_json_error("{\"a\" 1}", "expected ':'");
	expect_json_error("{'a': 1}", "expected a key");
	expect_json_error("// c\n{}", "unexpected '/', expected a value");
	expect_json_error("{} /* c */", "'/' after the value");
	expect_json_error("{}{}", "'{' after the value");
	expect_json_error("", "unexpected end, expected a value");
	expect_json_error("   ", "unexpected end");
	expect_json_error("01", "'1' after the value");
	expect_json_error("+1", "unexpected '+'");
	expect_json_error("1.", "a digit after '.'");
	expect_json_error(".5", "unexpected '.'");
	expect_json_error("1e", "a digit of the exponent");
	expect_json_error("-", "expected a digit");
	expect_json_error("NaN", "unexpected 'N'");
	expect_json_error("Infinity", "unexpected 'I'");
	expect_json_error("tru", "unexpected 't'");
	expect_json_error("nulll", "'l' after the value");
	CHECK(pc_json_parse("[\"a\"\0]", 6, "t.json", &doc, &err) == -1 && strstr(err.msg, "unexpected byte 0x00"));
	char deep[2 * PC_JSON_DEPTH + 8];
	memset(deep, '[', PC_JSON_DEPTH + 1);
	memset(deep + PC_JSON_DEPTH + 1, ']', PC_JSON_DEPTH + 1);
	deep[2 * PC_JSON_DEPTH + 2] = '\0';
	expect_json_error(deep, "more than 32 arrays and objects inside each other");
	CHECK(pc_json_parse(deep + 1, 2 * PC_JSON_DEPTH, "t.json", &doc, &err) == 0); /* 32 deep: fine */
	pc_json_free(&doc);
	size_t big = 2 * PC_JSON_VALUES + 2;
	char *many = malloc(big + 1);
	many[0] = '[';
	for (size_t i = 1; i < big - 1; i += 2) {
		many[i] = '0';
		many[i + 1] = ',';
	}
	many[big - 2] = '0';
	many[big - 1] = ']';
	many[big] = '\0';
	expect_json_error(many, "more than 65536 values");
	free(many);
}

/* ------------------------------------------------------------------ the app policy */

#define GOLDEN "../tests/golden/demo/contract/"

static char *slurp(const char *path, size_t *len)
{
	struct pc_err err;
	char *t = pc_read_file_at(AT_FDCWD, path, 0, PC_CONFIG_MAX, len, &err);
	if (!t)
		fprintf(stderr, "%s (run from runtime/)\n", err.msg);
	return t;
}

/* text with the first `replace` swapped for `with`, checked against the policy as container c */
static int check_config(const struct pc_policy *pol, const struct pc_container *c, const char *text,
			const char *replace, const char *with, struct pc_err *err)
{
	size_t n = strlen(text) + (with ? strlen(with) : 0) + 1;
	char *t = malloc(n);
	const char *p = replace ? strstr(text, replace) : NULL;
	if (replace && !p) {
		fprintf(stderr, "test bug: '%s' not in the config\n", replace);
		exit(2);
	}
	if (p)
		snprintf(t, n, "%.*s%s%s", (int)(p - text), text, with, p + strlen(replace));
	else
		snprintf(t, n, "%s", text);
	memset(err, 0, sizeof *err);
	int rc = pc_policy_check(pol, c, t, strlen(t), err);
	free(t);
	return rc;
}

static void expect_policy_refused(const struct pc_policy *pol, const struct pc_container *c, const char *text,
			   const char *replace, const char *with, const char *msg)
{
	struct pc_err err;
	int rc = check_config(pol, c, text, replace, with, &err);
	CHECK(rc == -1 && strstr(err.msg, msg));
	if (rc == 0 || !strstr(err.msg, msg))
		fprintf(stderr, "  %s -> %s: got '%s', want '%s'\n", replace, with, rc ? err.msg : "taken", msg);
}

static void expect_policy_taken(const struct pc_policy *pol, const struct pc_container *c, const char *text,
			 const char *replace, const char *with)
{
	struct pc_err err;
	int rc = check_config(pol, c, text, replace, with, &err);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  %s -> %s: %s\n", replace, with, err.msg);
}

/* text with every `a` replaced by `b` (malloc'd) */
static char *replace_all(const char *text, const char *a, const char *b)
{
	size_t n = strlen(text) * 2 + 64, o = 0;
	char *out = malloc(n);
	for (const char *p = text; *p;) {
		if (!strncmp(p, a, strlen(a))) {
			o += (size_t)snprintf(out + o, n - o, "%s", b);
			p += strlen(a);
		} else
			out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}

static void test_policy(void)
{
	struct pc_policy pol;
	struct pc_err err = {0};
	size_t len;
	char path[PATH_MAX];
	CHECK(pc_policy_path("/etc/pycontainers/manifest", path, sizeof path) == 0 &&
	      !strcmp(path, "/etc/pycontainers/app-policy.json"));
	CHECK(pc_policy_path("manifest", path, sizeof path) == 0 && !strcmp(path, "./app-policy.json"));
	/* the generator's configs of the golden demo pass its policy */
	CHECK(pc_manifest_load(GOLDEN "pycm/manifest", &m, &err) == 0);
	CHECK(pc_policy_load(GOLDEN "app-policy.json", &pol, &err) == 0);
	int counter = pc_manifest_find(&m, "counter");
	CHECK(counter >= 0 && m.c[counter].role == ROLE_APP && m.c[counter].nvolumes == 1);
	const struct pc_container *c = &m.c[counter];
	char *text = slurp(GOLDEN "containers/counter/config.json", &len);
	CHECK(text && pc_policy_check(&pol, c, text, len, &err) == 0);
	if (err.msg[0])
		fprintf(stderr, "  golden counter: %s\n", err.msg);
	/* what it may differ in */
	expect_policy_taken(&pol, c, text, "\"cwd\": \"/\"", "\"cwd\": \"/srv\"");
	expect_policy_taken(&pol, c, text, "\"PATH=", "\"A=1\", \"PATH=");
	expect_policy_taken(&pol, c, text, "\"limit\": 33554432", "\"limit\": 1048576");
	expect_policy_taken(&pol, c, text, "\"quota\": 50000", "\"quota\": 250000");
	expect_policy_taken(&pol, c, text, "\"cpu\": {\n        \"quota\": 50000,\n        \"period\": 100000\n      },", "");
	expect_policy_taken(&pol, c, text, "\"permitted\": [", "\"ambient\": [\"CAP_KILL\"], \"permitted\": [");
	expect_policy_taken(&pol, c, text, "\"/proc/acpi\",", "\"/proc/acpi\", \"/x\",");
	expect_policy_taken(&pol, c, text, "\"hostname\": \"counter\"", "\"hostname\": \"other\"");
	/* what it may not (tests/test_app_store.py: one signed bundle each): the first `replace`
	 * swapped for `with`, refused with `msg` */
	static const struct {
		const char *replace, *with, *msg;
	} refused[] = {
		{"\"bounding\": [", "\"bounding\": [\"CAP_SYS_ADMIN\", ",
		 "config.json: process.capabilities.bounding: CAP_SYS_ADMIN is not an app capability"},
		{"\"permitted\": [", "\"inheritable\": [\"CAP_BPF\"], \"permitted\": [",
		 "process.capabilities.inheritable: CAP_BPF is not an app capability"},
		{"\"type\": \"pid\"", "\"type\": \"pid\", \"path\": \"/proc/1/ns/pid\"",
		 "config.json: linux.namespaces[0].path: not allowed in an app container"},
		{"\"type\": \"pid\"", "\"type\": \"network\"",
		 "linux.namespaces[1]: a second network namespace"},
		{"\"type\": \"pid\"", "\"type\": 1", "linux.namespaces[0]: an entry without a type is not"},
		{"\"noNewPrivileges\": true", "\"noNewPrivileges\": 1",
		 "process.noNewPrivileges: is not the app policy's (true)"},
		{"\"ociVersion\": \"1.0.2\"", "\"ociVersion\": \"1.0.2\", \"x.y\": 1",
		 "config.json: x.y: not allowed in an app container"},
		{"\"capabilities\": {", "\"capabilities\": {\"capabilities.ambient\": [], ",
		 "process.capabilities.capabilities.ambient: not allowed"},
		{"\"limit\": 33554432", "\"limit\": 1.5e9",
		 "linux.resources.memory.limit: 1.5e9 is not a positive integer"},
		{"\"limit\": 33554432", "\"limit\": -1", "-1 is not a positive integer"},
		{"\"quota\": 50000,\n        \"period\": 100000", "\"quota\": 50000",
		 "linux.resources.cpu.period: missing"},
		{"\"quota\": 50000", "\"quota\": 50000, \"cpus\": \"0\"",
		 "linux.resources.cpu.cpus: not allowed"},
		{"\"quota\": 50000", "\"quota\": 0",
		 "linux.resources.cpu.quota: 0 is not a positive integer"},
		{"\"cpu\": {", "\"cpu\": 1, \"x\": {", "linux.resources.cpu: is not an object"},
		{"\"cwd\": \"/\"", "\"cwd\": \"x\"", "process.cwd: is not an absolute path"},
		{"\"PATH=", "\"=x\", \"PATH=", "process.env: is not an array of NAME=VALUE strings"},
		{"\"args\": [", "\"args\": [], \"x\": [", "process.args: is not an array of strings"},
		{"\"/proc/acpi\",", "\"x\",", "linux.maskedPaths: x is not an absolute path"},
		{"\"source\": \"/data/volumes/counter\"", "\"source\": \"/data/volumes/other\"",
		 "mounts[9]: source /data/volumes/other is not a volume of container counter"},
		{"\"destination\": \"/var/lib/counter\"", "\"destination\": \"var\"",
		 "mounts[9].destination: is not an absolute path without white space"},
		{"\"destination\": \"/var/lib/counter\"", "\"destination\": \"/var/lib/counter\", \"uid\": 0",
		 "mounts[9].uid: not allowed in an app container"},
		{"\"type\": \"bind\"", "\"type\": \"overlay\"",
		 "mounts[9].type: is not the app policy's (\"bind\")"},
		{"\"size=16m\"\n      ]", "\"size=16m\", \"uid=0\"]",
		 "mounts[7].options: is not the app policy's"},
		{"{\n      \"destination\": \"/proc\"", "{\"x\": 1}, {\n      \"destination\": \"/proc\"",
		 "mounts[0].x: not allowed in an app container"},
		{"\"ociVersion\": \"1.0.2\"", "\"ociVersion\": \"1.1.0\"",
		 "ociVersion: is not the app policy's (\"1.0.2\")"},
		{"\"linux\": {", "\"linux\":{", "linux.resources.devices: is not the file's last item"},
		{"\"ociVersion\"", "\"linux\": {}, \"ociVersion\"", "duplicate key linux"},
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		expect_policy_refused(&pol, c, text, refused[i].replace, refused[i].with, refused[i].msg);
	/* the network (docs/networking.md): bridge names its own namespace, host has none */
	struct pc_container nb = *c, nh = *c;
	nb.network = NET_BRIDGE;
	nh.network = NET_HOST;
	/* and its DNS mount, pycm-net's copy of the host's resolv.conf, before the volumes */
	static const char dns[] = "{\"destination\": \"/etc/resolv.conf\", \"type\": \"bind\", "
				  "\"source\": \"/run/pycontainers/netns/counter.resolv.conf\", "
				  "\"options\": [\"bind\", \"ro\", \"nosuid\", \"nodev\", \"noexec\"]},\n    {\n      "
				  "\"destination\": \"/var/lib/counter\"";
	static const char volume[] = "{\n      \"destination\": \"/var/lib/counter\"";
	char *bridged = replace_all(text, volume, dns);
	expect_policy_taken(&pol, &nb, bridged, "\"type\": \"network\"",
			    "\"type\": \"network\", \"path\": \"/run/pycontainers/netns/counter\"");
	expect_policy_refused(&pol, &nb, bridged, "\"type\": \"network\"",
			      "\"type\": \"network\", \"path\": \"/run/pycontainers/netns/other\"",
			      "linux.namespaces[1].path: is not /run/pycontainers/netns/counter (network = bridge)");
	expect_policy_refused(&pol, &nb, bridged, "\"type\": \"network\"", "\"type\": \"network\"",
			      "linux.namespaces[1]: has no path /run/pycontainers/netns/counter (network = bridge)");
	char *ns = replace_all(bridged, "\"type\": \"network\"", "\"type\": \"network\", \"path\": \"/run/pycontainers/netns/counter\"");
	expect_policy_refused(&pol, &nb, ns, "counter.resolv.conf", "other.resolv.conf",
			      "mounts[9].source: is not /run/pycontainers/netns/counter.resolv.conf (network = bridge)");
	expect_policy_refused(&pol, &nb, ns, "\"ro\", \"nosuid\"", "\"rw\", \"nosuid\"",
			      "mounts[9].options[1]: is not the app policy's (\"ro\")");
	expect_policy_refused(&pol, &nb, ns, "\"/etc/resolv.conf\"", "\"/etc/passwd\"",
			      "mounts[9].destination: is not the app policy's (\"/etc/resolv.conf\")");
	expect_policy_refused(&pol, &nb, ns, "\"type\": \"bind\", \"source\"", "\"uid\": 0, \"type\": \"bind\", \"source\"",
			      "mounts[9].uid: not allowed in an app container");
	/* without it: the volume is taken for it and refused */
	expect_policy_refused(&pol, &nb, text, "\"type\": \"network\"",
			      "\"type\": \"network\", \"path\": \"/run/pycontainers/netns/counter\"",
			      "mounts[9].destination: is not the app policy's (\"/etc/resolv.conf\")");
	/* a DNS mount is no volume of a none container */
	expect_policy_refused(&pol, c, bridged, NULL, NULL,
			      "mounts[9].options: is not one of the app policy's volume mounts");
	free(ns);
	free(bridged);
	expect_policy_refused(&pol, c, text, "\"type\": \"network\"",
			      "\"type\": \"network\", \"path\": \"/run/pycontainers/netns/counter\"",
			      "linux.namespaces[1].path: not allowed in an app container");
	expect_policy_taken(&pol, &nh, text, "{\n        \"type\": \"network\"\n      },\n", "");
	expect_policy_refused(&pol, &nh, text, "\"type\": \"network\"", "\"type\": \"network\"",
			      "linux.namespaces[1]: a network namespace (network = host)");
	expect_policy_refused(&pol, c, text, "{\n        \"type\": \"network\"\n      },\n", "",
			      "no network namespace");
	/* the user: root here; with a user, /run belongs to it */
	struct pc_container u = *c;
	u.uid = 1000;
	u.gid = 1001;
	expect_policy_refused(&pol, &u, text, NULL, NULL, "process.user: 0:0 is not the user of its manifest section (1000:1001)");
	char *user = replace_all(text, "\"uid\": 0,\n      \"gid\": 0", "\"uid\": 1000, \"gid\": 1001");
	expect_policy_refused(&pol, &u, user, NULL, NULL, "mounts[7].options: is not the app policy's with uid=1000 and gid=1001");
	expect_policy_taken(&pol, &u, user, "\"size=16m\"\n      ]", "\"size=16m\", \"uid=1000\", \"gid=1001\"]");
	expect_policy_refused(&pol, &u, user, "\"size=16m\"\n      ]", "\"size=16m\", \"gid=1001\", \"uid=1000\"]",
		       "mounts[7].options: is not the app policy's with uid=1000 and gid=1001");
	free(user);
	/* a volume not in the manifest section */
	u = *c;
	u.nvolumes = 0;
	expect_policy_refused(&pol, &u, text, NULL, NULL, "mounts[9]: source /data/volumes/counter is not a volume of container counter");
	free(text);
	/* the host container's config is no app config */
	text = slurp(GOLDEN "containers/hostos/config.json", &len);
	CHECK(text && pc_policy_check(&pol, c, text, len, &err) == -1);
	free(text);
	pc_policy_free(&pol);
	/* a policy that is not one */
	CHECK(pc_policy_parse("{}", 2, "p.json", &pol, &err) == -1 &&
	      !strcmp(err.msg, "app policy p.json: not a pycontainers app policy: pycontainers-app-policy is not 1"));
	CHECK(pc_policy_parse("{", 1, "p.json", &pol, &err) == -1 && strstr(err.msg, "app policy p.json:1:2: unexpected end"));
	CHECK(pc_policy_load("/nonexistent/app-policy.json", &pol, &err) == -1 &&
	      !strcmp(err.msg, "app policy /nonexistent/app-policy.json: cannot open: No such file or directory"));
}

/* pycm-net's copy of the host's resolv.conf for a bridge container */
static void test_resolv(void)
{
	char out[256];
	static const char host[] = "# made by udhcpc\nnameserver 127.0.0.53\nnameserver 10.0.2.3\nnameserver ::1\n"
				   "search lan example.com\nsortlist 10.0.0.0\noptions ndots:2\nnameserver\tfd00::1\n"
				   "nameserverx 1.1.1.1\ndomain lan\nnameserver 127.1.1.1 # stub";
	int n = pc_net_resolv(host, strlen(host), out, sizeof out);
	static const char want[] = "nameserver 10.0.2.3\nsearch lan example.com\noptions ndots:2\nnameserver\tfd00::1\ndomain lan\n";
	CHECK(n == (int)strlen(want) && !strcmp(out, want));
	if (strcmp(out, want))
		fprintf(stderr, "  resolv: got '%s'\n", out);
	CHECK(pc_net_resolv("", 0, out, sizeof out) == 0 && !out[0]);
	CHECK(pc_net_resolv("nameserver 127.0.0.1\n", 21, out, sizeof out) == 0 && !out[0]);
	static const char nul[] = "nameserver 10.0.0.1\0evil\nnameserver 10.0.0.2\n";
	CHECK(pc_net_resolv(nul, sizeof nul - 1, out, sizeof out) == 20 && !strcmp(out, "nameserver 10.0.0.2\n"));
	CHECK(pc_net_resolv(host, strlen(host), out, 16) == -1);
}

/* a bridge container's eth0 MAC follows from its address (02:50 and the four bytes), and pycm-net
 * asks for it when it makes the veth pair: a container restarted (restart, crash, app update or
 * rollback) gets the MAC it had, so the host's neighbour entry for its address stays right (with
 * a random MAC the host kept sending to the old one: published ports dead for up to a minute) */
static bool has_bytes(const char *buf, size_t len, const char *want, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(buf + i, want, n))
			return true;
	return false;
}

static void test_veth_mac(void)
{
	unsigned char mac[6];
	uint32_t addr;
	inet_pton(AF_INET, "10.88.0.2", &addr);
	pc_net_mac(addr, mac);
	static const unsigned char want[6] = {0x02, 0x50, 10, 88, 0, 2};
	CHECK(!memcmp(mac, want, 6));
	inet_pton(AF_INET, "192.168.255.254", &addr);
	pc_net_mac(addr, mac);
	static const unsigned char want2[6] = {0x02, 0x50, 192, 168, 255, 254};
	CHECK(!memcmp(mac, want2, 6));
	/* the peer's IFLA_ADDRESS in the RTM_NEWLINK of the pair: length 4 + 6, type, the six bytes */
	static struct pc_nlbuf b;
	pc_nl_init(&b);
	pc_rt_veth(&b, "pcv00000001", "eth0", 7, want);
	struct nlattr a = {.nla_len = NLA_HDRLEN + 6, .nla_type = IFLA_ADDRESS};
	char attr[NLA_HDRLEN + 6];
	memcpy(attr, &a, sizeof a);
	memcpy(attr + NLA_HDRLEN, want, 6);
	CHECK(!b.overflow && has_bytes(b.buf, b.len, attr, sizeof attr));
	pc_nl_init(&b);
	pc_rt_veth(&b, "pcv00000001", "eth0", 7, NULL); /* none asked: the kernel's random one */
	CHECK(!b.overflow && !has_bytes(b.buf, b.len, attr, NLA_HDRLEN));
}

/* fmt.c (pycm's vsnprintf in its static build), here as pc_vsnprintf: the C library's output for
 * every form pycm uses, and a few more. */
int pc_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int pc_snprintf(char *buf, size_t size, const char *fmt, ...);

static int same_as_libc(size_t size, const char *fmt, ...)
{
	char ours[256], libc[256];
	va_list ap;
	va_start(ap, fmt);
	int a = pc_vsnprintf(ours, size, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	int b = vsnprintf(libc, size, fmt, ap);
	va_end(ap);
	if (a == b && (!size || !strcmp(ours, libc)))
		return 1;
	fprintf(stderr, "fmt %s: ours %d '%s', libc %d '%s'\n", fmt, a, size ? ours : "", b, size ? libc : "");
	return 0;
}

static void test_fmt(void)
{
	CHECK(same_as_libc(256, "pycm: %s %s", "container", "app"));
	CHECK(same_as_libc(256, "[%s] %.*s\n", "counter", 5, "hello world"));
	CHECK(same_as_libc(256, "%-20s %-8s %7d %8d%s%s", "hostos", "healthy", 123, -4, "", "x"));
	CHECK(same_as_libc(256, "%-20s %-8s %7s %8s", "NAME", "STATE", "PID", "RESTARTS"));
	CHECK(same_as_libc(256, "restarting in %lld.%03lld s", 12LL, 5LL));
	CHECK(same_as_libc(256, "%lld KiB, %zu bytes, %u lines, %c slot, 100%%", -9223372036854775807LL - 1, (size_t)4096,
			   4294967295u, 'A'));
	CHECK(same_as_libc(256, "%d %d %d %i", 0, -1, 2147483647, -2147483647 - 1));
	CHECK(same_as_libc(256, "%ld %lu %x %o %04o %05d %-5d| %.3d %.0d|", -7L, 7UL, 0xbeefu, 0755u, 0644u, -42, 42, 7, 0));
	CHECK(same_as_libc(256, "%.12s...%04o %.64s", "0123456789abcdef", 0755u, "short"));
	CHECK(same_as_libc(256, "%*d|%-*d|%.*d", 6, 42, 6, 42, 4, 42));
	CHECK(same_as_libc(256, "%hd %hhu", 70000, 300));
	CHECK(same_as_libc(8, "truncated %s", "output that is long"));
	CHECK(same_as_libc(1, "%s", "x"));
	CHECK(same_as_libc(0, "%d", 12345));
	char buf[4];
	CHECK(pc_snprintf(buf, sizeof buf, "%s", "abcdef") == 6 && !strcmp(buf, "abc"));
}

int main(void)
{
	test_fmt();
	test_json();
	test_policy();
	test_sha256();
	test_store();
	test_compose();
	test_hostile_listings();
	test_versions();
	test_valid();
	test_service();
	test_network_keys();
	test_resolv();
	test_veth_mac();
	test_errors();
	test_backoff();
	test_crashloop();
	test_slot();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
