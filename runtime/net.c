/* pycm-net: bridge networking of app containers (docs/networking.md), over netlink only.
 *
 *   pycm-net up NAME BRIDGE ADDRESS/PREFIX GATEWAY [HOST:CONTAINER/PROTO...]
 *   pycm-net down NAME
 *   pycm-net list
 *
 * up makes the network namespace /run/pycontainers/netns/NAME (which the container's config.json
 * names), the bridge BRIDGE with GATEWAY/PREFIX if it does not exist yet, with its nf_tables table
 * `ip pycontainers-BRIDGE` (masquerade of the bridge's subnet to other interfaces; forwarding from
 * it to another pycontainers bridge dropped), a veth pair pcvXXXXXXXX (a hash of NAME) on the
 * bridge / eth0 in the namespace with ADDRESS, the MAC 02:50:ADDRESS (the same after every restart:
 * the host's neighbour entry for ADDRESS stays right) and a default route via GATEWAY, and, with ports,
 * the table `ip pycontainers-c-NAME` that forwards each published port to the container (DNAT).
 * IPv4 forwarding is switched on. down removes what up made for NAME: the veth pair, the
 * namespace, the container's table (the bridge and its table stay for the next container). up
 * begins with a down, so a container that died with its manager leaves nothing behind either.
 * list prints the pycontainers links (from /sys/class/net) and nf_tables tables with their rule
 * counts, for tests and `pycmctl`. pycm runs it in the child that then execs crun (up) and after
 * `crun delete` (down). Every error is one line on stderr; exit 1. */
#define _GNU_SOURCE
#include "net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <linux/sched.h> /* CLONE_NEWNET (<sched.h> is pycm's own sched.h on -I.) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* <sched.h>'s, with _GNU_SOURCE (glibc and musl) */
int setns(int fd, int nstype);
int unshare(int flags);

/* ------------------------------------------------------------------ message building */

void pc_nl_init(struct pc_nlbuf *b)
{
	b->len = 0;
	b->nmsgs = 0;
	b->overflow = false;
}

static void *room(struct pc_nlbuf *b, size_t n)
{
	size_t aligned = NLMSG_ALIGN(n);
	if (b->overflow || b->len + aligned > sizeof b->buf) {
		b->overflow = true;
		return NULL;
	}
	void *p = b->buf + b->len;
	memset(p, 0, aligned);
	b->len += aligned;
	return p;
}

size_t pc_nl_msg(struct pc_nlbuf *b, uint16_t type, uint16_t flags, const void *hdr, size_t hdrlen)
{
	size_t at = b->len;
	struct nlmsghdr *h = room(b, NLMSG_HDRLEN);
	void *x = room(b, hdrlen);
	if (!h || !x)
		return at;
	h->nlmsg_type = type;
	h->nlmsg_flags = flags;
	h->nlmsg_seq = (uint32_t)++b->nmsgs;
	memcpy(x, hdr, hdrlen);
	return at;
}

void pc_nl_end(struct pc_nlbuf *b, size_t msg)
{
	if (!b->overflow)
		((struct nlmsghdr *)(b->buf + msg))->nlmsg_len = (uint32_t)(b->len - msg);
}

void pc_nl_attr(struct pc_nlbuf *b, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = room(b, NLA_HDRLEN + len);
	if (!a)
		return;
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
}

void pc_nl_str(struct pc_nlbuf *b, uint16_t type, const char *s)
{
	pc_nl_attr(b, type, s, strlen(s) + 1);
}

void pc_nl_u32(struct pc_nlbuf *b, uint16_t type, uint32_t v)
{
	pc_nl_attr(b, type, &v, sizeof v);
}

size_t pc_nl_nest(struct pc_nlbuf *b, uint16_t type)
{
	size_t at = b->len;
	struct nlattr *a = room(b, NLA_HDRLEN);
	if (a)
		a->nla_type = type | NLA_F_NESTED;
	return at;
}

void pc_nl_nest_end(struct pc_nlbuf *b, size_t nest)
{
	if (!b->overflow)
		((struct nlattr *)(b->buf + nest))->nla_len = (uint16_t)(b->len - nest);
}

/* ---- nf_tables messages (the subsystem's header is a nfgenmsg of family ipv4) */

