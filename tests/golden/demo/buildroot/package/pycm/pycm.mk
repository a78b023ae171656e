################################################################################
#
# pycm
#
################################################################################

# the sources of pycontainers 0.1.0 (runtime/), copied into this tree by
# pycontainers generate; PYCM_OVERRIDE_SRCDIR in local.mk builds a checkout instead
PYCM_VERSION = 0.1.0
PYCM_SITE = $(BR2_EXTERNAL_PYCONTAINERS_PATH)/src/pycm
PYCM_SITE_METHOD = local
PYCM_LICENSE = MIT

# `all`: pycm, pycm-store and pycmctl; install puts them (and RAUC's pre-install handler, a link
# to pycm-store) at the paths of the contract
define PYCM_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(TARGET_CONFIGURE_OPTS) $(MAKE) -C $(@D) O=$(@D)/out all
endef

define PYCM_INSTALL_TARGET_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) O=$(@D)/out DESTDIR=$(TARGET_DIR) install
	$(if $(BR2_PACKAGE_PYCM_NET),$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) O=$(@D)/out DESTDIR=$(TARGET_DIR) install-net)
endef

$(eval $(generic-package))
