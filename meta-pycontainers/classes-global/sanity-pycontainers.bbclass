# Warn, with the fix, when the distro lacks what meta-pycontainers needs (after meta-rauc's
# sanity-meta-rauc.bbclass). The pycontainers distro has all of it; another distro can set
# SKIP_SANITY_PYCONTAINERS = "1" once it has made its own choices.

PYCONTAINERS_REQUIRED_DISTRO_FEATURES ??= "seccomp virtualization rauc"
PYCONTAINERS_REQUIRED_DISTRO_FEATURES[doc] = "DISTRO_FEATURES the layer checks for: seccomp (crun's syscall filter), virtualization (meta-virtualization's appends), rauc (meta-rauc's appends)."
SKIP_SANITY_PYCONTAINERS ??= "0"
SKIP_SANITY_PYCONTAINERS[doc] = "Set to 1 to silence the DISTRO_FEATURES check of meta-pycontainers."

addhandler pycontainers_distrocheck
pycontainers_distrocheck[doc] = "Warns when DISTRO_FEATURES lacks what meta-pycontainers needs."
pycontainers_distrocheck[eventmask] = "bb.event.SanityCheck"
python pycontainers_distrocheck() {
    if e.data.getVar('SKIP_SANITY_PYCONTAINERS') == "1":
        return
    features = set(e.data.getVar('DISTRO_FEATURES').split())
    missing = [f for f in e.data.getVar('PYCONTAINERS_REQUIRED_DISTRO_FEATURES').split() if f not in features]
    if missing:
        bb.warn("meta-pycontainers: DISTRO_FEATURES lacks %s. Use DISTRO = \"pycontainers\", or add "
                "DISTRO_FEATURES:append = \" %s\" to your distro configuration "
                "(or set SKIP_SANITY_PYCONTAINERS = \"1\")." % (", ".join(missing), " ".join(missing)))
    if 'systemd' in features:
        bb.warn("meta-pycontainers: DISTRO_FEATURES has systemd, but pycm is PID 1 on a pycontainers "
                "device. Use DISTRO = \"pycontainers\" or remove systemd from DISTRO_FEATURES.")
}
