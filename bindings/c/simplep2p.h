/*
 * simplep2p: find the programs on a local network and exchange messages
 * with them over UDP multicast, with no server. The C ABI of the Rust
 * library. After `make install PREFIX=...`, build with
 *   cc app.c $(pkg-config --cflags --libs simplep2p)
 * (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig outside the usual prefixes). The
 * shared library's SONAME is libsimplep2p.so.0: it changes only when a
 * change to this header breaks programs built against it.
 *
 * Conventions:
 *  - Functions return a count (>= 0) or SP2P_OK on success, and a negative
 *    SP2P_ERR_* code on failure; sp2p_last_error() then says what went
 *    wrong, in words, for the calling thread.
 *  - NULL pointers and short buffers are errors, never crashes. No Rust
 *    panic crosses into C (it becomes SP2P_ERR_PANIC).
 *  - A peer handle is a number, not a pointer to memory: simplep2p looks it
 *    up in a table on every call and never dereferences it. A handle that
 *    sp2p_close has closed, or that sp2p_open never gave, is an error
 *    (SP2P_ERR_CLOSED), never a use after free. Numbers are not reused.
 *    The table has no cap of its own: each open peer holds two sockets, a
 *    socket pair and one thread, and sp2p_open returns an error when the system has no more.
 *  - A peer may be used from several threads at once, including several
 *    sp2p_recv at a time, and sp2p_close from one thread while another is
 *    inside a call: that call ends promptly with SP2P_ERR_CLOSED.
 *  - Text fields in the structs below are NUL-terminated UTF-8.
 *  - Addresses are text: "192.0.2.7:30001" for IPv4, "[fe80::1%3]:30001"
 *    for IPv6 (the number after % is the interface index, the scope of a
 *    link-local address). An address is never cut to fit a field: the
 *    48-byte fields of sp2p_peer_info and sp2p_message, which are frozen,
 *    are left empty ("") for one that does not fit (only an IPv6 address
 *    with a scope can be that long); the _wide calls have room for any.
 */
#ifndef SIMPLEP2P_H
#define SIMPLEP2P_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SP2P_OK 0
#define SP2P_ERR_NULL (-1)         /* a required pointer was NULL */
#define SP2P_ERR_ARG (-2)          /* an invalid argument (not UTF-8, not an address, name too long, TTL over 255) */
#define SP2P_ERR_SETUP (-3)        /* network set-up failed: bad group, no multicast route, bad interface, port held */
#define SP2P_ERR_TOO_LARGE (-4)    /* message over SP2P_MAX_MESSAGE bytes; nothing was sent */
#define SP2P_ERR_SHORT_BUFFER (-5) /* buffer too small; the message is kept for the next sp2p_recv */
#define SP2P_ERR_IO (-6)           /* a socket or thread failed */
#define SP2P_ERR_CLOSED (-7)       /* the handle was closed (now, or while this call waited), or is not
                                      one sp2p_open gave */
#define SP2P_ERR_PANIC (-8)        /* a bug in simplep2p: close the peer and report it */
#define SP2P_ERR_KEY (-9)          /* a key cannot be used: its key file is unreadable, open to other users
                                      (chmod 600 it) or not one or two lines of 64 hex digits; more than
                                      two keys; or a key with the original's protocol */
#define SP2P_ERR_NO_CRYPTO (-10)   /* a key was given to a simplep2p built without the "crypto" feature
                                      (on by default): rebuild it with the feature */

/* Largest message, in bytes. */
#define SP2P_MAX_MESSAGE 16384

/* How to open a peer. NULL strings and zero numbers mean the defaults, so a
 * zero-initialised struct ({0}) is a valid configuration. sp2p_open checks
 * it as every other interface does: a TTL over 255 or a name over 64 bytes
 * is SP2P_ERR_ARG, with a message that says the range. This layout never
 * changes; newer settings are options (below). */
