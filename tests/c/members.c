/*
 * The C ABI's live membership and event-loop descriptor, end to end: a poll
 * loop on sp2p_fd sees another peer join (sp2p_next_event), lists it
 * (sp2p_members) with its addresses (sp2p_member_addresses), takes a
 * message it sends (sp2p_recv_wide), and sees it leave; the interfaces
 * served (sp2p_interfaces: "lo", IPv4 alone), the wide peer lists, and the
 * family and IPv6 group options, bad values refused. All on interface
 * 127.0.0.1. Exits 0 and prints "PASS members" when all holds, 1
 * otherwise.
 *
 *   members PORT
 *
 * Build: cc -Ibindings/c tests/c/members.c -Ltarget/debug -lsimplep2p
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simplep2p.h"

/* The Rust side checks the same numbers (ffi.rs). */
_Static_assert(sizeof(sp2p_member) == 200, "sp2p_member layout");
_Static_assert(offsetof(sp2p_member, first_heard_ms) == 176, "sp2p_member layout");
_Static_assert(sizeof(sp2p_event) == 224, "sp2p_event layout");
_Static_assert(offsetof(sp2p_event, lagged) == 216, "sp2p_event layout");
_Static_assert(sizeof(sp2p_peer_info) == 150, "sp2p_peer_info layout, frozen");
_Static_assert(offsetof(sp2p_message, len) == 152, "sp2p_message layout, frozen");
_Static_assert(sizeof(sp2p_peer_info_wide) == 174, "sp2p_peer_info_wide layout");
_Static_assert(offsetof(sp2p_message_wide, len) == 176, "sp2p_message_wide layout");
_Static_assert(sizeof(sp2p_message_wide) == 184, "sp2p_message_wide layout");
_Static_assert(sizeof(sp2p_interface) == 132, "sp2p_interface layout");
_Static_assert(offsetof(sp2p_interface, ipv6) == 84, "sp2p_interface layout");

/* Far longer than anything takes on a busy machine. */
#define HANG_MS 30000

#define CHECK(cond, what)                                                                     \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "members: FAIL %s (last error: %s)\n", what, sp2p_last_error()); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static sp2p_peer *open_peer(uint16_t port, const char *name, uint32_t heartbeat_ms, int family) {
    sp2p_config config = {0};
    config.interface = "127.0.0.1";
    config.port = port;
    config.name = name;
    sp2p_options *options = sp2p_options_new();
    CHECK(options != NULL, "sp2p_options_new");
    CHECK(sp2p_options_set_heartbeat_ms(options, heartbeat_ms) == SP2P_OK, "set the heartbeat");
    CHECK(sp2p_options_set_family(options, family) == SP2P_OK, "set the family");
    sp2p_peer *peer = NULL;
    CHECK(sp2p_open_with(&config, options, &peer) == SP2P_OK, "sp2p_open_with");
    sp2p_options_free(options);
    return peer;
}

/* The family and IPv6 group options: set, and bad values refused. */
static void check_options(uint16_t port) {
    sp2p_options *options = sp2p_options_new();
    CHECK(options != NULL, "sp2p_options_new");
    CHECK(sp2p_options_set_family(options, 5) == SP2P_ERR_ARG, "family 5 refused");
    CHECK(strstr(sp2p_last_error(), "SP2P_FAMILY_IPV4 (4)") != NULL, "naming the values");
    CHECK(sp2p_options_set_family(NULL, SP2P_FAMILY_BOTH) == SP2P_ERR_NULL, "NULL options");
    CHECK(sp2p_options_set_group6(options, "ff05::114") == SP2P_ERR_ARG, "a site-scope group refused");
    CHECK(strstr(sp2p_last_error(), "ff05::114 is not a multicast address of link-local scope") != NULL,
          "saying why");
    CHECK(sp2p_options_set_group6(options, "239.255.0.1") == SP2P_ERR_ARG, "an IPv4 group6 refused");
    CHECK(sp2p_options_set_group6(options, NULL) == SP2P_ERR_NULL, "NULL group6");
    CHECK(sp2p_options_set_group6(options, "ff02::1:114") == SP2P_OK, "group6 ff02::1:114");
    /* IPv6 alone on loopback: nothing to serve (no IPv6 multicast on lo). */
    CHECK(sp2p_options_set_family(options, SP2P_FAMILY_IPV6) == SP2P_OK, "family IPv6");
    sp2p_config config = {0};
    config.interface = "127.0.0.1";
    config.port = port;
    sp2p_peer *peer = NULL;
    CHECK(sp2p_open_with(&config, options, &peer) == SP2P_ERR_SETUP, "IPv6 alone on loopback fails at open");
    CHECK(strstr(sp2p_last_error(), "IPv6") != NULL, "saying IPv6");
    sp2p_options_free(options);
}

/* Waits on fd, then takes everything there: returns the first event of
 * `kind` (copied to *found) once seen, counting messages in *messages. */
