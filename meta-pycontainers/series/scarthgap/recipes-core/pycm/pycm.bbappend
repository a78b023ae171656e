# scarthgap only (series/scarthgap/ is in BBFILES only on that series, see conf/layer.conf).
# pycm RDEPENDS on crun, which meta-virtualization skips there without the systemd and seccomp
# distro features unless the pycontainers distro builds it (crun_git.bbappend). For any other
# distro lacking them, `bitbake world` would fail with "Nothing RPROVIDES 'crun'": pycm is
# skipped then, by the same distro features as crun. wrynose's crun needs neither.
inherit features_check
REQUIRED_DISTRO_FEATURES = "systemd seccomp"
REQUIRED_DISTRO_FEATURES:pycontainers = "seccomp"