typedef struct sp2p_config {
    const char *group;     /* IPv4 multicast group, default "239.255.0.1"
                              (IPv6: sp2p_options_set_group6) */
    uint16_t port;         /* group port, default 30001 */
    const char *interface; /* interface to serve, by address or name ("eth0");
                              "127.0.0.1" keeps all traffic on this host.
                              Default (NULL or "0.0.0.0"): every interface up
                              with multicast and an IPv4 or IPv6 link-local
                              address, not a bridge port; loopback (IPv4
                              only) if there is nothing else. More:
                              sp2p_options_add_interface; which families:
                              sp2p_options_set_family */
    uint32_t ttl;          /* multicast TTL, 1..255, default 1 */
    const char *name;      /* name other peers see, at most 64 bytes; default none */
} sp2p_config;

/* Bytes of address fields newer than sp2p_peer_info's (whose 48 are
 * frozen): room for "[IPv6%zone]:port" and the NUL. */
#define SP2P_ADDRESS_LEN 72

/* Another peer. New programs use sp2p_peer_info_wide (below). */
typedef struct sp2p_peer_info {
    char id[37];      /* UUID, e.g. "6ba7b810-9dad-41d1-80b4-00c04fd430c8" */
    char address[48]; /* where it takes unicast traffic, "ip:port"; "" if it
                         does not fit (an IPv6 one with a scope may not) */
    char name[65];    /* possibly empty */
} sp2p_peer_info;

/* sp2p_peer_info with room for any address; what the _wide calls fill. */
typedef struct sp2p_peer_info_wide {
    char id[37];                    /* UUID */
    char address[SP2P_ADDRESS_LEN]; /* where it takes unicast traffic, "ip:port" or "[ipv6%zone]:port" */
    char name[65];                  /* possibly empty */
} sp2p_peer_info_wide;

/* Who sent a message received with sp2p_recv. New programs use
 * sp2p_message_wide (below). */
typedef struct sp2p_message {
    char sender[37];  /* the sender's UUID */
    char address[48]; /* the address it was sent from; "" if it does not fit */
    char name[65];    /* the sender's name, possibly empty */
    size_t len;       /* bytes of the message (also set on SP2P_ERR_SHORT_BUFFER) */
} sp2p_message;

/* sp2p_message with room for any address; what sp2p_recv_wide fills. */
typedef struct sp2p_message_wide {
    char sender[37];                /* the sender's UUID */
    char address[SP2P_ADDRESS_LEN]; /* the address it was sent from, in full */
    char name[65];                  /* the sender's name, possibly empty */
    size_t len;                     /* bytes of the message (also set on SP2P_ERR_SHORT_BUFFER) */
} sp2p_message_wide;

/* A handle: a number in pointer's clothing, never dereferenced (above). */
typedef struct sp2p_peer sp2p_peer;

/* Settings sp2p_config has no field for. An opaque object set one key at a
 * time, rather than a second struct or a size-prefixed one: a new setting
 * is a new function, so no layout ever changes, a program never has to say
 * which version of a struct it was built with, a setter can refuse a bad
 * value at once with a message (SP2P_ERR_ARG), a setting whose zero means
 * something (sp2p_options_set_ttl) needs no "zero means default" rule, and
 * bindings such as Python's ctypes call functions instead of mirroring a
 * struct. Every setting to come lands as another sp2p_options_set_* or
 * _add_* function, as group keys (sp2p_options_add_key_file), heartbeats
 * (sp2p_options_set_heartbeat_ms), interfaces (sp2p_options_add_interface)
 * and IPv6 (sp2p_options_set_family, sp2p_options_set_group6) did.
 *
 * Options belong to the caller, like a pthread_attr_t: one thread at a
 * time, freed once. sp2p_open_with copies them, so they may be freed or
 * reused as soon as it returns. */
typedef struct sp2p_options sp2p_options;

/* New options, every setting at its default; NULL only on a bug in
 * simplep2p (see sp2p_last_error). */
sp2p_options *sp2p_options_new(void);

/* Frees options. NULL is ignored; freeing twice is undefined, as for free(). */
void sp2p_options_free(sp2p_options *options);

