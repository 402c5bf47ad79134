/* SPDX-License-Identifier: Apache-2.0 */
#include "drivers/net/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

/* sendmmsg messages per call; the kernel caps vlen at UIO_MAXIOV (1024) anyway. */
#define TX_BATCH 64
/* Segments per UDP_SEGMENT send: the kernel's limit (UDP_MAX_SEGMENTS) is 64 before 6.10. */
#define GSO_MAX_SEGS 64
/* Bytes per GSO send: the whole super-datagram must fit an IP packet before segmentation. */
#define GSO_MAX_BYTES 65000
/* A receive with GRO can hold up to 64 KiB of coalesced datagrams. */
#define GRO_SLOT_SIZE 65535
#define MAX_DGRAM     65507

/* Room for a v6 pktinfo plus a UDP_GRO / UDP_SEGMENT value, with alignment slack. */
#define CTRL_SIZE 128

union ctrl_buf {
	struct cmsghdr align;
	uint8_t buf[CTRL_SIZE];
};

struct rx_slot {
	uint8_t *buf;
	uint32_t len;  /* bytes received */
	uint32_t off;  /* next byte not yet handed out */
	uint32_t seg;  /* GRO segment size, 0 when not coalesced */
	uint32_t refs; /* sl_pkt entries handed out and not released */
	uint16_t sock; /* which socket received it */
	bool pending;  /* still in the pending FIFO (has bytes not handed out) */
	socklen_t remote_len, local_len;
	struct sockaddr_storage remote, local;
	union ctrl_buf ctrl;
};

enum tx_state { TX_FREE = 0, TX_HELD = 1, TX_QUEUED = 2 };

struct tx_buf {
	uint8_t *buf;
	uint32_t len;
	uint16_t sock;
	uint8_t state;
	socklen_t remote_len, local_len; /* local_len 0: let the kernel choose the source */
	struct sockaddr_storage remote, local;
};

struct net_sock {
	int fd;
	int family;
	bool wildcard;	/* bound to 0.0.0.0 or [::]: the source address goes in a pktinfo cmsg */
	uint32_t drops; /* the kernel's drop count for this socket, as last reported */
	socklen_t addr_len;
	struct sockaddr_storage addr;
};

struct net_port {
	struct sl_pktio pio; /* first: the pktio pointer is the port pointer */
	struct net_sock socks[SL_NET_MAX_ADDRS];
	unsigned int nsocks;
	int epfd; /* aggregates several sockets for wait_fd; -1 with one socket */
	bool gso, gro;
	uint32_t max_dgram;

	/* Receive: slots, a stack of free ones, a FIFO of received ones with bytes to hand out. */
	uint32_t rx_batch, nslots, slot_size;
	struct rx_slot *slots;
	uint32_t *rx_free;
	uint32_t nfree;
	uint32_t *pend;
	uint32_t pend_head, pend_count;
	struct mmsghdr *rx_msgs;
	struct iovec *rx_iov;
	uint32_t *rx_idx;
	unsigned int rx_next_sock;

	/* Transmit: buffers, a stack of free ones, a FIFO of committed ones in commit order. */
	uint32_t ntx;
	struct tx_buf *tx;
	uint32_t *tx_free;
	uint32_t ntx_free;
	uint32_t *txq;
	uint32_t txq_head, txq_count;
	struct mmsghdr tx_msgs[TX_BATCH];
	union ctrl_buf tx_ctrl[TX_BATCH];
	uint32_t tx_msg_segs[TX_BATCH];
	struct iovec *tx_iov; /* ntx entries: one per queued buffer, at most */

	uint8_t *slab; /* every payload byte of both directions, one allocation */
};

static const struct sl_pktio_ops socket_ops;

static struct net_port *port_of(struct sl_pktio *p)
{
	return (struct net_port *)p;
}

static const struct net_port *cport_of(const struct sl_pktio *p)
{
	return (const struct net_port *)p;
}

/* ---- addresses ---- */

