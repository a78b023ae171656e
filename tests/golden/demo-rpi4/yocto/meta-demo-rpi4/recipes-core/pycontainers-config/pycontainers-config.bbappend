# demo-rpi4: the manager's manifest, the release file, the app policy, the D-Bus config and fw_env.config, copied from the contract that pycontainers generated from
# conf/devices/demo-rpi4.yml; do not edit.
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