/* Non-zero: acknowledge a message only when sp2p_recv takes it, so that a
 * sender's count means "their programs have it", not "it is in their
 * queue". Copies that arrive meanwhile are dropped, not acknowledged, and a
 * message still queued when the peer closes was never acknowledged. One
 * that sp2p_recv kept after SP2P_ERR_SHORT_BUFFER was taken, and so
 * acknowledged: pass a buffer of SP2P_MAX_MESSAGE bytes to rule that out.
 * Default 0: acknowledge as soon as it is queued. Returns SP2P_OK, or
 * SP2P_ERR_NULL. */
int sp2p_options_set_ack_on_recv(sp2p_options *options, int on);

/* The multicast TTL, 0..255, in place of sp2p_config.ttl; here 0 means TTL
 * 0 (this host only), not the default. Returns SP2P_OK, SP2P_ERR_NULL, or
 * SP2P_ERR_ARG over 255. */
int sp2p_options_set_ttl(sp2p_options *options, uint32_t ttl);

/* How often this peer multicasts a heartbeat, in milliseconds, 10 to
 * 3600000 (one hour); default 1000. Members that stop beating are
 * suspected, pinged, and after three intervals reported SP2P_EVENT_LOST.
 * 0 turns heartbeats off, for minimal systems: none are sent, and the
 * member table (sp2p_members) is fed only by discovery and traffic, so
 * nobody is ever reported lost. Returns SP2P_OK, SP2P_ERR_NULL, or
 * SP2P_ERR_ARG out of range (the message says the range). */
int sp2p_options_set_heartbeat_ms(sp2p_options *options, uint32_t ms);

/* Group keys. With a key, every datagram is sealed (XChaCha20-Poly1305)
 * and only peers holding the key find, answer or hear this one; see the
 * README's "Security". A peer holds at most two keys in all (current and
 * next, for changing keys without downtime): the first added seals, either
 * opens. A key file holds one or two lines of 64 hex digits (as
 * sp2p_keygen writes, or `simplep2p keygen --out PATH`), must not be
 * readable or writable by other users (mode 0600), and is re-read while
 * the peer runs whenever it changes. Each function checks at once what
 * sp2p_open_with would (a key file is read now and again at open), and
 * returns SP2P_OK, SP2P_ERR_NULL, SP2P_ERR_KEY (the file cannot be used, or
 * a third key), or SP2P_ERR_NO_CRYPTO. No message ever holds a key.
 *
 * With no key added, sp2p_open and sp2p_open_with use the key file named
 * by the environment variable SIMPLEP2P_KEY_FILE, if it is set and not
 * empty, as the CLI and the Python module do; a key added here wins. */

/* Serves this interface too, by name ("eth0", "lo") or by an address it
 * holds (then the address used there), after the one sp2p_config names;
 * at most SP2P_MAX_INTERFACES in all. Returns SP2P_OK, SP2P_ERR_NULL, or
 * SP2P_ERR_ARG for text that is neither a name nor an address. A name or
 * address that is not on this host fails at open, SP2P_ERR_SETUP, with a
 * message listing those that are. */
int sp2p_options_add_interface(sp2p_options *options, const char *interface);

/* Never serves this interface, by name or address, whatever else is
 * chosen; one that does not exist (yet) is no error. Same returns. */
int sp2p_options_exclude_interface(sp2p_options *options, const char *interface);

/* Interfaces served at most. */
#define SP2P_MAX_INTERFACES 20

/* The values of sp2p_options_set_family. */
#define SP2P_FAMILY_BOTH 0 /* IPv4 and IPv6, each where an interface has an address of it (default) */
#define SP2P_FAMILY_IPV4 4 /* IPv4 only */
#define SP2P_FAMILY_IPV6 6 /* IPv6 only */

/* Which address families to serve: one of SP2P_FAMILY_*. With both (the
 * default), each interface served is served over IPv4 if it has an IPv4
 * address and over IPv6 if it has a link-local one, and a peer heard over
 * both is one member with two addresses (sp2p_member_addresses). Loopback
 * is IPv4 only (Linux routes no IPv6 multicast there), so SP2P_FAMILY_IPV6
 * with interface "127.0.0.1" or "lo" fails at open, SP2P_ERR_SETUP.
 * Returns SP2P_OK, SP2P_ERR_NULL, or SP2P_ERR_ARG for another value. */
