/* pycm-net (net.c): bridge networking of app containers over rtnetlink and nf_tables
 * (docs/networking.md). The message builders are exposed for the unit tests. */
#ifndef PYCM_NET_H
#define PYCM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PC_NETNS_DIR "/run/pycontainers/netns"
#define PC_NET_BRIDGE_PREFIX "pcbr"
#define PC_NET_MAX_PORTS 32
/* the host's resolver configuration, written by the host OS (its host container has the
 * directory read-write); a bridge container gets a copy, PC_NETNS_DIR/NAME.resolv.conf */
#define PC_DNS_DIR "/run/pycontainers/dns"
#define PC_DNS_FILE PC_DNS_DIR "/resolv.conf"
#define PC_RESOLV_MAX 4096
/* a bridge container's copy (printf format, of its name), bound on its /etc/resolv.conf */
#define PC_RESOLV_COPY PC_NETNS_DIR "/%s.resolv.conf"

struct pc_nlbuf {
	char buf[32768];
	size_t len;
	int nmsgs;
	bool overflow;
};

struct pc_port {
	uint16_t host, container;
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
};

void pc_nl_init(struct pc_nlbuf *b);
size_t pc_nl_msg(struct pc_nlbuf *b, uint16_t type, uint16_t flags, const void *hdr, size_t hdrlen);
void pc_nl_end(struct pc_nlbuf *b, size_t msg);
void pc_nl_attr(struct pc_nlbuf *b, uint16_t type, const void *data, size_t len);
void pc_nl_str(struct pc_nlbuf *b, uint16_t type, const char *s);
void pc_nl_u32(struct pc_nlbuf *b, uint16_t type, uint32_t v);
size_t pc_nl_nest(struct pc_nlbuf *b, uint16_t type);
void pc_nl_nest_end(struct pc_nlbuf *b, size_t nest);
int pc_nl_talk(int proto, struct pc_nlbuf *b);

void pc_nft_batch(struct pc_nlbuf *b, bool begin);
void pc_nft_table(struct pc_nlbuf *b, const char *table, bool add, bool excl);
void pc_nft_chain(struct pc_nlbuf *b, const char *table, const char *chain, const char *type, int hook, int prio);
void pc_nft_bridge_table(struct pc_nlbuf *b, const char *bridge, uint32_t subnet_be, int prefix);
void pc_nft_ports_table(struct pc_nlbuf *b, const char *name, uint32_t addr_be, const struct pc_port *ports, int n);
void pc_rt_bridge(struct pc_nlbuf *b, const char *name);
/* the pair NAME / PEER (PEER made in the namespace of peer_netns_fd), PEER's MAC peer_mac (NULL:
 * the kernel's random one) */
void pc_rt_veth(struct pc_nlbuf *b, const char *name, const char *peer, int peer_netns_fd,
		const unsigned char *peer_mac);
void pc_rt_link_set(struct pc_nlbuf *b, int index, int master);
void pc_rt_link_del(struct pc_nlbuf *b, const char *name);
void pc_rt_addr(struct pc_nlbuf *b, int index, uint32_t addr_be, int prefix);
void pc_rt_default_route(struct pc_nlbuf *b, int index, uint32_t gw_be);

int pc_net_parse_port(const char *s, struct pc_port *p);
/* A bridge container's resolv.conf from the host's (in: len bytes, NUL not needed): its
 * nameserver lines but those of loopback addresses (127.0.0.0/8, ::1: the host's own resolver is
 * not the container's loopback), and its search, domain and options lines; nothing else. out gets
 * at most size - 1 bytes and a NUL; the number of bytes, or -1 if they do not fit. */
int pc_net_resolv(const char *in, size_t len, char *out, size_t size);
/* A bridge container's eth0 MAC: 02:50 then its IPv4 address (locally administered, unique on the
 * device). A container restarted with the same address gets the same MAC, so the host's
 * neighbour entry stays right; with a random one the host kept sending to the old MAC until the
 * entry went stale (published ports and the bridge dead for up to a minute after a restart). */
void pc_net_mac(uint32_t addr_be, unsigned char mac[6]);
/* pcvXXXXXXXX: the host end of a container's veth pair (FNV-1a of its name). */
void pc_net_veth_name(const char *container, char out[16]);
int pc_net_main(int argc, char **argv);

#endif
