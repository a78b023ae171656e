SUMMARY = "pycm, the pycontainers container manager (PID 1), and pycm-store"
DESCRIPTION = "Mounts the system, starts the containers of the manifest with crun, supervises \
               them, checks their health and marks the boot good for the A/B boot counter. \
               pycm-store, a child pycm runs, does the app store's work (app updates, GC, \
               verification, factory reset) outside PID 1."
SECTION = "base"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# The source is runtime/ of the pycontainers repository this layer is part of
# (meta-pycontainers/recipes-core/pycm/ -> ../../../runtime).
PYCM_SRCDIR ??= "${THISDIR}/../../.."
PYCM_SRCDIR[doc] = "Directory holding runtime/, the manager's source (default: the repository of meta-pycontainers)."
# nooelint: oelint.vars.fileextrapaths - the source is this repository, not a download
FILESEXTRAPATHS:prepend := "${PYCM_SRCDIR}:"

SRC_URI = "file://runtime"

# wrynose unpacks files into UNPACKDIR (and rejects S = WORKDIR); scarthgap has no UNPACKDIR
# and unpacks into WORKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}/runtime"
B = "${WORKDIR}/build"

# runtime/Makefile takes CC, CFLAGS and LDFLAGS from the environment bitbake exports and adds
# its own warning and section flags to them; O is the output directory
EXTRA_OEMAKE = "O='${B}'"

do_compile() {
    oe_runmake -C ${S} all
}

# /sbin/pycm, /sbin/pycm-store, /usr/bin/pycmctl and RAUC's pre-install handler
# /usr/libexec/pycontainers/rauc-pre-install (a link to pycm-store): the paths of the contract, as
# runtime/Makefile installs them
do_install() {
    oe_runmake -C ${S} install install-net DESTDIR=${D}
}

# /usr/sbin/pycm-net, bridge networking of app containers (docs/networking.md): a package of its
# own, which the image of a device installs only when a container has network: bridge
PACKAGES =+ "${PN}-net"
FILES:${PN}-net += "${sbindir}/pycm-net"

# PID 1 reads /etc/pycontainers/manifest and runs crun; fw_setenv marks the boot good
RDEPENDS:${PN} = "crun libubootenv-bin"
