SUMMARY = "/init of the pycontainers initramfs"
DESCRIPTION = "The contract's initramfs/init: loads the listed modules, finds the slot named by \
               root=PARTLABEL=, mounts it read-only and switch_roots to /sbin/pycm. The device \
               layer provides init with a bbappend."
SECTION = "base"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Its files come from the device layer (a bbappend that `pycontainers generate` writes): not
# buildable from this layer alone, so not part of a world build, and skipped, naming the
# missing files, when no device layer provides them (class pycontainers-device-files)
EXCLUDE_FROM_WORLD = "1"

INHIBIT_DEFAULT_DEPS = "1"

SRC_URI = "file://init"

# wrynose unpacks files into UNPACKDIR (and rejects S = WORKDIR); scarthgap has no UNPACKDIR
# and unpacks into WORKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

inherit pycontainers-device-files

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -m 0755 ${S}/init ${D}/init
    install -d ${D}/proc ${D}/sys ${D}/dev ${D}/newroot
}

PACKAGE_ARCH = "${MACHINE_ARCH}"

FILES:${PN} += "/init /proc /sys /dev /newroot"
# the init script runs on busybox's shell and applets (mount, switch_root, insmod, usleep)
RDEPENDS:${PN} = "busybox"
