SUMMARY = "initramfs of a pycontainers slot (/boot/initramfs.cpio.gz)"
DESCRIPTION = "busybox and the contract's /init. The A/B image copies it into /boot of the \
               slot, where the boot script loads it. PYCONTAINERS_INITRAMFS_MODULES lists \
               kernel module packages for kernels that do not build the drivers in."
SECTION = "base"
LICENSE = "MIT"

# Its files come from the device layer (a bbappend that `pycontainers generate` writes): not
# buildable from this layer alone, so not part of a world build
EXCLUDE_FROM_WORLD = "1"

PYCONTAINERS_INITRAMFS_MODULES ??= ""
PYCONTAINERS_INITRAMFS_MODULES[doc] = "Kernel module packages for the initramfs; empty when the kernel has virtio/ext4 built in (recipes-kernel/linux/files/pycontainers.cfg)."

PACKAGE_INSTALL = "pycontainers-initramfs-init busybox ${PYCONTAINERS_INITRAMFS_MODULES}"

IMAGE_FEATURES = ""
IMAGE_LINGUAS = ""
IMAGE_FSTYPES = "cpio.gz"
IMAGE_NAME_SUFFIX ?= ""
IMAGE_ROOTFS_SIZE = "8192"
IMAGE_ROOTFS_EXTRA_SPACE = "0"
# no package manager bootstrap (run-postinsts) in an initramfs
ROOTFS_BOOTSTRAP_INSTALL = ""

inherit image
