# demo: the initramfs /init, copied from the contract that pycontainers generated from
# conf/devices/demo.yml; do not edit.
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
