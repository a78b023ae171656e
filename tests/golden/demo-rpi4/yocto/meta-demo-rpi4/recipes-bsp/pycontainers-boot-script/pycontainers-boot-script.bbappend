# demo-rpi4: the A/B boot script, copied from the contract that pycontainers generated from
# conf/devices/demo-rpi4.yml; do not edit.
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
