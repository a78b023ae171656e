/* A hostile app container's probe (qemu/test_security.py): tries what a confined container must
 * not be able to do and prints one line per attempt,
 *
 *   probe NAME=refused (ERRNO TEXT)      the kernel said no
 *   probe NAME=ALLOWED [detail]          it worked: the test fails on it
 *
 * Modes: `hostile probe` runs every attempt; `hostile hog` allocates and touches memory until it
 * is killed (its cgroup's memory.max); `hostile bomb` forks until its pids limit and keeps trying; `hostile mknod-read TYPE MAJOR MINOR` makes a node in /dev
 * and reads from it. Built statically for the board with Debian's cross compiler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static void report(const char *name, int rc, const char *detail)
{
	if (rc < 0)
		printf("probe %s=refused (%s)\n", name, strerror(errno));
	else
		printf("probe %s=ALLOWED %s\n", name, detail ? detail : "");
	fflush(stdout);
}

/* mknod NAME in /dev (a tmpfs: nodev does not stop it), then open and read it */
static void mknod_read(const char *name, char type, unsigned maj, unsigned min)
{
	char path[64], what[96], buf[512];
	snprintf(path, sizeof path, "/dev/probe-%s", name);
	unlink(path);
	if (mknod(path, (type == 'b' ? S_IFBLK : S_IFCHR) | 0600, makedev(maj, min)) < 0) {
		snprintf(what, sizeof what, "mknod-%s", name);
		report(what, -1, NULL);
		return;
	}
	snprintf(what, sizeof what, "open-%s", name);
	int fd = open(path, O_RDWR | O_NONBLOCK);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		report(what, -1, NULL);
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf); /* an RTC without interrupts says EAGAIN */
	char detail[64];
	snprintf(detail, sizeof detail, "(read: %zd bytes%s)", n, n < 0 ? ", failed" : "");
	report(what, 0, detail);
	close(fd);
}

/* the first whole disk of /proc/partitions (the host's; a container sees its names) */
static int first_disk(unsigned *maj, unsigned *min, char *name, size_t size)
{
	FILE *f = fopen("/proc/partitions", "r");
	char line[256], dev[64];
	unsigned a, b;
	unsigned long long blocks;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%u %u %llu %63s", &a, &b, &blocks, dev) == 4 && b % 16 == 0) {
			*maj = a;
			*min = b;
			snprintf(name, size, "%s", dev);
			fclose(f);
			return 0;
		}
	if (f)
		fclose(f);
	return -1;
}

static void write_file(const char *name, const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	int rc = fd < 0 ? -1 : (int)write(fd, text, strlen(text));
	report(name, rc, path);
	if (fd >= 0)
		close(fd);
}

static void probe(void)
{
	unsigned maj, min;
	char disk[64];
	if (first_disk(&maj, &min, disk, sizeof disk) == 0)
		mknod_read("disk", 'b', maj, min);
	else
		printf("probe disk=unknown (no disk in /proc/partitions)\n");
	/* a device the host has and another container was given: the RTC */
	FILE *f = fopen("/proc/devices", "r");
	char line[128], dname[64];
	unsigned rtc = 0;
	while (f && fgets(line, sizeof line, f) && strncmp(line, "Block", 5))
		if (sscanf(line, "%u %63s", &maj, dname) == 2 && !strcmp(dname, "rtc"))
			rtc = maj;
	if (f)
		fclose(f);
	if (rtc)
		mknod_read("rtc", 'c', rtc, 0);
	report("rtc0-present", access("/dev/rtc0", F_OK), NULL);
	report("unshare-user", unshare(CLONE_NEWUSER), NULL);
	report("unshare-net", unshare(CLONE_NEWNET), NULL);
	report("unshare-mount", unshare(CLONE_NEWNS), NULL);
	report("mount-tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL), NULL);
	report("keyctl", (int)syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 1), NULL);
	report("add_key", (int)syscall(SYS_add_key, "user", "probe", "x", 1, -3), NULL);
	uint32_t params[30] = {0};
	report("io_uring", (int)syscall(SYS_io_uring_setup, 4, params), NULL);
	uint64_t args[11] = {0};
	long c3 = syscall(SYS_clone3, args, sizeof args);
	if (c3 == 0)
		_exit(0);
	report("clone3", (int)c3, NULL);
	/* /proc/kcore is masked (an empty file), /sys and /proc/sys are read-only */
	int fd = open("/proc/kcore", O_RDONLY);
	char buf[64];
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
	if (fd >= 0)
		close(fd);
	if (n == 0)
		errno = EPERM, n = -1; /* masked: nothing to read */
	report("read-kcore", (int)n, NULL);
	write_file("write-sys", "/sys/kernel/uevent_helper", "/bin/sh");
	write_file("write-proc-sys", "/proc/sys/kernel/hostname", "owned");
	write_file("write-sysrq", "/proc/sysrq-trigger", "s");
	/* the manager's control socket and another container's volume are not in this container */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, "/run/pycm/control.sock");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	report("control-socket", s < 0 ? -1 : connect(s, (struct sockaddr *)&sa, sizeof sa), NULL);
	report("other-volume", access("/data/volumes/keeper", F_OK), NULL);
	report("host-data", access("/data", F_OK), NULL);
	printf("probe done\n");
	fflush(stdout);
}

/* a fork bomb that holds on: every child waits, the parent forks again whatever fork says */
static void bomb(void)
{
	unsigned n = 0;
	for (;;) {
		pid_t pid = fork();
		if (pid == 0)
			for (;;)
				pause();
		if (pid > 0 && ++n % 128 == 0) {
			printf("bomb: %u processes\n", n);
			fflush(stdout);
		}
	}
}

static void hog(void)
{
	size_t total = 0;
	for (;;) {
		char *p = malloc(1 << 20);
		if (!p)
			continue;
		memset(p, 1, 1 << 20);
		total += 1;
		if (total % 32 == 0) {
			printf("hog: %zu MiB\n", total);
			fflush(stdout);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "probe"))
		probe();
	else if (argc >= 2 && !strcmp(argv[1], "hog"))
		hog();
	else if (argc >= 2 && !strcmp(argv[1], "bomb"))
		bomb();
	else if (argc == 5 && !strcmp(argv[1], "mknod-read"))
		mknod_read(argv[2], argv[3][0], (unsigned)atoi(argv[4]), 0);
	else {
		fprintf(stderr, "usage: hostile probe | hog | bomb | mknod-read NAME TYPE MAJOR\n");
		return 2;
	}
	return 0;
}
