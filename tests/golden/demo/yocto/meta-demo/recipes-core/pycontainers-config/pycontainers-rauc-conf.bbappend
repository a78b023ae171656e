# demo: RAUC's system.conf and the keyring bundles are checked against, copied from the contract that pycontainers generated from
# conf/devices/demo.yml; do not edit.
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
