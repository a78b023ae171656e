# One container as an OCI runtime bundle in the slot:
#   /usr/share/pycontainers/containers/<name>/config.json   the contract's runtime config
#   /usr/share/pycontainers/containers/<name>/rootfs/       its root filesystem (read-only)
#
# The root filesystem comes from exactly one of:
#   PYCONTAINERS_CONTAINER_IMAGE    an image recipe (pycontainers-container-image) of target packages
#   PYCONTAINERS_CONTAINER_OCI      an OCI image layout directory or archive (.tar) in SRC_URI
#   PYCONTAINERS_CONTAINER_OCI_REF  a registry reference copied by skopeo at build time
# OCI images are unpacked with umoci; skopeo and umoci are meta-virtualization's native tools.
# The recipe provides config.json in SRC_URI (the device layer copies it from the contract).

PYCONTAINERS_CONTAINER_NAME ??= "${PN}"
PYCONTAINERS_CONTAINER_NAME[doc] = "Container name: the bundle directory under /usr/share/pycontainers/containers."
PYCONTAINERS_CONTAINER_IMAGE ??= ""
PYCONTAINERS_CONTAINER_IMAGE[doc] = "Image recipe whose tar.gz becomes the root filesystem."
PYCONTAINERS_CONTAINER_OCI ??= ""
PYCONTAINERS_CONTAINER_OCI[doc] = "OCI image layout (directory or .tar archive, unpacked from SRC_URI into UNPACKDIR) holding one image."
PYCONTAINERS_CONTAINER_OCI_REF ??= ""
PYCONTAINERS_CONTAINER_OCI_REF[doc] = "Registry image for skopeo, e.g. docker://docker.io/library/busybox@sha256:...; pin a digest. Needs network in do_compile."
PYCONTAINERS_CONTAINER_MOUNTPOINTS ??= "/dev /proc /run /sys /tmp"
PYCONTAINERS_CONTAINER_MOUNTPOINTS[doc] = "Directories created in the read-only root filesystem for the mounts of config.json."
PYCONTAINERS_CONTAINER_MOUNTFILES ??= ""
PYCONTAINERS_CONTAINER_MOUNTFILES[doc] = "Files created (empty; a symlink there is replaced) in the read-only root filesystem for the file bind mounts of config.json, e.g. /etc/resolv.conf."

inherit image-artifact-names goarch

# wrynose unpacks files into UNPACKDIR (and rejects S = WORKDIR); scarthgap has no UNPACKDIR
# and unpacks into WORKDIR
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"
B = "${WORKDIR}/bundle"

PYCONTAINERS_BUNDLE_DIR = "${datadir}/pycontainers/containers/${PYCONTAINERS_CONTAINER_NAME}"

# nooelint: oelint.task.noanonpython - the dependencies follow the root filesystem source
python () {
    sources = [v for v in ('PYCONTAINERS_CONTAINER_IMAGE', 'PYCONTAINERS_CONTAINER_OCI', 'PYCONTAINERS_CONTAINER_OCI_REF')
               if d.getVar(v)]
    if len(sources) != 1:
        bb.fatal("%s: set exactly one of PYCONTAINERS_CONTAINER_IMAGE, PYCONTAINERS_CONTAINER_OCI, "
                 "PYCONTAINERS_CONTAINER_OCI_REF (set: %s)" % (d.getVar('PN'), ", ".join(sources) or "none"))
    if d.getVar('PYCONTAINERS_CONTAINER_IMAGE'):
        d.appendVarFlag('do_install', 'depends', ' %s:do_image_complete' % d.getVar('PYCONTAINERS_CONTAINER_IMAGE'))
    else:
        d.appendVar('DEPENDS', ' umoci-native')
    if d.getVar('PYCONTAINERS_CONTAINER_OCI_REF'):
        d.appendVar('DEPENDS', ' skopeo-native')
        d.setVarFlag('do_compile', 'network', '1')
}

do_configure[noexec] = "1"