void sl_net_socket_config_default(struct sl_net_socket_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rx_batch = 32;
	cfg->rx_slots = 64;
	cfg->tx_bufs = 512;
	cfg->max_dgram = 1500;
	cfg->sock_buf = 4 << 20;
}

int sl_net_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	size_t hl;
	if (s == NULL || out == NULL || len == NULL)
		return SL_EINVAL;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return SL_EINVAL;
		hl = (size_t)(end - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return SL_EINVAL;
		memcpy(host, s + 1, hl);
		port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return SL_EINVAL; /* a bare IPv6 address needs brackets */
		hl = (size_t)(colon - s);
		if (hl == 0 || hl >= sizeof(host))
			return SL_EINVAL;
		memcpy(host, s, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	/* The port: 1 to 5 decimal digits, nothing else, at most 65535. */
	size_t pl = strlen(port);
	if (pl == 0 || pl > 5 || strspn(port, "0123456789") != pl)
		return SL_EINVAL;
	unsigned long pn = strtoul(port, NULL, 10);
	if (pn > 65535)
		return SL_EINVAL;
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return SL_EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)pn);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)out;
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return SL_EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)pn);
		*len = sizeof(*a4);
	}
	return 0;
}

char *sl_net_format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	if (size == 0)
		return buf;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(a4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else {
		snprintf(buf, size, "(family %d)", sa->sa_family);
	}
	return buf;
}

int sl_net_socket_config_add(struct sl_net_socket_config *cfg, const char *addr)
{
	if (cfg->naddrs >= SL_NET_MAX_ADDRS)
		return SL_ENOSPC;
	int rc = sl_net_parse_addr(addr, &cfg->addrs[cfg->naddrs], &cfg->addr_lens[cfg->naddrs]);
	if (rc == 0)
		cfg->naddrs++;
	return rc;
}

/* Same family, port and address (and scope for v6). Compares fields, not bytes, so padding
 * left by whoever filled the sockaddr cannot make two equal addresses differ. */
static bool addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static uint16_t addr_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_port;
	if (a->ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)a)->sin6_port;
	return 0;
}

static bool addr_is_wildcard(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
	return false;
}

static socklen_t family_len(int family)
{
	return family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* ---- open / close ---- */

static void set_buf_size(int fd, int bytes)
{
	if (bytes <= 0)
		return;
	/* The FORCE variants pass net.core.[rw]mem_max when we have CAP_NET_ADMIN; without it the
	 * plain ones give what the limit allows, which is still worth having. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

/* Creates, configures and binds one socket. Returns 0, SL_EIO (errno kept) or SL_ENOTSUP
 * (the family is not available on this host: optional binds skip it). */
static int open_sock(struct net_port *p, const struct sockaddr_storage *addr, socklen_t len,
		     bool reuseport, int sock_buf, bool *gso_ok, bool *gro_ok, bool *pktinfo_ok)
{
	char name[64];
	int one = 1, zero = 0;
	int family = addr->ss_family;
	sl_net_format_addr((const struct sockaddr *)addr, name, sizeof(name));
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0) {
		if (errno == EAFNOSUPPORT)
			return SL_ENOTSUP;
		SL_LOG(NET, ERR, "socket(%s): %s", name, strerror(errno));
		return SL_EIO;
	}
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	set_buf_size(fd, sock_buf);
	/* DF on, and no PMTU cache: QUIC sizes its own packets and must not be fragmented. */
	int probe = IP_PMTUDISC_PROBE;
	if (family == AF_INET)
		(void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof(probe));
	else
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe, sizeof(probe));
	int pi = family == AF_INET
			 ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
			 : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	if (pi != 0)
		*pktinfo_ok = false;
	/* Each datagram then carries the socket's drop count, so overflows become a counter
	 * instead of a mystery; old kernels without it simply report nothing. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	/* Setting a GSO size of 0 changes nothing but fails on kernels without UDP_SEGMENT. */
	if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) != 0)
		*gso_ok = false;
	if (*gro_ok && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) != 0)
		*gro_ok = false;
	if (bind(fd, (const struct sockaddr *)addr, len) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		if (e == EADDRNOTAVAIL && family == AF_INET6)
			return SL_ENOTSUP;
		SL_LOG(NET, ERR, "bind(%s): %s", name, strerror(e));
		return SL_EIO;
	}
	struct net_sock *s = &p->socks[p->nsocks];
	s->fd = fd;
	s->family = family;
	s->addr_len = sizeof(s->addr);
	if (getsockname(fd, (struct sockaddr *)&s->addr, &s->addr_len) != 0)
		goto fail;
	s->wildcard = addr_is_wildcard(&s->addr);
	p->nsocks++;
	return 0;
