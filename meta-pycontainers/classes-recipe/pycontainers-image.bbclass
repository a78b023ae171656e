# The A/B host image of a pycontainers device (docs/contract.md in the pycontainers repository).
#
# One ext4 slot image holds the whole system: the kernel and the initramfs in /boot (U-Boot loads
# them from the slot it chose), pycm as /sbin/pycm, crun, RAUC, fw_printenv/fw_setenv, busybox,
# the manifest and the container bundles. The wic disk has the contract's GPT layout: boot
# (boot.scr), uboot-env (the A/B state), rootfs_a and rootfs_b (this image, twice), data.
#
# A device image recipe sets PYCONTAINERS_CONTAINERS and WKS_FILE; the device layer that
# `pycontainers generate` writes has one.

inherit image pycontainers-signing

PYCONTAINERS_KERNEL_IMAGE ??= "${KERNEL_IMAGETYPE}"
PYCONTAINERS_KERNEL_IMAGE[doc] = "Kernel image type copied to /boot/<type> of the slot; the boot script loads that file name. Must be one of KERNEL_IMAGETYPES."
PYCONTAINERS_INITRAMFS_IMAGE ??= "pycontainers-initramfs"
PYCONTAINERS_INITRAMFS_IMAGE[doc] = "Image recipe (cpio.gz) copied to /boot/initramfs.cpio.gz of the slot."
PYCONTAINERS_HOST_PACKAGES ??= "pycm crun rauc dbus libubootenv-bin busybox squashfs-tools pycontainers-config pycontainers-rauc-conf"
PYCONTAINERS_HOST_PACKAGES[doc] = "Packages of the host system in the slot (the containerised host OS runs in a container instead)."
PYCONTAINERS_CONTAINERS ??= ""
PYCONTAINERS_CONTAINERS[doc] = "Container bundle packages installed into the slot (recipes that inherit pycontainers-container)."
PYCONTAINERS_BOOT_DEPLOY ??= "pycontainers-boot-script:do_deploy pycontainers-uboot-env:do_deploy"
PYCONTAINERS_BOOT_DEPLOY[doc] = "Tasks deploying boot.scr and uboot-env.img, which the wks layout takes from DEPLOY_DIR_IMAGE."

IMAGE_INSTALL = "${PYCONTAINERS_HOST_PACKAGES} ${PYCONTAINERS_CONTAINERS}"
IMAGE_FEATURES = ""
IMAGE_LINGUAS = ""
ROOTFS_BOOTSTRAP_INSTALL = ""

PYCONTAINERS_IMAGE_FSTYPES ??= "ext4 wic"
PYCONTAINERS_IMAGE_FSTYPES[doc] = "Image types of the device image; keep ext4 (the slot image a RAUC bundle carries) and wic or a compressed wic (the whole disk)."
# set here, over the machine's IMAGE_FSTYPES ?= (a BSP's tar/ext3/sdimg types are no pycontainers disk)
IMAGE_FSTYPES = "${PYCONTAINERS_IMAGE_FSTYPES}"
# slots are never written while mounted: no journal
# nooelint: oelint.vars.specific - ext4 is an image type (IMAGE_FSTYPES), a valid override here
EXTRA_IMAGECMD:ext4 = "-i 4096 -O ^has_journal"
IMAGE_BOOT_FILES ??= "boot.scr"
# U-Boot runs boot.scr: none of the EFI/syslinux bootloaders wic would otherwise build for the
# disk (image_types_wic's weak default is applied after this class, so this is a plain assignment)
WKS_FILE_DEPENDS = "${WKS_FILE_DEPENDS_DEFAULT}"

# Kernel and initramfs into /boot of the slot, under the names the boot script loads
ROOTFS_POSTPROCESS_COMMAND += "pycontainers_boot_files"
pycontainers_boot_files[doc] = "Copies the kernel and the initramfs into /boot of the slot."
pycontainers_boot_files() {
    install -d ${IMAGE_ROOTFS}/boot
    install -m 0644 ${DEPLOY_DIR_IMAGE}/${PYCONTAINERS_KERNEL_IMAGE} ${IMAGE_ROOTFS}/boot/${PYCONTAINERS_KERNEL_IMAGE}
    install -m 0644 ${DEPLOY_DIR_IMAGE}/${PYCONTAINERS_INITRAMFS_IMAGE}${IMAGE_MACHINE_SUFFIX}.cpio.gz \
        ${IMAGE_ROOTFS}/boot/initramfs.cpio.gz
}
do_rootfs[depends] += "virtual/kernel:do_deploy ${PYCONTAINERS_INITRAMFS_IMAGE}:do_image_complete"
do_image_wic[depends] += "${PYCONTAINERS_BOOT_DEPLOY}"

# nooelint: oelint.task.noanonpython - checks at parse time that the kernel builds the image type
python () {
    kernel = d.getVar('PYCONTAINERS_KERNEL_IMAGE')
    if kernel not in (d.getVar('KERNEL_IMAGETYPES') or '').split() + [d.getVar('KERNEL_IMAGETYPE')]:
        bb.fatal("%s: PYCONTAINERS_KERNEL_IMAGE = \"%s\" is not built by the kernel; add it to "
                 "KERNEL_IMAGETYPES in the machine configuration" % (d.getVar('PN'), kernel))
}
