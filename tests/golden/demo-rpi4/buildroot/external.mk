include $(sort $(wildcard $(BR2_EXTERNAL_PYCONTAINERS_PATH)/package/*/*.mk))