fail:;
	int e = errno;
	SL_LOG(NET, ERR, "configuring socket %s: %s", name, strerror(e));
	close(fd);
	errno = e;
	return SL_EIO;
}

static void port_free(struct net_port *p)
{
	for (unsigned int i = 0; i < p->nsocks; i++)
		close(p->socks[i].fd);
	if (p->epfd >= 0)
		close(p->epfd);
	free(p->slots);
	free(p->rx_free);
	free(p->pend);
	free(p->rx_msgs);
	free(p->rx_iov);
	free(p->rx_idx);
	free(p->tx);
	free(p->tx_free);
	free(p->txq);
	free(p->tx_iov);
	free(p->slab);
	free(p);
}

static int open_sockets(struct net_port *p, const struct sl_net_socket_config *cfg, bool *gso_ok,
			bool *gro_ok, bool *pktinfo_ok)
{
	if (cfg->client && cfg->naddrs == 0) {
		/* Ephemeral ports for both families; IPv6 only if the host has it. */
		struct sockaddr_storage any;
		memset(&any, 0, sizeof(any));
		any.ss_family = AF_INET;
		int rc = open_sock(p, &any, family_len(AF_INET), false, cfg->sock_buf, gso_ok,
				   gro_ok, pktinfo_ok);
		if (rc != 0)
			return rc == SL_ENOTSUP ? SL_EIO : rc;
		memset(&any, 0, sizeof(any));
		any.ss_family = AF_INET6;
		rc = open_sock(p, &any, family_len(AF_INET6), false, cfg->sock_buf, gso_ok, gro_ok,
			       pktinfo_ok);
		return rc == SL_ENOTSUP ? 0 : rc;
	}
	for (unsigned int i = 0; i < cfg->naddrs; i++) {
		int rc = open_sock(p, &cfg->addrs[i], cfg->addr_lens[i], !cfg->client,
				   cfg->sock_buf, gso_ok, gro_ok, pktinfo_ok);
		if (rc != 0) {
			if (rc == SL_ENOTSUP) {
				char name[64];
				sl_net_format_addr((const struct sockaddr *)&cfg->addrs[i], name,
						   sizeof(name));
				SL_LOG(NET, ERR, "cannot bind %s: address family not available",
				       name);
			}
			return SL_EIO;
		}
	}
	return 0;
}

static bool config_valid(const struct sl_net_socket_config *cfg)
{
	if (cfg->naddrs > SL_NET_MAX_ADDRS || (!cfg->client && cfg->naddrs == 0))
		return false;
	if (cfg->rx_batch == 0 || cfg->rx_slots < cfg->rx_batch || cfg->rx_slots > (1u << 16))
		return false;
	if (cfg->tx_bufs == 0 || cfg->tx_bufs > (1u << 20))
		return false;
	if (cfg->max_dgram < 64 || cfg->max_dgram > MAX_DGRAM)
		return false;
	for (unsigned int i = 0; i < cfg->naddrs; i++) {
		int f = cfg->addrs[i].ss_family;
		if ((f != AF_INET && f != AF_INET6) || cfg->addr_lens[i] < family_len(f))
			return false;
	}
	return true;
}