static size_t nft_msg(struct pc_nlbuf *b, uint16_t type, uint16_t flags)
{
	struct nfgenmsg g = {.nfgen_family = NFPROTO_IPV4, .version = NFNETLINK_V0, .res_id = 0};
	return pc_nl_msg(b, (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | type), flags, &g, sizeof g);
}

void pc_nft_batch(struct pc_nlbuf *b, bool begin)
{
	struct nfgenmsg g = {.nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons(NFNL_SUBSYS_NFTABLES)};
	pc_nl_end(b, pc_nl_msg(b, begin ? NFNL_MSG_BATCH_BEGIN : NFNL_MSG_BATCH_END, NLM_F_REQUEST, &g, sizeof g));
}

void pc_nft_table(struct pc_nlbuf *b, const char *table, bool add, bool excl)
{
	uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | (excl ? NLM_F_EXCL : 0) : 0);
	size_t m = nft_msg(b, add ? NFT_MSG_NEWTABLE : NFT_MSG_DELTABLE, flags);
	pc_nl_str(b, NFTA_TABLE_NAME, table);
	pc_nl_end(b, m);
}

void pc_nft_chain(struct pc_nlbuf *b, const char *table, const char *chain, const char *type, int hook, int prio)
{
	size_t m = nft_msg(b, NFT_MSG_NEWCHAIN, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
	pc_nl_str(b, NFTA_CHAIN_TABLE, table);
	pc_nl_str(b, NFTA_CHAIN_NAME, chain);
	size_t h = pc_nl_nest(b, NFTA_CHAIN_HOOK);
	pc_nl_u32(b, NFTA_HOOK_HOOKNUM, htonl((uint32_t)hook));
	pc_nl_u32(b, NFTA_HOOK_PRIORITY, htonl((uint32_t)prio));
	pc_nl_nest_end(b, h);
	pc_nl_str(b, NFTA_CHAIN_TYPE, type);
	pc_nl_end(b, m);
}

/* a rule: pc_nft_rule, then expressions, then pc_nft_rule_end */
struct rule {
	size_t msg, list;
};

static struct rule rule_begin(struct pc_nlbuf *b, const char *table, const char *chain)
{
	struct rule r;
	r.msg = nft_msg(b, NFT_MSG_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND);
	pc_nl_str(b, NFTA_RULE_TABLE, table);
	pc_nl_str(b, NFTA_RULE_CHAIN, chain);
	r.list = pc_nl_nest(b, NFTA_RULE_EXPRESSIONS);
	return r;
}

static void rule_end(struct pc_nlbuf *b, struct rule r)
{
	pc_nl_nest_end(b, r.list);
	pc_nl_end(b, r.msg);
}

static size_t expr_begin(struct pc_nlbuf *b, const char *name, size_t *data)
{
	size_t elem = pc_nl_nest(b, NFTA_LIST_ELEM);
	pc_nl_str(b, NFTA_EXPR_NAME, name);
	*data = pc_nl_nest(b, NFTA_EXPR_DATA);
	return elem;
}

static void expr_end(struct pc_nlbuf *b, size_t elem, size_t data)
{
	pc_nl_nest_end(b, data);
	pc_nl_nest_end(b, elem);
}

static void data_value(struct pc_nlbuf *b, uint16_t type, const void *v, size_t len)
{
	size_t d = pc_nl_nest(b, type);
	pc_nl_attr(b, NFTA_DATA_VALUE, v, len);
	pc_nl_nest_end(b, d);
}

static void e_meta(struct pc_nlbuf *b, uint32_t key)
{
	size_t d, e = expr_begin(b, "meta", &d);
	pc_nl_u32(b, NFTA_META_KEY, htonl(key));
	pc_nl_u32(b, NFTA_META_DREG, htonl(NFT_REG_1));
	expr_end(b, e, d);
}

static void e_cmp(struct pc_nlbuf *b, uint32_t op, const void *v, size_t len)
{
	size_t d, e = expr_begin(b, "cmp", &d);
	pc_nl_u32(b, NFTA_CMP_SREG, htonl(NFT_REG_1));
	pc_nl_u32(b, NFTA_CMP_OP, htonl(op));
	data_value(b, NFTA_CMP_DATA, v, len);
	expr_end(b, e, d);
}

static void e_payload(struct pc_nlbuf *b, uint32_t base, uint32_t offset, uint32_t len)
{
	size_t d, e = expr_begin(b, "payload", &d);
	pc_nl_u32(b, NFTA_PAYLOAD_DREG, htonl(NFT_REG_1));
	pc_nl_u32(b, NFTA_PAYLOAD_BASE, htonl(base));
	pc_nl_u32(b, NFTA_PAYLOAD_OFFSET, htonl(offset));
	pc_nl_u32(b, NFTA_PAYLOAD_LEN, htonl(len));
	expr_end(b, e, d);
}

static void e_mask(struct pc_nlbuf *b, uint32_t mask_be)
{
	uint32_t zero = 0;
	size_t d, e = expr_begin(b, "bitwise", &d);
	pc_nl_u32(b, NFTA_BITWISE_SREG, htonl(NFT_REG_1));
	pc_nl_u32(b, NFTA_BITWISE_DREG, htonl(NFT_REG_1));
	pc_nl_u32(b, NFTA_BITWISE_LEN, htonl(4));
	data_value(b, NFTA_BITWISE_MASK, &mask_be, 4);
	data_value(b, NFTA_BITWISE_XOR, &zero, 4);
	expr_end(b, e, d);
}

static void e_immediate(struct pc_nlbuf *b, uint32_t reg, const void *v, size_t len)
{
	size_t d, e = expr_begin(b, "immediate", &d);
	pc_nl_u32(b, NFTA_IMMEDIATE_DREG, htonl(reg));
	data_value(b, NFTA_IMMEDIATE_DATA, v, len);
	expr_end(b, e, d);
}

static void e_drop(struct pc_nlbuf *b)
{
	size_t d, e = expr_begin(b, "immediate", &d);
	pc_nl_u32(b, NFTA_IMMEDIATE_DREG, htonl(NFT_REG_VERDICT));
	size_t data = pc_nl_nest(b, NFTA_IMMEDIATE_DATA);
	size_t v = pc_nl_nest(b, NFTA_DATA_VERDICT);
	pc_nl_u32(b, NFTA_VERDICT_CODE, htonl(NF_DROP));
	pc_nl_nest_end(b, v);
	pc_nl_nest_end(b, data);
	expr_end(b, e, d);
}

static void e_ifname(struct pc_nlbuf *b, uint32_t key, uint32_t op, const char *name, bool prefix)
{
	char v[IFNAMSIZ] = {0};
	strncpy(v, name, sizeof v - 1);
	e_meta(b, key);
	e_cmp(b, op, v, prefix ? strlen(name) : sizeof v);
}

static const char *number(const char *s, unsigned *v)
{
	*v = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9' && p - s < 5; p++)
		*v = *v * 10 + (unsigned)(*p - '0');
	return p == s ? NULL : p;
}

int pc_net_parse_port(const char *s, struct pc_port *p)
{
	unsigned h, c;
	const char *t = number(s, &h);
	if (!t || *t != ':' || !(t = number(t + 1, &c)))
		return -1;
	uint8_t proto = IPPROTO_TCP;
	if (!strcmp(t, "/udp"))
		proto = IPPROTO_UDP;
	else if (*t && strcmp(t, "/tcp"))
		return -1;
	if (!h || !c || h > 65535 || c > 65535)
		return -1;
	p->host = (uint16_t)h;
	p->container = (uint16_t)c;
	p->proto = proto;
	return 0;
}

void pc_nft_bridge_table(struct pc_nlbuf *b, const char *bridge, uint32_t subnet_be, int prefix)
{
	char table[64];
	snprintf(table, sizeof table, "pycontainers-%s", bridge);
	uint32_t mask = htonl(prefix ? ~0u << (32 - prefix) : 0);
	pc_nft_table(b, table, true, true); /* EEXIST: made by an earlier up, with all that follows */
	pc_nft_chain(b, table, "postrouting", "nat", NF_INET_POST_ROUTING, 100);
	pc_nft_chain(b, table, "forward", "filter", NF_INET_FORWARD, 0);
	/* ip saddr SUBNET oifname != BRIDGE masquerade */
	struct rule r = rule_begin(b, table, "postrouting");
	e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 12, 4);
	e_mask(b, mask);
	e_cmp(b, NFT_CMP_EQ, &subnet_be, 4);
	e_ifname(b, NFT_META_OIFNAME, NFT_CMP_NEQ, bridge, false);
	size_t d, e = expr_begin(b, "masq", &d);
	expr_end(b, e, d);
	rule_end(b, r);
	/* iifname BRIDGE oifname "pcbr*" oifname != BRIDGE drop: networks do not reach each other */
	r = rule_begin(b, table, "forward");
	e_ifname(b, NFT_META_IIFNAME, NFT_CMP_EQ, bridge, false);
	e_ifname(b, NFT_META_OIFNAME, NFT_CMP_EQ, PC_NET_BRIDGE_PREFIX, true);
	e_ifname(b, NFT_META_OIFNAME, NFT_CMP_NEQ, bridge, false);
	e_drop(b);
	rule_end(b, r);
}

