# For the recipes of this layer whose SRC_URI files only a device layer provides: the bbappend
# that `pycontainers generate` writes adds its files/ (boot.cmd, uboot-env.txt, init, manifest,
# system.conf, ...) to FILESEXTRAPATHS.
#
# Without a device layer (meta-pycontainers alone, as yocto-check-layer parses it, or a build that
# forgot the device layer) bitbake could not checksum those files and parsing would stop with
# "Unable to get checksum ... file could not be found". Such a recipe is skipped instead, the
# way upstream layers skip what their configuration cannot build: `bitbake <recipe>` (or a
# recipe depending on it) then prints the reason, naming the missing files and the fix.

# nooelint: oelint.task.noanonpython - skips the recipe at parse time, naming the missing files
python () {
    filespath = d.getVar('FILESPATH') or ''
    missing = []
    for uri in (d.getVar('SRC_URI') or '').split():
        if uri.startswith('file://'):
            path = uri[len('file://'):].split(';')[0]
            if not bb.utils.which(filespath, path):
                missing.append(path)
    if missing:
        raise bb.parse.SkipRecipe("needs %s from a device layer (the layer `pycontainers generate` "
                                  "writes, with a bbappend of %s): add that layer to BBLAYERS"
                                  % (", ".join(missing), d.getVar('PN')))
}