int sl_net_socket_open(const struct sl_net_socket_config *cfg, struct sl_pktio **out)
{
	if (cfg == NULL || out == NULL || !config_valid(cfg))
		return SL_EINVAL;
	struct net_port *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SL_ENOMEM;
	p->epfd = -1;
	p->pio.ops = &socket_ops;
	p->pio.worker_id = cfg->worker_id;
	p->max_dgram = cfg->max_dgram;

	bool gso_ok = !cfg->no_gso, gro_ok = !cfg->no_gro, pktinfo_ok = true;
	int rc = open_sockets(p, cfg, &gso_ok, &gro_ok, &pktinfo_ok);
	if (rc != 0) {
		port_free(p);
		return rc;
	}
	if (!gro_ok) {
		/* One socket refused: receive the same way on all of them. */
		int zero = 0;
		for (unsigned int i = 0; i < p->nsocks; i++)
			(void)setsockopt(p->socks[i].fd, SOL_UDP, UDP_GRO, &zero, sizeof(zero));
	}
	p->gso = gso_ok;
	p->gro = gro_ok;
	p->pio.stats.features = (gso_ok ? SL_PKTIO_F_GSO : 0) | (gro_ok ? SL_PKTIO_F_GRO : 0) |
				(pktinfo_ok ? SL_PKTIO_F_PKTINFO : 0) | SL_PKTIO_F_WAITFD;

	if (p->nsocks > 1) {
		p->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (p->epfd < 0) {
			SL_LOG(NET, ERR, "epoll_create1: %s", strerror(errno));
			port_free(p);
			return SL_EIO;
		}
		for (unsigned int i = 0; i < p->nsocks; i++) {
			struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
			if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->socks[i].fd, &ev) != 0) {
				SL_LOG(NET, ERR, "epoll_ctl: %s", strerror(errno));
				port_free(p);
				return SL_EIO;
			}
		}
	}

	/* Every buffer now, sized by what the kernel accepted: GRO slots hold 64 KiB. */
	p->rx_batch = cfg->rx_batch;
	p->nslots = cfg->rx_slots;
	p->slot_size = gro_ok ? GRO_SLOT_SIZE : cfg->max_dgram;
	p->ntx = cfg->tx_bufs;
	size_t slab = (size_t)p->nslots * p->slot_size + (size_t)p->ntx * cfg->max_dgram;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	p->rx_free = calloc(p->nslots, sizeof(*p->rx_free));
	p->pend = calloc(p->nslots, sizeof(*p->pend));
	p->rx_msgs = calloc(p->rx_batch, sizeof(*p->rx_msgs));
	p->rx_iov = calloc(p->rx_batch, sizeof(*p->rx_iov));
	p->rx_idx = calloc(p->rx_batch, sizeof(*p->rx_idx));
	p->tx = calloc(p->ntx, sizeof(*p->tx));
	p->tx_free = calloc(p->ntx, sizeof(*p->tx_free));
	p->txq = calloc(p->ntx, sizeof(*p->txq));
	p->tx_iov = calloc(p->ntx, sizeof(*p->tx_iov));
	p->slab = malloc(slab);
	if (!p->slots || !p->rx_free || !p->pend || !p->rx_msgs || !p->rx_iov || !p->rx_idx ||
	    !p->tx || !p->tx_free || !p->txq || !p->tx_iov || !p->slab) {
		port_free(p);
		return SL_ENOMEM;
	}
	uint8_t *m = p->slab;
	for (uint32_t i = 0; i < p->nslots; i++, m += p->slot_size) {
		p->slots[i].buf = m;
		/* Popped from the top: slot 0 is used first, which keeps tests readable. */
		p->rx_free[i] = p->nslots - 1 - i;
	}
	p->nfree = p->nslots;
	for (uint32_t i = 0; i < p->ntx; i++, m += cfg->max_dgram) {
		p->tx[i].buf = m;
		p->tx_free[i] = p->ntx - 1 - i;
	}
	p->ntx_free = p->ntx;
	*out = &p->pio;
	return 0;
}

static void socket_close(struct sl_pktio *pio)
{
	port_free(port_of(pio));
}

unsigned int sl_net_socket_count(const struct sl_pktio *port)
{
	return cport_of(port)->nsocks;
}

int sl_net_socket_local(const struct sl_pktio *port, unsigned int i, struct sockaddr_storage *out,
			socklen_t *len)
{
	const struct net_port *p = cport_of(port);
	if (i >= p->nsocks)
		return SL_ENOTFOUND;
	*out = p->socks[i].addr;
	*len = p->socks[i].addr_len;
	return 0;
}

