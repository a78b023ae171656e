#define _GNU_SOURCE
#include "pid1.h"
#include "log.h"
#include "net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void try_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0 && errno != EBUSY)
		LOG("cannot mount %s on %s: %s", type, dst, strerror(errno));
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0) {
		/* a controller the kernel lacks: crun then runs without that limit */
	}
	close(fd);
}

void pc_early_mounts(void)
{
	try_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	try_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (access("/dev/null", F_OK) < 0) /* the initramfs normally hands devtmpfs over */
		try_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	try_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666");
	try_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	try_mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+pids");
	try_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=32m");
	/* where the host OS writes the host's resolv.conf (the host container binds it read-write) */
	mkdir("/run/pycontainers", 0755);
	mkdir(PC_DNS_DIR, 0755);
	try_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=32m");
}

int pc_mkdirs(const char *dir, struct pc_err *err)
{
	char p[PC_PATH_MAX];
	if (strlen(dir) >= sizeof p)
		return pc_error(err, ENAMETOOLONG, "mkdir %s", dir);
	strcpy(p, dir);
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return pc_error(err, errno, "mkdir %s", p);
			*s = '/';
		}
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return pc_error(err, errno, "mkdir %s", p);
	return 0;
}

int pc_partlabel_links(const char *sysfs, const char *devdir, struct pc_err *err)
{
	char dir[PC_PATH_MAX], path[PC_PATH_MAX * 2], text[1024];
	snprintf(dir, sizeof dir, "%s/disk/by-partlabel", devdir);
	if (pc_mkdirs(dir, err) < 0)
		return -1;
	DIR *d = opendir(sysfs);
	if (!d)
		return pc_error(err, errno, "opendir %s", sysfs);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/uevent", sysfs, e->d_name);
		if (pc_read_path(path, text, sizeof text) < 0)
			continue;
		char name[256] = "", dev[256] = "";
		for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "PARTNAME=", 9))
				snprintf(name, sizeof name, "%s", line + 9);
			else if (!strncmp(line, "DEVNAME=", 8))
				snprintf(dev, sizeof dev, "%s", line + 8);
		}
		if (!*name || !*dev || strchr(name, '/'))
			continue;
		char link[PC_PATH_MAX * 2], target[sizeof dev + 8];
		snprintf(link, sizeof link, "%s/%s", dir, name);
		snprintf(target, sizeof target, "../../%s", dev);
		unlink(link);
		if (symlink(target, link) < 0)
			LOG("cannot link %s: %s", link, strerror(errno));
	}
	closedir(d);
	return 0;
}

void pc_child_reset(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < 32; sig++) /* SIGKILL/SIGSTOP fail harmlessly */
		signal(sig, SIG_DFL);
}

int pc_run_wait(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		pc_child_reset();
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *find_e2fsck(void)
{
	static const char *paths[] = {"/sbin/e2fsck", "/usr/sbin/e2fsck", "/sbin/fsck.ext4", "/usr/sbin/fsck.ext4"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

bool pc_mount_data(const struct pc_manifest *m)
{
	mkdir("/data", 0755);
	for (int attempt = 0; attempt < 50; attempt++) { /* the disk may still be probing */
		if (access(m->data_device, F_OK) == 0)
			break;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (mount(m->data_device, "/data", m->data_fstype, MS_NOATIME | MS_NODEV | MS_NOSUID, NULL) == 0)
		return true;
	int first = errno;
	const char *fsck = find_e2fsck();
	if (fsck) {
		LOG("cannot mount %s on /data (%s); running %s -p", m->data_device, strerror(first), fsck);
		char *argv[] = {(char *)fsck, "-p", (char *)m->data_device, NULL};
		pc_run_wait(argv, false);
		if (mount(m->data_device, "/data", m->data_fstype, MS_NOATIME | MS_NODEV | MS_NOSUID, NULL) == 0)
			return true;
	}
	LOG("WARNING: /data is NOT mounted (%s: %s%s); containers with volumes will fail", m->data_device,
	    strerror(first), fsck ? ", e2fsck did not help" : ", no e2fsck in the image");
	return false;
}

void pc_final_shutdown(enum pc_action action)
{
	kill(-1, SIGTERM);
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	sync();
	if (umount2("/data", 0) < 0 && errno != EINVAL) {
		LOG("cannot unmount /data (%s); remounting it read-only", strerror(errno));
		mount(NULL, "/data", NULL, MS_REMOUNT | MS_RDONLY, NULL);
	}
	sync();
	LOG("%s", action == ACTION_REBOOT ? "rebooting" : action == ACTION_HALT ? "halting" : "powering off");
	reboot(action == ACTION_REBOOT ? RB_AUTOBOOT : action == ACTION_HALT ? RB_HALT_SYSTEM : RB_POWER_OFF);
	for (;;)
		pause();
}