int sp2p_options_set_family(sp2p_options *options, int family);

/* The IPv6 multicast group, of link-local scope (ff02::/16, or any ffX2::
 * group, so that it never leaves the segment), at sp2p_config.port;
 * default "ff02::114". Returns SP2P_OK, SP2P_ERR_NULL, or SP2P_ERR_ARG for
 * text that is not such a group (the message says what to pass). */
int sp2p_options_set_group6(sp2p_options *options, const char *group6);

/* Adds the keys of a key file; may be called twice (two files). */
int sp2p_options_add_key_file(sp2p_options *options, const char *path);

/* Adds a key held in memory: its 32 raw bytes (not hex). */
int sp2p_options_add_key(sp2p_options *options, const uint8_t key[32]);

/* Writes a fresh random key to out: 64 lowercase hex digits and a NUL, the
 * line a key file holds. Returns SP2P_OK, SP2P_ERR_NULL, or SP2P_ERR_IO if
 * the system has no random source. */
int sp2p_keygen(char out[65]);

/* Opens a peer and joins the group; config may be NULL for all defaults.
 * Stores the handle in *out. Returns SP2P_OK or an error. The same as
 * sp2p_open_with(config, NULL, out), SIMPLEP2P_KEY_FILE included. */
int sp2p_open(const sp2p_config *config, sp2p_peer **out);

/* As sp2p_open, with options (NULL: none); where both set something (the
 * TTL), the options win. */
int sp2p_open_with(const sp2p_config *config, const sp2p_options *options, sp2p_peer **out);

/* Leaves the group (a goodbye is multicast) and forgets the handle: every
 * later call with it returns SP2P_ERR_CLOSED. A call in flight on it in
 * another thread (a blocked sp2p_recv, a send, a discovery) returns
 * SP2P_ERR_CLOSED promptly. The peer's threads and memory go before
 * sp2p_close returns, or, if another thread is inside a call on it, as the
 * last such call returns. NULL, and a handle already closed, are ignored:
 * closing twice does nothing. */
void sp2p_close(sp2p_peer *peer);

/* Discovers the other peers. Returns as soon as `expect` have answered or
 * timeout_ms has passed; with expect <= 0 (no target), once none new has
 * answered for 50 ms since the last new answer (or, with no answer at all,
 * once timeout_ms has passed). Returns how many answered; they become the
 * targets of sp2p_send. */
int sp2p_discover(const sp2p_peer *peer, int expect, uint32_t timeout_ms);

/* Writes up to `cap` of the peers of the last discovery (less those that
 * left) to `out` (NULL if cap is 0). Returns how many there are in all. */
int sp2p_peers(const sp2p_peer *peer, sp2p_peer_info *out, size_t cap);

/* sp2p_peers, sp2p_missing and sp2p_acked with room for any address: the
 * same peers, the same returns. */
int sp2p_peers_wide(const sp2p_peer *peer, sp2p_peer_info_wide *out, size_t cap);
int sp2p_missing_wide(const sp2p_peer *peer, sp2p_peer_info_wide *out, size_t cap);
int sp2p_acked_wide(const sp2p_peer *peer, sp2p_peer_info_wide *out, size_t cap);

/* Sends `len` bytes (any bytes, at most SP2P_MAX_MESSAGE) to the peers of
 * the last discovery only (unicast; other peers never receive it) and waits
 * at most timeout_ms until each has acknowledged it (it is in that peer's
 * queue, or with sp2p_options_set_ack_on_recv, its program took it), sending
 * it again to those that have not. With no discovery yet,
 * it discovers first within three quarters of timeout_ms and sends to the
 * group found. Returns how many acknowledged; *targeted (if not NULL) is
 * set to how many were sent to. */
int sp2p_send(const sp2p_peer *peer, const uint8_t *data, size_t len, uint32_t timeout_ms,
              size_t *targeted);

/* Writes up to `cap` of the peers that did not acknowledge the last
 * sp2p_send to `out` (with sends in several threads, the one that finished
 * last). Returns how many there are in all. */