int sl_net_socket_fd(const struct sl_pktio *port, unsigned int i)
{
	const struct net_port *p = cport_of(port);
	return i < p->nsocks ? p->socks[i].fd : -1;
}

static int socket_wait_fd(const struct sl_pktio *port)
{
	const struct net_port *p = cport_of(port);
	return p->epfd >= 0 ? p->epfd : p->socks[0].fd;
}

/* ---- receive ---- */

/* Reads the local address and the GRO segment size out of a received message's cmsgs. */
static void parse_rx_cmsgs(struct net_port *p, struct rx_slot *s, struct msghdr *h)
{
	const struct net_sock *ns = &p->socks[s->sock];
	s->local = ns->addr;
	s->local_len = ns->addr_len;
	s->seg = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			/* ipi_addr is the destination the sender used: our real local address. */
			((struct sockaddr_in *)&s->local)->sin_addr = pi.ipi_addr;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&s->local;
			a6->sin6_addr = pi.ipi6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
				a6->sin6_scope_id = pi.ipi6_ifindex;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			uint32_t drops;
			memcpy(&drops, CMSG_DATA(c), sizeof(drops));
			/* Cumulative and wrapping: the difference is what was lost since. */
			p->pio.stats.rx_overflows += (uint32_t)(drops - p->socks[s->sock].drops);
			p->socks[s->sock].drops = drops;
		} else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			int seg;
			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
			if (seg > 0)
				s->seg = (uint32_t)seg;
		}
	}
}

static void slot_free(struct net_port *p, struct rx_slot *s)
{
	p->rx_free[p->nfree++] = (uint32_t)(s - p->slots);
}

/* Hands out datagrams from received slots, oldest first, splitting GRO receives. */
static unsigned int deliver_pending(struct net_port *p, struct sl_pkt *pkts, unsigned int max)
{
	unsigned int n = 0;
	while (n < max && p->pend_count > 0) {
		struct rx_slot *s = &p->slots[p->pend[p->pend_head]];
		uint32_t left = s->len - s->off;
		uint32_t len = s->seg && s->seg < left ? s->seg : left;
		struct sl_pkt *k = &pkts[n++];
		k->data = s->buf + s->off;
		k->len = len;
		k->flags = 0;
		k->handle = s;
		memcpy(&k->path.local, &s->local, s->local_len);
		k->path.local_len = s->local_len;
		memcpy(&k->path.remote, &s->remote, s->remote_len);
		k->path.remote_len = s->remote_len;
		k->path.cookie = 0; /* nothing of ours to keep with the path */
		s->off += len;
		s->refs++;
		p->pio.stats.rx_packets++;
		p->pio.stats.rx_bytes += len;
		if (s->seg && s->seg < s->len)
			p->pio.stats.rx_gro_segments++;
		if (s->off >= s->len) {
			s->pending = false;
			p->pend_head = (p->pend_head + 1) % p->nslots;
			p->pend_count--;
		}
	}
	return n;
}

