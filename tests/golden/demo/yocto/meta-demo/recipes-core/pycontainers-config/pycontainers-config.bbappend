# demo: the manager's manifest, the release file, the app policy, the D-Bus config and fw_env.config, copied from the contract that pycontainers generated from
# conf/devices/demo.yml; do not edit.
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
