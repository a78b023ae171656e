SUMMARY = "pycontainers device configuration: manifest, release, app policy, D-Bus, fw_env"
DESCRIPTION = "The files of the on-disk contract that configure the host: \
               /etc/pycontainers/manifest, /etc/pycontainers/release, \
               /etc/pycontainers/app-policy.json (what an app bundle's container configs may be), \
               /etc/pycontainers/dbus.conf \
               (the system bus the manager starts for rauc service) and /etc/fw_env.config, \
               plus the /data mount point. The device layer provides them with a bbappend."
SECTION = "base"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Its files come from the device layer (a bbappend that `pycontainers generate` writes): not
# buildable from this layer alone, so not part of a world build, and skipped, naming the
# missing files, when no device layer provides them (class pycontainers-device-files)
EXCLUDE_FROM_WORLD = "1"

INHIBIT_DEFAULT_DEPS = "1"

SRC_URI = "file://manifest \
           file://release \
           file://app-policy.json \
           file://fw_env.config \
           file://dbus.conf \
           "

# wrynose unpacks files into UNPACKDIR (and rejects S = WORKDIR); scarthgap has no UNPACKDIR
# and unpacks into WORKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

inherit pycontainers-device-files

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${sysconfdir}/pycontainers
    install -m 0644 ${S}/manifest ${D}${sysconfdir}/pycontainers/manifest
    install -m 0644 ${S}/release ${D}${sysconfdir}/pycontainers/release
    install -m 0644 ${S}/app-policy.json ${D}${sysconfdir}/pycontainers/app-policy.json
    install -m 0644 ${S}/dbus.conf ${D}${sysconfdir}/pycontainers/dbus.conf
    install -m 0644 ${S}/fw_env.config ${D}${sysconfdir}/fw_env.config
    install -d ${D}/data
}

PACKAGE_ARCH = "${MACHINE_ARCH}"

FILES:${PN} += "/data"
# the manager runs dbus-daemon with dbus.conf and rauc service on that bus
RDEPENDS:${PN} = "dbus"
CONFFILES:${PN} = "${sysconfdir}/fw_env.config"
