# The busybox applets every pycontainers host calls (oe-core's defconfig lacks some, e.g. httpd for
# the containers, and its fragments follow the distro): files/pycontainers.cfg, rendered from the
# requirements table. The device layer adds its containers' applets with a fragment of its own.
FILESEXTRAPATHS:prepend:pycontainers := "${THISDIR}/files:"
SRC_URI:append:pycontainers = " file://pycontainers.cfg"
