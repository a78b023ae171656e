# Release builds refuse a device that trusts a development signing key: the Yocto equivalent of
# `pycontainers build/bundle/app-bundle --release`. The image and bundle classes inherit it.
#
# The generated device layer sets PYCONTAINERS_SIGNING from its release file's SIGNING line
# (/etc/pycontainers/release): "development" when the device file has no update.signing and
# `pycontainers generate` made a development key, "release" otherwise. A product sets
# PYCONTAINERS_RELEASE = "1" in local.conf (or a kas local_conf_header); the image and bundle of
# a device with a development key then fail to parse, naming the fix.

PYCONTAINERS_RELEASE ??= "0"
PYCONTAINERS_RELEASE[doc] = "1: a release build; images and bundles of a device whose keyring is a development key are refused."
PYCONTAINERS_SIGNING ??= ""
PYCONTAINERS_SIGNING[doc] = "The device's keyring: development or release (the SIGNING line of its release file); set by the generated device layer."

# nooelint: oelint.task.noanonpython - refuses a release build at parse time, naming the variable
python () {
    if bb.utils.to_boolean(d.getVar('PYCONTAINERS_RELEASE')) and d.getVar('PYCONTAINERS_SIGNING') == 'development':
        bb.fatal("%s: PYCONTAINERS_RELEASE = \"1\" refuses a device that trusts the development signing key "
                 "(PYCONTAINERS_SIGNING = \"development\": its device file has no update.signing); give "
                 "update.signing (key, cert) in the device file and run pycontainers generate again"
                 % d.getVar('PN'))
}
