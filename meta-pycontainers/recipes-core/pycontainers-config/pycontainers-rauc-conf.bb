SUMMARY = "RAUC system configuration and keyring of a pycontainers device"
DESCRIPTION = "/etc/rauc/system.conf (A/B slots, U-Boot backend) and /etc/rauc/keyring.pem, \
               the certificate bundles are checked against. Replaces meta-rauc's rauc-conf, \
               which installs to /etc/rauc on scarthgap but to /usr/lib/rauc on wrynose; the \
               contract names /etc/rauc on both. The device layer provides the files."
SECTION = "base"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Its files come from the device layer (a bbappend that `pycontainers generate` writes): not
# buildable from this layer alone, so not part of a world build, and skipped, naming the
# missing files, when no device layer provides them (class pycontainers-device-files)
EXCLUDE_FROM_WORLD = "1"

INHIBIT_DEFAULT_DEPS = "1"

SRC_URI = "file://system.conf \
           file://keyring.pem \
           "

# wrynose unpacks files into UNPACKDIR (and rejects S = WORKDIR); scarthgap has no UNPACKDIR
# and unpacks into WORKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

inherit pycontainers-device-files

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${sysconfdir}/rauc
    install -m 0644 ${S}/system.conf ${D}${sysconfdir}/rauc/system.conf
    install -m 0644 ${S}/keyring.pem ${D}${sysconfdir}/rauc/keyring.pem
}

PACKAGE_ARCH = "${MACHINE_ARCH}"

RPROVIDES:${PN} = "virtual-rauc-conf"
