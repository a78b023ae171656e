# demo: the initial A/B boot state, copied from the contract that pycontainers generated from
# conf/devices/demo.yml; do not edit.
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
