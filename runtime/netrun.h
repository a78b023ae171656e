/* pycm's side of bridge networking (docs/networking.md): pycm-net run before a network = bridge
 * container starts and after it is deleted. */
#ifndef PYCM_NETRUN_H
#define PYCM_NETRUN_H

#include "manifest.h"

/* the contract's path (generator/pycontainers/contract.py, PYCM_NET_PATH) */
#define PC_NET_PROGRAM "/usr/sbin/pycm-net"

/* `pycm-net up NAME BRIDGE ADDRESS/PREFIX GATEWAY PORTS...`: its exit status (0: wired). Run in
 * the child that then execs crun, so PID 1 does not wait for it. */
int pc_net_up(const struct pc_container *cfg);
/* `pycm-net down NAME`: the veth pair, the namespace and the ports' table removed. */
int pc_net_down(const struct pc_container *cfg);

#endif
