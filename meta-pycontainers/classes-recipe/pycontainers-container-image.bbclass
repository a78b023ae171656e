# The root filesystem of one container, built from target packages (a tarball in
# DEPLOY_DIR_IMAGE that a pycontainers-container recipe unpacks into its bundle).

PYCONTAINERS_CONTAINER_PACKAGES ??= "busybox"
PYCONTAINERS_CONTAINER_PACKAGES[doc] = "Packages installed into the container's root filesystem."

IMAGE_INSTALL = "${PYCONTAINERS_CONTAINER_PACKAGES}"
IMAGE_FEATURES = ""
IMAGE_LINGUAS = ""
IMAGE_FSTYPES = "tar.gz"
ROOTFS_BOOTSTRAP_INSTALL = ""
# a container needs no kernel modules and no device table
KERNELDEPMODDEPEND = ""

inherit image
