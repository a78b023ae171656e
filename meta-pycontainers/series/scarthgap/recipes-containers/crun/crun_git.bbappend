# scarthgap only (series/scarthgap/ is in BBFILES only on that series, see conf/layer.conf).
# meta-virtualization's crun 1.14 there has REQUIRED_DISTRO_FEATURES ?= "systemd seccomp" and an
# unconditional DEPENDS += "systemd", so a distro without systemd skips it ("Nothing RPROVIDES
# 'crun'"). crun itself builds without libsystemd; pycm starts it directly.
# wrynose's crun 1.26 needs none of this: systemd and seccomp are PACKAGECONFIGs there that
# follow DISTRO_FEATURES.
REQUIRED_DISTRO_FEATURES:pycontainers = "seccomp"
DEPENDS:remove:pycontainers = "systemd"
EXTRA_OECONF:append:pycontainers = " --disable-systemd"