int sp2p_missing(const sp2p_peer *peer, sp2p_peer_info *out, size_t cap);

/* Writes up to `cap` of the peers that acknowledged the last sp2p_send to
 * `out` (NULL if cap is 0). Returns how many there are in all. The send may
 * have discovered its targets itself, so they need not be sp2p_peers'. */
int sp2p_acked(const sp2p_peer *peer, sp2p_peer_info *out, size_t cap);

/* Waits at most timeout_ms (negative: forever) for the next message.
 * Returns 1 with the message in buf[0 .. meta->len) and its sender in
 * *meta, 0 on timeout, or an error. A message longer than `cap` gives
 * SP2P_ERR_SHORT_BUFFER with meta->len set; it is kept for the next call
 * that starts, in any thread (a call already waiting does not see it).
 * Several threads may wait at once: each returns on its own timeout, and
 * each message goes to one of them. */
int sp2p_recv(const sp2p_peer *peer, int32_t timeout_ms, uint8_t *buf, size_t cap,
              sp2p_message *meta);

/* sp2p_recv with room for any address in *meta; the same returns. */
int sp2p_recv_wide(const sp2p_peer *peer, int32_t timeout_ms, uint8_t *buf, size_t cap,
                   sp2p_message_wide *meta);

/* Live membership. Every peer keeps a table of the members it hears
 * (by heartbeat, discovery or traffic, from addresses that proved they
 * receive there), and each handle a queue of what happened to them,
 * subscribed at sp2p_open so that no event is missed. The queue holds up
 * to 1024 unread events; beyond that they are dropped (counted in
 * member_events_dropped) and the next one read is SP2P_EVENT_LAGGED with
 * how many: call sp2p_members again. A program that never reads events
 * loses nothing else by it. */

/* One member of the live table. Times are Unix time in milliseconds, by
 * this peer's clock. */
typedef struct sp2p_member {
    char id[37];                      /* UUID, new every time it starts */
    char address[SP2P_ADDRESS_LEN];   /* where it takes unicast traffic, "ip:port" (the
                                         first of sp2p_member_addresses) */
    char name[65];                    /* possibly empty */
    uint64_t first_heard_ms;          /* when this peer first heard it */
    uint64_t last_heard_ms;           /* when this peer last heard it */
    uint32_t heartbeat_ms;            /* how often it says it beats; 0: it does not
                                         (then it is never suspected or lost) */
    int32_t suspected;                /* 1 while it is silent and being pinged, else 0 */
} sp2p_member;

/* What happened (the value of sp2p_event.kind). New kinds may be added:
 * ignore one you do not know. */
typedef enum sp2p_event_kind {
    SP2P_EVENT_JOINED = 1,    /* a new member, heard from a proven address */
    SP2P_EVENT_LEFT = 2,      /* it said goodbye */
    SP2P_EVENT_LOST = 3,      /* it stopped beating and did not answer pings for three of its intervals */
    SP2P_EVENT_SUSPECTED = 4, /* it missed a heartbeat and is being pinged */
    SP2P_EVENT_ALIVE = 5,     /* a suspected member answered: not lost */
    SP2P_EVENT_UPDATED = 6,   /* its name or address changed */
    SP2P_EVENT_LAGGED = 7     /* `lagged` events were dropped: this reader was slow */
} sp2p_event_kind;

typedef struct sp2p_event {
    int32_t kind;        /* an sp2p_event_kind */
    sp2p_member member;  /* whom it is about (all zero for SP2P_EVENT_LAGGED) */
    uint64_t time_ms;    /* Unix ms when this peer saw it (for LAGGED, when it was read) */
    uint64_t lagged;     /* for SP2P_EVENT_LAGGED, how many were dropped; else 0 */
} sp2p_event;

/* Writes up to `cap` members of the live table to `out` (NULL if cap is
 * 0): not lost, not gone. Returns how many there are in all. */
int sp2p_members(const sp2p_peer *peer, sp2p_member *out, size_t cap);

/* Addresses a member has at most. */
#define SP2P_MAX_MEMBER_ADDRS 4

