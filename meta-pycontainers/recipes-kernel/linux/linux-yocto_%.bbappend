# Kernel configuration a pycontainers host needs (built in, so the initramfs loads no modules)
FILESEXTRAPATHS:prepend:pycontainers := "${THISDIR}/files:"
SRC_URI:append:pycontainers = " file://pycontainers.cfg"
SRC_URI:append:pycontainers:qemuall = " file://pycontainers-virtio.cfg"