/* One recvmmsg on socket si into up to want free slots; received slots join the FIFO. */
static void recv_sock(struct net_port *p, unsigned int si, unsigned int want)
{
	for (unsigned int i = 0; i < want; i++) {
		uint32_t idx = p->rx_free[--p->nfree];
		struct rx_slot *s = &p->slots[idx];
		p->rx_idx[i] = idx;
		p->rx_iov[i].iov_base = s->buf;
		p->rx_iov[i].iov_len = p->slot_size;
		struct msghdr *h = &p->rx_msgs[i].msg_hdr;
		h->msg_name = &s->remote;
		h->msg_namelen = sizeof(s->remote);
		h->msg_iov = &p->rx_iov[i];
		h->msg_iovlen = 1;
		h->msg_control = s->ctrl.buf;
		h->msg_controllen = sizeof(s->ctrl.buf);
		h->msg_flags = 0;
	}
	int r;
	do {
		r = recvmmsg(p->socks[si].fd, p->rx_msgs, want, 0, NULL);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			p->pio.stats.rx_errors++;
		r = 0;
	}
	if (r > 0)
		p->pio.stats.rx_batches++;
	for (unsigned int i = 0; i < want; i++) {
		struct rx_slot *s = &p->slots[p->rx_idx[i]];
		if ((int)i >= r) {
			slot_free(p, s);
			continue;
		}
		struct msghdr *h = &p->rx_msgs[i].msg_hdr;
		if (h->msg_flags & MSG_TRUNC) {
			/* Larger than our slots: nothing sane to deliver. */
			p->pio.stats.rx_drops++;
			slot_free(p, s);
			continue;
		}
		s->len = p->rx_msgs[i].msg_len;
		s->off = 0;
		s->refs = 0;
		s->sock = (uint16_t)si;
		s->remote_len = h->msg_namelen;
		parse_rx_cmsgs(p, s, h);
		if (s->seg && s->seg < s->len)
			p->pio.stats.rx_gro_coalesced++;
		s->pending = true;
		p->pend[(p->pend_head + p->pend_count) % p->nslots] = p->rx_idx[i];
		p->pend_count++;
	}
}

static unsigned int socket_rx_burst(struct sl_pktio *pio, struct sl_pkt *pkts, unsigned int max)
{
	struct net_port *p = port_of(pio);
	unsigned int n = deliver_pending(p, pkts, max);
	/* Each socket gets one recvmmsg per burst, starting with a different one each time so a
	 * busy address cannot starve the others. */
	for (unsigned int k = 0; k < p->nsocks && n < max && p->nfree > 0; k++) {
		unsigned int si = (p->rx_next_sock + k) % p->nsocks;
		unsigned int want = max - n;
		if (want > p->rx_batch)
			want = p->rx_batch;
		if (want > p->nfree)
			want = p->nfree;
		recv_sock(p, si, want);
		n += deliver_pending(p, pkts + n, max - n);
	}
	p->rx_next_sock = (p->rx_next_sock + 1) % p->nsocks;
	return n;
}

static void socket_rx_release(struct sl_pktio *pio, struct sl_pkt *pkts, unsigned int n)
{
	struct net_port *p = port_of(pio);
	for (unsigned int i = 0; i < n; i++) {
		struct rx_slot *s = pkts[i].handle;
		if (s == NULL || s->refs == 0)
			continue; /* released twice: ignore rather than corrupt the free stack */
		pkts[i].handle = NULL;
		if (--s->refs == 0 && !s->pending)
			slot_free(p, s);
	}
}

/* ---- transmit ---- */

static uint8_t *socket_tx_alloc(struct sl_pktio *pio, size_t max_len, void **token)
{
	struct net_port *p = port_of(pio);
	if (p->ntx_free == 0 || max_len > p->max_dgram) {
		p->pio.stats.tx_nobufs++;
		return NULL;
	}
	struct tx_buf *b = &p->tx[p->tx_free[--p->ntx_free]];
	b->state = TX_HELD;
	*token = b;
	return b->buf;
}

static void tx_release(struct net_port *p, struct tx_buf *b)
{
	b->state = TX_FREE;
	p->tx_free[p->ntx_free++] = (uint32_t)(b - p->tx);
}

/* The socket a datagram leaves from: the one bound to its local address (or a wildcard of
 * the same family and port), else the first of the remote's family; -1 if there is none. */
static int pick_sock(const struct net_port *p, const struct sl_quic_path *path)
{
	int family = path->remote.ss_family;
	if (p->nsocks == 1)
		return p->socks[0].family == family ? 0 : -1;
	if (path->local_len > 0 && path->local.ss_family == family) {
		for (unsigned int i = 0; i < p->nsocks; i++) {
			const struct net_sock *s = &p->socks[i];
			if (s->family == family && addr_port(&s->addr) == addr_port(&path->local) &&
			    (s->wildcard || addr_eq(&s->addr, &path->local)))
				return (int)i;
		}
	}
	for (unsigned int i = 0; i < p->nsocks; i++)
		if (p->socks[i].family == family)
			return (int)i;
	return -1;
}

