# A RAUC bundle of a pycontainers device: the slot image (ext4) in a signed verity bundle that
# RAUC installs into the inactive slot (rootfs_a or rootfs_b). Uses meta-rauc's bundle class.
#
# The key that signs it never lives in a layer: set RAUC_KEY_FILE (and RAUC_CERT_FILE when it is
# not the device's keyring) in local.conf or the kas file.

PYCONTAINERS_IMAGE ??= ""
PYCONTAINERS_IMAGE[doc] = "The device's A/B image recipe (pycontainers-image) whose ext4 goes into the bundle."

RAUC_BUNDLE_FORMAT = "verity"
RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "${PYCONTAINERS_IMAGE}"
RAUC_SLOT_rootfs[fstype] = "ext4"
# the contract's manifest.raucm names the slot image rootfs.ext4
RAUC_SLOT_rootfs[rename] = "rootfs.ext4"
# a bundle takes the slot's ext4, whatever image types the machine builds (meta-rauc derives its
# default slot image type from IMAGE_FSTYPES; a BSP may set that to wic)
IMAGE_FSTYPES = "ext4"
RAUC_IMAGE_FSTYPE = "ext4"

inherit bundle pycontainers-signing

# nooelint: oelint.task.noanonpython - fails early, naming the variable to set
python () {
    if not d.getVar('PYCONTAINERS_IMAGE'):
        bb.fatal("%s: set PYCONTAINERS_IMAGE to the device's image recipe" % d.getVar('PN'))
}