void pc_nft_ports_table(struct pc_nlbuf *b, const char *name, uint32_t addr_be, const struct pc_port *ports, int n)
{
	char table[80];
	snprintf(table, sizeof table, "pycontainers-c-%s", name);
	pc_nft_table(b, table, true, false);
	pc_nft_chain(b, table, "prerouting", "nat", NF_INET_PRE_ROUTING, -100);
	for (int i = 0; i < n; i++) {
		/* iifname != "pcbr*" meta l4proto P th dport HOST dnat to ADDR:CONTAINER */
		uint8_t proto = ports[i].proto;
		uint16_t hport = htons(ports[i].host), cport = htons(ports[i].container);
		struct rule r = rule_begin(b, table, "prerouting");
		e_ifname(b, NFT_META_IIFNAME, NFT_CMP_NEQ, PC_NET_BRIDGE_PREFIX, true);
		e_meta(b, NFT_META_L4PROTO);
		e_cmp(b, NFT_CMP_EQ, &proto, 1);
		e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
		e_cmp(b, NFT_CMP_EQ, &hport, 2);
		e_immediate(b, NFT_REG_1, &addr_be, 4);
		e_immediate(b, NFT_REG_2, &cport, 2);
		size_t d, e = expr_begin(b, "nat", &d);
		pc_nl_u32(b, NFTA_NAT_TYPE, htonl(NFT_NAT_DNAT));
		pc_nl_u32(b, NFTA_NAT_FAMILY, htonl(NFPROTO_IPV4));
		pc_nl_u32(b, NFTA_NAT_REG_ADDR_MIN, htonl(NFT_REG_1));
		pc_nl_u32(b, NFTA_NAT_REG_PROTO_MIN, htonl(NFT_REG_2));
		expr_end(b, e, d);
		rule_end(b, r);
	}
}

