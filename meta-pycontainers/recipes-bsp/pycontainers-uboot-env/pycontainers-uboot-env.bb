SUMMARY = "Initial A/B boot state of a pycontainers device (uboot-env.img)"
DESCRIPTION = "The raw U-Boot environment blob (CRC32) written into the uboot-env partition: \
               BOOT_ORDER and BOOT_<slot>_LEFT from the contract's uboot-env.txt. The device \
               layer provides uboot-env.txt with a bbappend."
SECTION = "bootloaders"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Its files come from the device layer (a bbappend that `pycontainers generate` writes): not
# buildable from this layer alone, so not part of a world build, and skipped, naming the
# missing files, when no device layer provides them (class pycontainers-device-files)
EXCLUDE_FROM_WORLD = "1"

DEPENDS = "u-boot-mkenvimage-native"
INHIBIT_DEFAULT_DEPS = "1"

SRC_URI = "file://uboot-env.txt"

# wrynose unpacks files into UNPACKDIR (and rejects S = WORKDIR); scarthgap has no UNPACKDIR
# and unpacks into WORKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"
B = "${WORKDIR}/build"

inherit deploy nopackages pycontainers-device-files

PYCONTAINERS_ENV_SIZE ??= "0x4000"
PYCONTAINERS_ENV_SIZE[doc] = "Size of the environment blob; the boot script and /etc/fw_env.config use the same."

do_configure[noexec] = "1"

do_compile() {
    mkenvimage -s ${PYCONTAINERS_ENV_SIZE} -o ${B}/uboot-env.img ${S}/uboot-env.txt
}

do_deploy() {
    install -d ${DEPLOYDIR}
    install -m 0644 ${B}/uboot-env.img ${DEPLOYDIR}/uboot-env.img
}
addtask deploy after do_compile before do_build

PACKAGE_ARCH = "${MACHINE_ARCH}"
