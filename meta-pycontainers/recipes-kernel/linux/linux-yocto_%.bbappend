# Kernel configuration a pycontainers host needs (built in, so the initramfs loads no modules)
FILESEXTRAPATHS:prepend:pycontainers := "${THISDIR}/files:"
SRC_URI:append:pycontainers = " file://pycontainers.cfg"
SRC_URI:append:pycontainers:qemuall = " file://pycontainers-virtio.cfg"
# bridge networking, for devices with a network: bridge container (their machine sets PYCONTAINERS_NET)
SRC_URI:append:pycontainers = " ${@'file://pycontainers-net.cfg' if d.getVar('PYCONTAINERS_NET') == '1' else ''}"