/* ---- rtnetlink messages */

static size_t link_msg(struct pc_nlbuf *b, uint16_t type, uint16_t flags, int index, unsigned up)
{
	struct ifinfomsg i = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = up, .ifi_change = up};
	return pc_nl_msg(b, type, NLM_F_REQUEST | NLM_F_ACK | flags, &i, sizeof i);
}

void pc_rt_bridge(struct pc_nlbuf *b, const char *name)
{
	size_t m = link_msg(b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0);
	pc_nl_str(b, IFLA_IFNAME, name);
	size_t li = pc_nl_nest(b, IFLA_LINKINFO);
	pc_nl_str(b, IFLA_INFO_KIND, "bridge");
	pc_nl_nest_end(b, li);
	pc_nl_end(b, m);
}

void pc_rt_veth(struct pc_nlbuf *b, const char *name, const char *peer, int peer_netns_fd,
		const unsigned char *peer_mac)
{
	size_t m = link_msg(b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0);
	pc_nl_str(b, IFLA_IFNAME, name);
	size_t li = pc_nl_nest(b, IFLA_LINKINFO);
	pc_nl_str(b, IFLA_INFO_KIND, "veth");
	size_t data = pc_nl_nest(b, IFLA_INFO_DATA);
	size_t p = pc_nl_nest(b, VETH_INFO_PEER);
	room(b, sizeof(struct ifinfomsg)); /* the peer's, all zero: AF_UNSPEC, no flags */
	pc_nl_str(b, IFLA_IFNAME, peer);
	pc_nl_u32(b, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	if (peer_mac)
		pc_nl_attr(b, IFLA_ADDRESS, peer_mac, 6);
	pc_nl_nest_end(b, p);
	pc_nl_nest_end(b, data);
	pc_nl_nest_end(b, li);
	pc_nl_end(b, m);
}

void pc_rt_link_set(struct pc_nlbuf *b, int index, int master)
{
	size_t m = link_msg(b, RTM_NEWLINK, 0, index, IFF_UP);
	if (master)
		pc_nl_u32(b, IFLA_MASTER, (uint32_t)master);
	pc_nl_end(b, m);
}

void pc_rt_link_del(struct pc_nlbuf *b, const char *name)
{
	size_t m = link_msg(b, RTM_DELLINK, 0, 0, 0);
	pc_nl_str(b, IFLA_IFNAME, name);
	pc_nl_end(b, m);
}

void pc_rt_addr(struct pc_nlbuf *b, int index, uint32_t addr_be, int prefix)
{
	struct ifaddrmsg a = {.ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix, .ifa_index = (unsigned)index};
	size_t m = pc_nl_msg(b, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &a, sizeof a);
	pc_nl_attr(b, IFA_LOCAL, &addr_be, 4);
	pc_nl_attr(b, IFA_ADDRESS, &addr_be, 4);
	pc_nl_end(b, m);
}

void pc_rt_default_route(struct pc_nlbuf *b, int index, uint32_t gw_be)
{
	struct rtmsg r = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
			  .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST};
	size_t m = pc_nl_msg(b, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &r, sizeof r);
	pc_nl_attr(b, RTA_GATEWAY, &gw_be, 4);
	pc_nl_u32(b, RTA_OIF, (uint32_t)index);
	pc_nl_end(b, m);
}

