# Kernel configuration a pycontainers host needs, shared with linux-yocto (linux-raspberrypi
# requires linux-yocto.inc, so .cfg fragments in SRC_URI are merged the same way)
FILESEXTRAPATHS:prepend:pycontainers := "${THISDIR}/../../../../recipes-kernel/linux/files:"
SRC_URI:append:pycontainers = " file://pycontainers.cfg"