/* Every address the member `id` (a UUID, as sp2p_member.id gives it) was
 * heard at lately and proved it receives at: its sp2p_member.address
 * first, then, for a peer on several segments shared with this one or
 * heard over IPv4 and IPv6, one per segment and family. Writes up to
 * `cap` of them to `out` (NULL if cap is 0), e.g.
 *   char addrs[SP2P_MAX_MEMBER_ADDRS][SP2P_ADDRESS_LEN];
 *   int n = sp2p_member_addresses(peer, m.id, addrs, SP2P_MAX_MEMBER_ADDRS);
 * Returns how many it has (1 to SP2P_MAX_MEMBER_ADDRS), 0 if no member of
 * the live table has that id (it left meanwhile, or never was), or an
 * error: SP2P_ERR_NULL, SP2P_ERR_ARG for text that is not a UUID. A change
 * to this list alone raises no event. */
int sp2p_member_addresses(const sp2p_peer *peer, const char *id, char (*out)[SP2P_ADDRESS_LEN],
                          size_t cap);

/* Waits at most timeout_ms (negative: forever; 0: only look) for the next
 * member event of this handle. Returns 1 with it in *out, 0 on timeout, or
 * an error: SP2P_ERR_CLOSED once the peer is closed and every queued event
 * has been read. Several threads may wait at once; each event goes to one. */
int sp2p_next_event(const sp2p_peer *peer, int32_t timeout_ms, sp2p_event *out);

/* For event loops (poll, epoll, select, libuv, ...): a file descriptor that
 * is readable exactly while a message waits for sp2p_recv (one kept after
 * SP2P_ERR_SHORT_BUFFER included) or an event waits for sp2p_next_event,
 * and for good if the peer closes. Wait for it to
 * be readable, then call sp2p_recv and sp2p_next_event with timeout 0
 * until each returns 0; that makes it unreadable again unless more came
 * meanwhile. Never read from, write to or close it: the peer owns it, and
 * it is closed by sp2p_close (take it out of your poll set first). The
 * peer's own threads keep answering and acknowledging whether or not you
 * wait on it. Returns the descriptor (>= 0) or an error. */
int sp2p_fd(const sp2p_peer *peer);

/* An interface the peer serves, with the addresses it uses there. */
typedef struct sp2p_interface {
    char name[64];  /* e.g. "eth0", "lo" */
    uint32_t index; /* its index (if_nametoindex), the scope of its link-local addresses */
    char ipv4[16];  /* the IPv4 address used there, e.g. "192.0.2.7"; "" if it serves no IPv4 there */
    char ipv6[46];  /* the IPv6 address used there, without "%zone" (index is it), e.g.
                       "fe80::1"; "" if it serves no IPv6 there */
} sp2p_interface;

/* Writes up to `cap` of the interfaces the peer serves now (joined to the
 * group on, and multicasting on) to `out` (NULL if cap is 0). Returns how
 * many there are in all, at most SP2P_MAX_INTERFACES. It follows
 * interfaces that come, go or change address within 5 s, so two calls
 * may differ. */
int sp2p_interfaces(const sp2p_peer *peer, sp2p_interface *out, size_t cap);

/* A peer's counters, read by name so that new ones change no layout.
 * sp2p_stat_name(i) for i = 0, 1, ... gives every name (static strings),
 * then NULL. Among them: datagrams_in, datagrams_out, malformed, forged,
 * and under a key auth_failed (datagrams that did not open: another key,
 * none, or a forgery), replayed, stale (sealed outside the clock window),
 * key_reloads and key_errors (a changed key file put in use, or refused
 * and the old keys kept). sp2p_stat writes the counter `name` to *value
 * and returns SP2P_OK, or SP2P_ERR_ARG for a name that is not a counter. */
const char *sp2p_stat_name(size_t index);
int sp2p_stat(const sp2p_peer *peer, const char *name, uint64_t *value);

/* What went wrong in the last failing call in this thread ("" if nothing).
 * Valid until the next failing call in this thread. */
const char *sp2p_last_error(void);

/* The library version, e.g. "0.1.0". */
const char *sp2p_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SIMPLEP2P_H */