/* ------------------------------------------------------------------ talking to the kernel */

static int nl_open(int proto)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* Send b and wait for the answer of each of its messages that asked for one; 0, or the first
 * error as a negative errno. */
int pc_nl_talk(int proto, struct pc_nlbuf *b)
{
	if (b->overflow)
		return -ENOBUFS;
	int want = 0;
	for (size_t at = 0; at < b->len;) {
		const struct nlmsghdr *h = (const void *)(b->buf + at);
		want += (h->nlmsg_flags & NLM_F_ACK) != 0;
		at += NLMSG_ALIGN(h->nlmsg_len);
	}
	int fd = nl_open(proto);
	if (fd < 0)
		return -errno;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int rc = 0;
	if (sendto(fd, b->buf, b->len, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
		rc = -errno;
	static char reply[16384];
	while (!rc && want > 0) {
		ssize_t n = recv(fd, reply, sizeof reply, 0);
		if (n < 0) {
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		for (struct nlmsghdr *h = (void *)reply; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			want--;
			if (e->error && !rc)
				rc = e->error;
		}
	}
	close(fd);
	return rc;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pycm-net: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static int talk(int proto, struct pc_nlbuf *b, int ok_errno, const char *what)
{
	int rc = pc_nl_talk(proto, b);
	if (rc && rc != -ok_errno)
		return fail("%s: %s", what, strerror(-rc));
	return rc ? 1 : 0;
}

void pc_net_mac(uint32_t addr_be, unsigned char mac[6])
{
	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = 0x50;
	memcpy(mac + 2, &addr_be, 4); /* network order: 10.88.0.2 -> 0a:58:00:02 */
}

void pc_net_veth_name(const char *container, char out[IFNAMSIZ])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = container; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(out, IFNAMSIZ, "pcv%08x", h);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

static bool valid_bridge(const char *s)
{
	size_t n = strlen(PC_NET_BRIDGE_PREFIX);
	if (strncmp(s, PC_NET_BRIDGE_PREFIX, n) || !s[n] || strlen(s) > n + 3)
		return false;
	for (const char *p = s + n; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static bool loopback_ns(const char *addr, size_t n)
{
	return (n >= 4 && !strncmp(addr, "127.", 4)) || (n == 3 && !strncmp(addr, "::1", 3));
}

int pc_net_resolv(const char *in, size_t len, char *out, size_t size)
{
	static const char *const keep[] = {"nameserver", "search", "domain", "options"};
	size_t n = 0;
	if (!size)
		return -1;
	out[0] = '\0';
	for (size_t at = 0; at < len;) {
		const char *line = in + at, *nl = memchr(line, '\n', len - at);
		size_t ll = nl ? (size_t)(nl - line) : len - at;
		at += ll + 1;
		size_t k = 0;
		while (k < ll && line[k] != ' ' && line[k] != '\t')
			k++;
		bool wanted = false;
		for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
			wanted = wanted || (k == strlen(keep[i]) && !strncmp(line, keep[i], k));
		if (!wanted || memchr(line, '\0', ll))
			continue;
		if (k == strlen("nameserver") && !strncmp(line, "nameserver", k)) {
			size_t a = k;
			while (a < ll && (line[a] == ' ' || line[a] == '\t'))
				a++;
			size_t e = a;
			while (e < ll && line[e] != ' ' && line[e] != '\t' && line[e] != '\r')
				e++;
			if (e == a || loopback_ns(line + a, e - a))
				continue;
		}
		if (n + ll + 1 >= size)
			return -1;
		memcpy(out + n, line, ll);
		n += ll;
		out[n++] = '\n';
		out[n] = '\0';
	}
	return (int)n;
}

/* PC_NETNS_DIR/NAME.resolv.conf: pc_net_resolv of PC_DNS_FILE (no link followed), written to a
 * temporary file and renamed; with no PC_DNS_FILE (the host OS has not written it), a comment. */
static int write_resolv(const char *name)
{
	static char in[PC_RESOLV_MAX], out[PC_RESOLV_MAX + 128];
	char path[128], tmp[144];
	const char *problem = "missing";
	ssize_t len = -1;
	struct stat st;
	int fd = open(PC_DNS_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno != ENOENT)
		problem = strerror(errno);
	else if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)))
		problem = "not a regular file";
	else if (fd >= 0 && (len = read(fd, in, sizeof in)) < 0)
		problem = strerror(errno);
	else if (len == (ssize_t)sizeof in)
		problem = "larger than 4 KiB", len = -1;
	if (fd >= 0)
		close(fd);
	int n = len >= 0 ? pc_net_resolv(in, (size_t)len, out, sizeof out) : -1;
	if (n < 0) {
		if (fd >= 0 || strcmp(problem, "missing"))
			fail("%s: %s; container %s gets no name server", PC_DNS_FILE, problem, name);
		n = snprintf(out, sizeof out, "# no name server: %s was %s when %s started\n", PC_DNS_FILE, problem, name);
	}
	snprintf(path, sizeof path, PC_RESOLV_COPY, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return fail("creating %s: %s", tmp, strerror(errno));
	bool ok = write(fd, out, (size_t)n) == n;
	ok = !close(fd) && ok;
	if (!ok || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return fail("writing %s: %s", path, strerror(e));
	}
	return 0;
}

static int down(const char *name)
{
	char veth[IFNAMSIZ], path[128], table[80];
	struct pc_nlbuf *b = malloc(sizeof *b);
	int rc = 0;
	if (!b)
		return fail("out of memory");
	pc_net_veth_name(name, veth);
	pc_nl_init(b);
	pc_rt_link_del(b, veth);
	if (talk(NETLINK_ROUTE, b, ENODEV, "deleting the veth pair") < 0)
		rc = -1;
	snprintf(table, sizeof table, "pycontainers-c-%s", name);
	pc_nl_init(b);
	pc_nft_batch(b, true);
	pc_nft_table(b, table, false, false);
	pc_nft_batch(b, false);
	if (talk(NETLINK_NETFILTER, b, ENOENT, "deleting the ports table") < 0)
		rc = -1;
	free(b);
	snprintf(path, sizeof path, "%s/%s", PC_NETNS_DIR, name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		rc = fail("unmounting %s: %s", path, strerror(errno));
	if (unlink(path) < 0 && errno != ENOENT)
		rc = fail("removing %s: %s", path, strerror(errno));
	snprintf(path, sizeof path, PC_RESOLV_COPY, name);
	if (unlink(path) < 0 && errno != ENOENT)
		rc = fail("removing %s: %s", path, strerror(errno));
	return rc;
}

/* Make PATH a network namespace of its own: a child unshares one and binds it there. */
static int make_netns(const char *path)
{
	mkdir("/run/pycontainers", 0755);
	if (mkdir(PC_NETNS_DIR, 0755) < 0 && errno != EEXIST)
		return fail("mkdir %s: %s", PC_NETNS_DIR, strerror(errno));
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (fd < 0)
		return fail("creating %s: %s", path, strerror(errno));
	close(fd);
	pid_t pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(2);
		_exit(mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0 ? 3 : 0);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return fail("cannot make the network namespace %s (%s)", path,
			    pid < 0 ? strerror(errno) : WEXITSTATUS(status) == 2 ? "unshare" : "bind mount");
	return 0;
}

/* The index of an interface of the caller's current network namespace; 0 if there is none. */
static int ifindex(const char *name)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	int rc = ioctl(fd, SIOCGIFINDEX, &ifr);
	close(fd);
	return rc < 0 ? 0 : ifr.ifr_ifindex;
}

static int wait_child(pid_t pid)
{
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

/* In the namespace (a child that entered it): lo and eth0 up, the address, the route. */
static int inside(int nsfd, uint32_t addr, int prefix, uint32_t gw)
{
	pid_t pid = fork();
	if (pid == 0) {
		static struct pc_nlbuf b;
		if (setns(nsfd, CLONE_NEWNET) < 0)
			_exit(fail("entering the container's network namespace: %s", strerror(errno)) ? 1 : 0);
		int lo = ifindex("lo"), eth = ifindex("eth0");
		if (!lo || !eth)
			_exit(fail("no eth0 in the container's network namespace") ? 1 : 0);
		pc_nl_init(&b);
		pc_rt_link_set(&b, lo, 0);
		pc_rt_addr(&b, eth, addr, prefix);
		pc_rt_link_set(&b, eth, 0);
		pc_rt_default_route(&b, eth, gw);
		_exit(talk(NETLINK_ROUTE, &b, 0, "eth0 in the container") < 0 ? 1 : 0);
	}
	return wait_child(pid);
}

static int up(int argc, char **argv)
{
	const char *name = argv[0], *bridge = argv[1], *gwtext = argv[3];
	char cidr[32], veth[IFNAMSIZ], path[128];
	uint32_t addr, gw;
	int prefix = -1, nports = argc - 4;
	struct pc_port ports[PC_NET_MAX_PORTS];
	if (!valid_name(name))
		return fail("'%s' is not a container name", name);
	if (!valid_bridge(bridge))
		return fail("'%s' is not a bridge name (%sN)", bridge, PC_NET_BRIDGE_PREFIX);
	snprintf(cidr, sizeof cidr, "%s", argv[2]);
	char *slash = strchr(cidr, '/');
	if (slash) {
		*slash = '\0';
		char *end;
		long v = strtol(slash + 1, &end, 10);
		prefix = *end || end == slash + 1 || v < 8 || v > 30 ? -1 : (int)v;
	}
	if (prefix < 0 || inet_pton(AF_INET, cidr, &addr) != 1)
		return fail("'%s' is not ADDRESS/PREFIX (prefix 8 to 30)", argv[2]);
	if (inet_pton(AF_INET, gwtext, &gw) != 1)
		return fail("'%s' is not an IPv4 address", gwtext);
	uint32_t mask = htonl(~0u << (32 - prefix));
	if ((addr & mask) != (gw & mask) || addr == gw)
		return fail("%s and %s are not two addresses of one /%d", cidr, gwtext, prefix);
	if (nports > PC_NET_MAX_PORTS)
		return fail("more than %d ports", PC_NET_MAX_PORTS);
	for (int i = 0; i < nports; i++)
		if (pc_net_parse_port(argv[4 + i], &ports[i]) < 0)
			return fail("'%s' is not HOST:CONTAINER[/tcp|/udp] (ports 1 to 65535)", argv[4 + i]);

	if (down(name) < 0) /* what a container of this name left */
		return -1;
	static struct pc_nlbuf b;
	if (write_file("/proc/sys/net/ipv4/ip_forward", "1\n") < 0)
		return fail("switching on IPv4 forwarding: %s", strerror(errno));
	/* the bridge, its address and nf_tables table: made by the first container on it */
	pc_nl_init(&b);
	pc_rt_bridge(&b, bridge);
	if (talk(NETLINK_ROUTE, &b, EEXIST, "making the bridge") < 0)
		return -1;
	int br = ifindex(bridge);
	if (!br)
		return fail("no bridge %s", bridge);
	pc_nl_init(&b);
	pc_rt_addr(&b, br, gw, prefix);
	if (talk(NETLINK_ROUTE, &b, EEXIST, "the bridge's address") < 0)
		return -1;
	pc_nl_init(&b);
	pc_rt_link_set(&b, br, 0);
	if (talk(NETLINK_ROUTE, &b, 0, "bridge up") < 0)
		return -1;
	pc_nl_init(&b);
	pc_nft_batch(&b, true);
	pc_nft_bridge_table(&b, bridge, gw & mask, prefix);
	pc_nft_batch(&b, false);
	if (talk(NETLINK_NETFILTER, &b, EEXIST, "the bridge's nf_tables table (masquerade, isolation)") < 0)
		return -1;

	snprintf(path, sizeof path, "%s/%s", PC_NETNS_DIR, name);
	if (make_netns(path) < 0 || write_resolv(name) < 0) {
		down(name);
		return -1;
	}
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return fail("opening %s: %s", path, strerror(errno));
	pc_net_veth_name(name, veth);
	pc_nl_init(&b);
	unsigned char mac[6];
	pc_net_mac(addr, mac);
	pc_rt_veth(&b, veth, "eth0", nsfd, mac);
	int rc = talk(NETLINK_ROUTE, &b, 0, "making the veth pair");
	if (!rc) {
		int v = ifindex(veth);
		pc_nl_init(&b);
		pc_rt_link_set(&b, v, br);
		rc = !v ? fail("no interface %s", veth) : talk(NETLINK_ROUTE, &b, 0, "the veth on the bridge");
	}
	if (!rc)
		rc = inside(nsfd, addr, prefix, gw);
	close(nsfd);
	if (!rc && nports) {
		pc_nl_init(&b);
		pc_nft_batch(&b, true);
		pc_nft_ports_table(&b, name, addr, ports, nports);
		pc_nft_batch(&b, false);
		rc = talk(NETLINK_NETFILTER, &b, 0, "the published ports (nf_tables)");
	}
	if (rc) {
		down(name);
		return -1;
	}
	return 0;
}

/* ---- list: links and tables, one a line */

static int list(void)
{
	DIR *d = opendir("/sys/class/net");
	if (!d)
		return fail("/sys/class/net: %s", strerror(errno));
	for (struct dirent *e; (e = readdir(d));)
		if (!strncmp(e->d_name, "pcv", 3) || !strncmp(e->d_name, PC_NET_BRIDGE_PREFIX, strlen(PC_NET_BRIDGE_PREFIX)))
			printf("link %s\n", e->d_name);
	closedir(d);
	/* dump the ipv4 tables, then the rules: count rules per pycontainers table */
	static struct pc_nlbuf b;
	static char reply[65536];
	char names[64][96];
	int counts[64] = {0}, ntables = 0;
	for (int pass = 0; pass < 2; pass++) {
		pc_nl_init(&b);
		pc_nl_end(&b, nft_msg(&b, pass ? NFT_MSG_GETRULE : NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_DUMP));
		int fd = nl_open(NETLINK_NETFILTER);
		struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
		if (fd < 0 || sendto(fd, b.buf, b.len, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
			return fail("nf_tables: %s", strerror(errno));
		for (bool done = false; !done;) {
			ssize_t n = recv(fd, reply, sizeof reply, 0);
			if (n <= 0) {
				close(fd);
				return fail("nf_tables dump: %s", n < 0 ? strerror(errno) : "closed");
			}
			for (struct nlmsghdr *h = (void *)reply; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
				if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
					done = true;
					break;
				}
				/* the table's name is the first attribute of both (NFTA_TABLE_NAME, NFTA_RULE_TABLE) */
				const struct nlattr *a = (const void *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
				const char *t = (const char *)a + NLA_HDRLEN;
				if (h->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)) + NLA_HDRLEN ||
				    a->nla_type != 1 || a->nla_len <= NLA_HDRLEN || t[a->nla_len - NLA_HDRLEN - 1])
					continue;
				if (!pass && ntables < 64)
					snprintf(names[ntables++], sizeof names[0], "%s", t);
				for (int i = 0; pass && i < ntables; i++)
					counts[i] += !strcmp(names[i], t);
			}
		}
		close(fd);
	}
	for (int i = 0; i < ntables; i++)
		if (!strncmp(names[i], "pycontainers-", 13))
			printf("table %s rules %d\n", names[i], counts[i]);
	return 0;
}

int pc_net_main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[1], "up"))
		return up(argc - 2, argv + 2) < 0 ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "down")) {
		if (!valid_name(argv[2]))
			return fail("'%s' is not a container name", argv[2]) ? 1 : 1;
		return down(argv[2]) < 0 ? 1 : 0;
	}
	if (argc == 2 && !strcmp(argv[1], "list"))
		return list() < 0 ? 1 : 0;
	fprintf(stderr, "usage: pycm-net up NAME BRIDGE ADDRESS/PREFIX GATEWAY [HOST:CONTAINER[/tcp|/udp]...]\n"
			"       pycm-net down NAME\n       pycm-net list\n");
	return 2;
}
