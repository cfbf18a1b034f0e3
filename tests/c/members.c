/*
 * The C ABI's live membership and event-loop descriptor, end to end: a poll
 * loop on sp2p_fd sees another peer join (sp2p_next_event), lists it
 * (sp2p_members), takes a message it sends (sp2p_recv), and sees it leave.
 * All on interface 127.0.0.1. Exits 0 and prints "PASS members" when all
 * holds, 1 otherwise.
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

/* Far longer than anything takes on a busy machine. */
#define HANG_MS 30000

#define CHECK(cond, what)                                                                     \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "members: FAIL %s (last error: %s)\n", what, sp2p_last_error()); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static sp2p_peer *open_peer(uint16_t port, const char *name, uint32_t heartbeat_ms) {
    sp2p_config config = {0};
    config.interface = "127.0.0.1";
    config.port = port;
    config.name = name;
    sp2p_options *options = sp2p_options_new();
    CHECK(options != NULL, "sp2p_options_new");
    CHECK(sp2p_options_set_heartbeat_ms(options, heartbeat_ms) == SP2P_OK, "set the heartbeat");
    sp2p_peer *peer = NULL;
    CHECK(sp2p_open_with(&config, options, &peer) == SP2P_OK, "sp2p_open_with");
    sp2p_options_free(options);
    return peer;
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
        sp2p_message meta;
        while ((rc = sp2p_recv(peer, 0, buf, sizeof buf, &meta)) == 1) {
            CHECK(meta.len == 4 && memcmp(buf, "ping", 4) == 0, "the message arrived whole");
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

    sp2p_peer *a = open_peer(port, "a", 1000);
    int fd = sp2p_fd(a);
    CHECK(fd >= 0, "sp2p_fd");
    struct pollfd idle = {.fd = fd, .events = POLLIN};
    CHECK(poll(&idle, 1, 0) == 0, "nothing waits yet");

    sp2p_peer *b = open_peer(port, "b", 250);
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

    size_t targeted = 0;
    CHECK(sp2p_send(b, (const uint8_t *)"ping", 4, 10000, &targeted) == 1 && targeted == 1, "b sends to a");
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
