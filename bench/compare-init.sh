#!/bin/sh
# shellcheck shell=dash disable=SC2013,SC2086,SC1091
# bench/compare.py's init, the same file in the slot of every variant (busybox sh).
# The kernel command line names the stack: bench.stack=pycm|docker|podman|none, bench.idle=SECONDS.
#
#   pycm    start the probe, then exec the manager (PID 1, it mounts what it needs itself)
#   docker  mount what dockerd needs, start it; on the first boot load and create the containers
#           from the image archives (/usr/share/bench/provision), later dockerd restarts them
#   podman  the same mounts; on the first boot load and create, at every boot `podman start`
#   none    the baseline: kernel, busybox and these mounts
#
# The probe prints `bench: KEY VALUE...` lines that bench/compare.py reads from the console:
# a container is running once a process whose root holds /etc/bench-name (the container's name,
# added to each image by the bench) also has its /run/ready (the health file of demo.yml).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
read -r up0 _ </proc/uptime
exec </dev/console >/dev/console 2>&1

stack=none
idle=60
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	bench.stack=*) stack=${arg#bench.stack=} ;;
	bench.idle=*) idle=${arg#bench.idle=} ;;
	esac
done
names=$(cat /usr/share/bench/containers 2>/dev/null)
echo "bench: init $stack $up0"

now() { read -r u _ </proc/uptime; echo "$u"; }

# The stack's own processes, by command name (comm is cut at 15 characters).
stack_pids() {
	local p c
	for p in /proc/[0-9]*; do
		read -r c <"$p/comm" 2>/dev/null || continue
		case "$c" in
		pycm | crun | dockerd | containerd | containerd-shim | runc | docker | docker-proxy | conmon | podman | catatonit)
			echo "${p#/proc/}" ;;
		esac
	done
}

# CPU ticks (user+system, with reaped children's) of the stack's processes.
stack_ticks() {
	local p line t=0
	for p in $(stack_pids); do
		read -r line <"/proc/$p/stat" 2>/dev/null || continue
		set -- $line
		t=$((t + ${14} + ${15} + ${16} + ${17}))
	done
	echo "$t"
}

# kB resident of the stack's processes, and one "comm:kB" per process.
stack_rss() {
	local p c k v total=0 each=
	for p in $(stack_pids); do
		read -r c <"/proc/$p/comm"
		while read -r k v _; do
			[ "$k" = VmRSS: ] && total=$((total + v)) && each="$each $c:$v"
		done <"/proc/$p/status"
	done
	echo "$total$each"
}

mem_used() {
	local k v total avail
	while read -r k v _; do
		case "$k" in MemTotal:) total=$v ;; MemAvailable:) avail=$v ;; esac
	done </proc/meminfo
	echo $((total - avail))
}

running() { # NAME: is a process of that container up with its ready file?
	local p n
	for p in /proc/[0-9]*; do
		[ -e "$p/root/run/ready" ] || continue
		read -r n <"$p/root/etc/bench-name" 2>/dev/null || continue
		[ "$n" = "$1" ] && return 0
	done
	return 1
}

count() { cat /data/volumes/counter/count 2>/dev/null || echo 0; }

restart_cmd() {
	case "$stack" in
	pycm) pycmctl restart "$1" ;;
	docker) docker restart "$1" ;;
	podman) podman restart "$1" ;;
	esac >/dev/null
}

probe() {
	left=$names first=
	i=0
	while [ -n "$left" ]; do
		still=
		for n in $left; do
			if running "$n"; then
				t=$(now)
				echo "bench: running $n $t"
				[ -n "$first" ] || first=$t
			else
				still="$still $n"
			fi
		done
		left=$still
		i=$((i + 1))
		[ "$i" -lt 6000 ] || { echo "bench: FAILED containers not running:$left"; return 1; }
		[ -z "$left" ] || usleep 50000
	done
	echo "bench: all-running $(now) first $first"
	sleep 5 # let start-up work settle before the idle window
	t1=$(stack_ticks)
	sleep "$idle"
	t2=$(stack_ticks)
	echo "bench: idle-ticks $((t2 - t1)) over $idle"
	echo "bench: mem-used $(mem_used)"
	echo "bench: stack-rss $(stack_rss)"
	old=$(count)
	t=$(now)
	restart_cmd counter || { echo "bench: FAILED restart"; return 1; }
	i=0
	while [ "$(count)" = "$old" ] || ! running counter; do
		i=$((i + 1))
		[ "$i" -lt 2000 ] || { echo "bench: FAILED counter did not restart"; return 1; }
		usleep 20000
	done
	echo "bench: restart $t $(now)"
	echo "bench: done"
}

# What pycm mounts for itself (runtime/pid1.c), for the peers and the baseline.
mounts() {
	mount -t sysfs sysfs /sys
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	for c in cpu memory pids; do echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control; done
	mkdir -p /dev/pts /dev/shm
	mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	mount -t tmpfs -o mode=0755,size=32m tmpfs /run
	mkdir -p /run/pycontainers/dns # as pycm at boot: the host container binds it (DNS)
	mount -t tmpfs -o mode=1777,size=32m tmpfs /tmp
	for uevent in /sys/class/block/*/uevent; do
		grep -qx PARTNAME=data "$uevent" && dev=$(sed -n 's/^DEVNAME=//p' "$uevent")
	done
	mount -t ext4 "/dev/$dev" /data || { echo "bench: FAILED no data partition"; return 1; }
	mkdir -p /data/volumes/counter
}

provision() { # the first boot of a peer: load the image archives, create the containers
	[ -e /data/bench-provisioned ] && return 0
	for n in $names; do
		"$1" load -q -i "/usr/share/bench/images/$n.tar" >/dev/null || return 1
	done
	. /usr/share/bench/provision || return 1
	: >/data/bench-provisioned
}

case "$stack" in
pycm)
	probe &
	exec /sbin/pycm
	;;
docker)
	mounts
	mkdir -p /data/docker /data/etc-docker
	mount --bind /data/etc-docker /etc/docker
	dockerd --data-root /data/docker --exec-root /run/docker --pidfile /run/docker.pid \
		--iptables=false --ip6tables=false --bridge=none --storage-driver overlay2 \
		--log-level warn >/run/dockerd.log 2>&1 &
	i=0
	until docker version >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -lt 600 ] || { echo "bench: FAILED dockerd did not start"; tail -20 /run/dockerd.log; break; }
		usleep 100000
	done
	echo "bench: daemon-up $(now)"
	if [ -e /data/bench-provisioned ]; then
		probe # dockerd restarts the containers itself (restart policy always)
	else
		provision docker && docker start $names >/dev/null && probe || echo "bench: FAILED provisioning"
	fi
	;;
podman)
	mounts
	# what podman writes outside its configured store (the slot is read-only)
	for d in /var/cache /var/lib/containers /var/lib/cni; do
		mkdir -p "/data/podman$d"
		mount --bind "/data/podman$d" "$d"
	done
	mkdir -p /data/tmp
	export TMPDIR=/data/tmp
	provision podman || echo "bench: FAILED provisioning"
	podman start $names >/dev/null || echo "bench: FAILED podman start"
	probe
	;;
none)
	mounts
	sleep 5
	echo "bench: mem-used $(mem_used)"
	echo "bench: done"
	;;
esac
while :; do sleep 3600; done