static void loop_until(sp2p_peer *peer, int fd, int kind, sp2p_event *found, int *messages) {
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        CHECK(poll(&p, 1, HANG_MS) == 1, "the fd became readable");
        sp2p_event e;
        int rc, seen = 0;
        while ((rc = sp2p_next_event(peer, 0, &e)) == 1) {
            if (e.kind == kind && !seen) {
                *found = e;
                seen = 1;
            }
        }
        CHECK(rc == 0, "sp2p_next_event");
        uint8_t buf[SP2P_MAX_MESSAGE];
        sp2p_message_wide meta;
        while ((rc = sp2p_recv_wide(peer, 0, buf, sizeof buf, &meta)) == 1) {
            CHECK(meta.len == 4 && memcmp(buf, "ping", 4) == 0, "the message arrived whole");
            CHECK(strncmp(meta.address, "127.0.0.1:", 10) == 0, "from its loopback address, in full");
            ++*messages;
        }
        CHECK(rc == 0, "sp2p_recv");
        if (seen) {
            return;
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: members PORT\n");
        return 2;
    }
    uint16_t port = (uint16_t)atoi(argv[1]);
    CHECK(sp2p_options_set_heartbeat_ms(NULL, 0) == SP2P_ERR_NULL, "NULL options");
    check_options(port);

    sp2p_peer *a = open_peer(port, "a", 1000, SP2P_FAMILY_IPV4);
    sp2p_interface served[SP2P_MAX_INTERFACES];
    CHECK(sp2p_interfaces(a, served, SP2P_MAX_INTERFACES) == 1, "a serves one interface");
    CHECK(strcmp(served[0].name, "lo") == 0 && served[0].index > 0, "lo, with its index");
    CHECK(strcmp(served[0].ipv4, "127.0.0.1") == 0 && served[0].ipv6[0] == '\0', "over IPv4 alone");
    CHECK(sp2p_interfaces(a, NULL, 0) == 1, "counted with no room");
    int fd = sp2p_fd(a);
    CHECK(fd >= 0, "sp2p_fd");
    struct pollfd idle = {.fd = fd, .events = POLLIN};
    CHECK(poll(&idle, 1, 0) == 0, "nothing waits yet");

    sp2p_peer *b = open_peer(port, "b", 250, SP2P_FAMILY_BOTH);
    sp2p_event joined;
    int messages = 0;
    loop_until(a, fd, SP2P_EVENT_JOINED, &joined, &messages);
    CHECK(strcmp(joined.member.name, "b") == 0, "b joined");
    CHECK(joined.member.heartbeat_ms == 250 && joined.time_ms > 0, "with its heartbeat and a time");

    sp2p_member listed[4];
    CHECK(sp2p_members(a, listed, 4) == 1, "a lists one member");
    CHECK(strcmp(listed[0].id, joined.member.id) == 0, "b, by id");
    CHECK(strncmp(listed[0].address, "127.0.0.1:", 10) == 0, "at its loopback address");
    CHECK(listed[0].first_heard_ms <= listed[0].last_heard_ms, "heard first, then last");
    char addrs[SP2P_MAX_MEMBER_ADDRS][SP2P_ADDRESS_LEN];
    int n = sp2p_member_addresses(a, listed[0].id, addrs, SP2P_MAX_MEMBER_ADDRS);
    CHECK(n >= 1 && n <= SP2P_MAX_MEMBER_ADDRS, "b has one to SP2P_MAX_MEMBER_ADDRS addresses");
    CHECK(strcmp(addrs[0], listed[0].address) == 0, "its member address first");
    CHECK(sp2p_member_addresses(a, "6ba7b810-9dad-41d1-80b4-00c04fd430c8", addrs, 1) == 0, "none for a stranger");
    CHECK(sp2p_member_addresses(a, "b", addrs, 1) == SP2P_ERR_ARG, "an id that is no UUID refused");

    size_t targeted = 0;
    CHECK(sp2p_send(b, (const uint8_t *)"ping", 4, 10000, &targeted) == 1 && targeted == 1, "b sends to a");
    sp2p_peer_info narrow[2];
    sp2p_peer_info_wide wide[2];
    CHECK(sp2p_acked(b, narrow, 2) == 1 && sp2p_acked_wide(b, wide, 2) == 1, "a acknowledged");
    CHECK(strcmp(wide[0].id, narrow[0].id) == 0 && strcmp(wide[0].name, "a") == 0, "the same peer, wide");
    CHECK(strcmp(wide[0].address, narrow[0].address) == 0 && strncmp(wide[0].address, "127.0.0.1:", 10) == 0,
          "at the same address");
    CHECK(sp2p_peers_wide(b, wide, 2) == 1 && strcmp(wide[0].id, narrow[0].id) == 0, "b's peers, wide");
    CHECK(sp2p_missing_wide(b, wide, 2) == 0, "none missing");
    /* The message wakes the loop too; it returns at b's goodbye. */
    sp2p_close(b);
    sp2p_event left;
    loop_until(a, fd, SP2P_EVENT_LEFT, &left, &messages);
    CHECK(strcmp(left.member.id, joined.member.id) == 0, "b left");
    CHECK(messages == 1, "the message was taken once");
    CHECK(sp2p_members(a, NULL, 0) == 0, "nobody is left");
    sp2p_close(a);
    CHECK(sp2p_next_event(a, 0, &left) == SP2P_ERR_CLOSED, "a closed handle is an error");
    printf("PASS members\n");
    return 0;
}