# OCI images are unpacked here, rootless; image tarballs in do_install, where pseudo keeps their
# owners and modes
do_compile() {
    rm -rf ${B}/rootfs ${B}/oci ${B}/umoci
    [ -z "${PYCONTAINERS_CONTAINER_IMAGE}" ] || return 0
    if [ -n "${PYCONTAINERS_CONTAINER_OCI_REF}" ]; then
        skopeo copy --override-arch ${TARGET_GOARCH} "${PYCONTAINERS_CONTAINER_OCI_REF}" oci:${B}/oci:image
    elif [ -d "${S}/${PYCONTAINERS_CONTAINER_OCI}" ]; then
        cp -R "${S}/${PYCONTAINERS_CONTAINER_OCI}" ${B}/oci
    else
        mkdir -p ${B}/oci
        tar -xf "${S}/${PYCONTAINERS_CONTAINER_OCI}" -C ${B}/oci
    fi
    tag=$(umoci ls --layout ${B}/oci | head -n 1)
    [ -n "$tag" ] || bbfatal "${PYCONTAINERS_CONTAINER_OCI}${PYCONTAINERS_CONTAINER_OCI_REF}: no tagged image in the OCI layout"
    umoci unpack --rootless --image "${B}/oci:$tag" ${B}/umoci
    # no file of an image keeps its setuid/setgid bits, here or in the slot (docs/security-images.md)
    suid=$(cd ${B}/umoci/rootfs && find . ! -type d ! -type l -perm /6000 | LC_ALL=C sort | tr '\n' ' ')
    if [ -n "$suid" ]; then
        find ${B}/umoci/rootfs ! -type d ! -type l -perm /6000 -exec chmod ug-s {} +
        bbwarn "${PN}: setuid/setgid bits dropped (an image's files never run with raised privileges): $suid"
    fi
    mv ${B}/umoci/rootfs ${B}/rootfs
}

do_install() {
    install -d ${D}${PYCONTAINERS_BUNDLE_DIR}/rootfs
    install -m 0644 ${S}/config.json ${D}${PYCONTAINERS_BUNDLE_DIR}/config.json
    if [ -n "${PYCONTAINERS_CONTAINER_IMAGE}" ]; then
        tar -xzf ${DEPLOY_DIR_IMAGE}/${PYCONTAINERS_CONTAINER_IMAGE}${IMAGE_MACHINE_SUFFIX}${IMAGE_NAME_SUFFIX}.tar.gz \
            -C ${D}${PYCONTAINERS_BUNDLE_DIR}/rootfs
    else
        cp -R --no-preserve=ownership ${B}/rootfs/. ${D}${PYCONTAINERS_BUNDLE_DIR}/rootfs/
    fi
    # each mount point is made inside the root filesystem: a symlink of the image on the way that
    # leads out of it (absolute, or too many ..) stops the build, as a loop does (realpath -m
    # leaves a looping link unresolved)
    rootfs=$(realpath ${D}${PYCONTAINERS_BUNDLE_DIR}/rootfs)
    inside() {
        real=$(realpath -m "$rootfs$1")
        case "$real/" in
        "$rootfs"/*) ;;
        *) bbfatal "${PN}: mount point $1 leaves the root filesystem through a symlink of the image" ;;
        esac
        p=$real
        while [ "$p" != "$rootfs" ]; do
            [ ! -L "$p" ] || bbfatal "${PN}: mount point $1 runs through a symlink loop of the image"
            p=$(dirname "$p")
        done
    }
    for dir in ${PYCONTAINERS_CONTAINER_MOUNTPOINTS}; do
        inside "$dir"
        install -d "$real"
    done
    # a file mount point: a regular file stays, a symlink is replaced by an empty file (the
    # mount's source is what the path shows), a directory stops the build
    for file in ${PYCONTAINERS_CONTAINER_MOUNTFILES}; do
        inside "$(dirname "$file")"
        install -d "$real"
        name="$real/$(basename "$file")"
        [ ! -L "$name" ] || rm -f "$name"
        [ ! -d "$name" ] || bbfatal "${PN}: mount point $file is a directory in the image; a file is mounted there"
        [ -f "$name" ] || install -m 0644 /dev/null "$name"
    done
}

PACKAGE_ARCH = "${MACHINE_ARCH}"

FILES:${PN} += "${PYCONTAINERS_BUNDLE_DIR}"

# The bundle is a finished root filesystem: its binaries link against its own libraries, not
# the host's. Keep the package tools from stripping, splitting or scanning it.
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
INHIBIT_SYSROOT_STRIP = "1"
EXCLUDE_FROM_SHLIBS = "1"
SKIP_FILEDEPS = "1"
# nooelint: oelint.vars.insaneskip - the checks are for host binaries, not a container's own root filesystem
INSANE_SKIP:${PN} += "already-stripped arch file-rdeps ldflags libdir textrel dev-so staticdev"