static void socket_tx_commit(struct sl_pktio *pio, void *token, const struct sl_quic_path *path,
			     size_t len)
{
	struct net_port *p = port_of(pio);
	struct tx_buf *b = token;
	if (b == NULL || b->state != TX_HELD)
		return;
	int si = len > 0 && len <= p->max_dgram ? pick_sock(p, path) : -1;
	if (si < 0 || path->remote_len > sizeof(b->remote) ||
	    path->remote_len < family_len(path->remote.ss_family)) {
		if (len > 0)
			p->pio.stats.tx_drops++; /* nowhere to send it from */
		tx_release(p, b);
		return;
	}
	b->len = (uint32_t)len;
	b->sock = (uint16_t)si;
	memcpy(&b->remote, &path->remote, path->remote_len);
	b->remote_len = path->remote_len;
	/* The source address matters only on a wildcard socket; elsewhere the bind fixed it. */
	b->local_len = 0;
	if (p->socks[si].wildcard && path->local_len >= family_len(path->local.ss_family) &&
	    path->local_len <= sizeof(b->local) && path->local.ss_family == p->socks[si].family &&
	    !addr_is_wildcard(&path->local)) {
		memcpy(&b->local, &path->local, path->local_len);
		b->local_len = path->local_len;
	}
	b->state = TX_QUEUED;
	p->txq[(p->txq_head + p->txq_count) % p->ntx] = (uint32_t)(b - p->tx);
	p->txq_count++;
}

static unsigned int socket_tx_pending(const struct sl_pktio *pio)
{
	return cport_of(pio)->txq_count;
}

static struct tx_buf *txq_at(struct net_port *p, uint32_t pos)
{
	return &p->tx[p->txq[(p->txq_head + pos) % p->ntx]];
}

static bool same_flow(const struct tx_buf *a, const struct tx_buf *b)
{
	if (a->sock != b->sock || !addr_eq(&a->remote, &b->remote))
		return false;
	if (a->local_len != b->local_len)
		return false;
	return a->local_len == 0 || addr_eq(&a->local, &b->local);
}

/* Fills the control data of one message: the source address on a wildcard socket, and the
 * segment size when several datagrams ride in it. */
static void fill_tx_ctrl(struct msghdr *h, union ctrl_buf *cb, const struct tx_buf *b,
			 uint32_t segs)
{
	size_t used = 0;
	memset(cb, 0, sizeof(*cb));
	h->msg_control = cb->buf;
	h->msg_controllen = sizeof(cb->buf);
	struct cmsghdr *c = CMSG_FIRSTHDR(h);
	if (b->local_len > 0 && b->local.ss_family == AF_INET) {
		struct in_pktinfo pi;
		memset(&pi, 0, sizeof(pi));
		pi.ipi_spec_dst = ((const struct sockaddr_in *)&b->local)->sin_addr;
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		used += CMSG_SPACE(sizeof(pi));
		c = CMSG_NXTHDR(h, c);
	} else if (b->local_len > 0 && b->local.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&b->local;
		struct in6_pktinfo pi;
		memset(&pi, 0, sizeof(pi));
		pi.ipi6_addr = a6->sin6_addr;
		pi.ipi6_ifindex = a6->sin6_scope_id;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		used += CMSG_SPACE(sizeof(pi));
		c = CMSG_NXTHDR(h, c);
	}
	if (segs > 1) {
		uint16_t seg = (uint16_t)b->len;
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		used += CMSG_SPACE(sizeof(seg));
	}
	h->msg_controllen = used;
	if (used == 0)
		h->msg_control = NULL;
}

/* Builds up to TX_BATCH messages from the head of the queue, all for one socket. Returns the
 * number of messages; *sock is the socket. */
