SUMMARY = "U-Boot A/B boot script of a pycontainers device (boot.scr)"
DESCRIPTION = "Compiles the contract's boot.cmd (boot counting in the uboot-env partition, \
               kernel and initramfs from /boot of the chosen slot) into boot.scr for the boot \
               partition. The device layer provides boot.cmd with a bbappend."
SECTION = "bootloaders"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Its files come from the device layer (a bbappend that `pycontainers generate` writes): not
# buildable from this layer alone, so not part of a world build, and skipped, naming the
# missing files, when no device layer provides them (class pycontainers-device-files)
EXCLUDE_FROM_WORLD = "1"

DEPENDS = "u-boot-mkimage-native"
INHIBIT_DEFAULT_DEPS = "1"
# BSPs that let a recipe provide the boot script (meta-raspberrypi) select this one
PROVIDES += "u-boot-default-script"

SRC_URI = "file://boot.cmd"

# wrynose unpacks files into UNPACKDIR (and rejects S = WORKDIR); scarthgap has no UNPACKDIR
# and unpacks into WORKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"
B = "${WORKDIR}/build"

inherit kernel-arch deploy nopackages pycontainers-device-files

do_configure[noexec] = "1"

do_compile() {
    mkimage -A ${UBOOT_ARCH} -T script -C none -n "pycontainers A/B boot" -d ${S}/boot.cmd ${B}/boot.scr
}

do_deploy() {
    install -d ${DEPLOYDIR}
    install -m 0644 ${B}/boot.scr ${DEPLOYDIR}/boot.scr
}
addtask deploy after do_compile before do_build

PACKAGE_ARCH = "${MACHINE_ARCH}"