static unsigned int build_batch(struct net_port *p, unsigned int *sock)
{
	unsigned int m = 0, iov = 0;
	uint32_t pos = 0;
	*sock = txq_at(p, 0)->sock;
	while (pos < p->txq_count && m < TX_BATCH) {
		struct tx_buf *b = txq_at(p, pos);
		if (b->sock != *sock)
			break;
		uint32_t segs = 1;
		if (p->gso && b->len > 0) {
			/* Equal sizes to one destination coalesce; a shorter one ends the run. */
			uint32_t cap = GSO_MAX_BYTES / b->len;
			if (cap > GSO_MAX_SEGS)
				cap = GSO_MAX_SEGS;
			while (pos + segs < p->txq_count && segs < cap) {
				struct tx_buf *nb = txq_at(p, pos + segs);
				if (nb->len > b->len || nb->len == 0 || !same_flow(b, nb))
					break;
				segs++;
				if (nb->len < b->len)
					break;
			}
		}
		for (uint32_t i = 0; i < segs; i++) {
			struct tx_buf *x = txq_at(p, pos + i);
			p->tx_iov[iov + i].iov_base = x->buf;
			p->tx_iov[iov + i].iov_len = x->len;
		}
		struct msghdr *h = &p->tx_msgs[m].msg_hdr;
		memset(h, 0, sizeof(*h));
		h->msg_name = &b->remote;
		h->msg_namelen = b->remote_len;
		h->msg_iov = &p->tx_iov[iov];
		h->msg_iovlen = segs;
		fill_tx_ctrl(h, &p->tx_ctrl[m], b, segs);
		p->tx_msg_segs[m] = segs;
		iov += segs;
		pos += segs;
		m++;
	}
	return m;
}

/* Retires the first segs queued buffers; sent says whether they left or were dropped. */
static void retire(struct net_port *p, uint32_t segs, bool sent)
{
	struct sl_pktio_stats *st = &p->pio.stats;
	if (sent && segs > 1) {
		st->tx_gso_sends++;
		st->tx_gso_segments += segs;
	}
	for (uint32_t i = 0; i < segs; i++) {
		struct tx_buf *b = txq_at(p, 0);
		if (sent) {
			st->tx_packets++;
			st->tx_bytes += b->len;
		} else {
			st->tx_drops++;
		}
		p->txq_head = (p->txq_head + 1) % p->ntx;
		p->txq_count--;
		tx_release(p, b);
	}
}

static int socket_tx_flush(struct sl_pktio *pio)
{
	struct net_port *p = port_of(pio);
	int sent = 0;
	while (p->txq_count > 0) {
		unsigned int si;
		unsigned int m = build_batch(p, &si);
		int r = sendmmsg(p->socks[si].fd, p->tx_msgs, m, 0);
		if (r < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
				p->pio.stats.tx_blocked++;
				return SL_EAGAIN;
			}
			if ((e == EIO || e == EINVAL) && p->tx_msg_segs[0] > 1) {
				/* The kernel accepted the sockopt but this route cannot segment
				 * (no checksum offload, or a segment above the path MTU): stop
				 * using GSO and send the same datagrams one by one. */
				SL_LOG(NET, WARNING, "UDP GSO send failed (%s): GSO disabled",
				       strerror(e));
				p->gso = false;
				p->pio.stats.features &= ~(uint32_t)SL_PKTIO_F_GSO;
				continue;
			}
			p->pio.stats.tx_errors++;
			retire(p, p->tx_msg_segs[0], false);
			continue;
		}
		if (r == 0) {
			p->pio.stats.tx_blocked++;
			return SL_EAGAIN;
		}
		p->pio.stats.tx_batches++;
		for (int i = 0; i < r; i++) {
			sent += (int)p->tx_msg_segs[i];
			retire(p, p->tx_msg_segs[i], true);
		}
		/* r < m: the next call starts at the message that stopped this one and reports
		 * its error (or EAGAIN). */
	}
	return sent;
}

static const struct sl_pktio_ops socket_ops = {
	.name = "socket",
	.rx_burst = socket_rx_burst,
	.rx_release = socket_rx_release,
	.tx_alloc = socket_tx_alloc,
	.tx_commit = socket_tx_commit,
	.tx_flush = socket_tx_flush,
	.tx_pending = socket_tx_pending,
	.wait_fd = socket_wait_fd,
	.close = socket_close,
};
