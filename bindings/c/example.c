/*
 * The original's send test, in C: count the peers, send a message, PASS
 * when every peer acknowledged. Exits 0 on PASS, 1 on FAIL, 2 on error
 * (including the API failing to refuse what it must).
 *
 *   example [interface] [port] [expect] [message]
 *
 * Build, after make install: cc example.c $(pkg-config --cflags --libs simplep2p)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simplep2p.h"

static int fail(const char *what) {
    fprintf(stderr, "example: %s: %s\n", what, sp2p_last_error());
    return 2;
}

int main(int argc, char **argv) {
    sp2p_config config = {0};
    config.interface = argc > 1 ? argv[1] : "127.0.0.1";
    config.port = argc > 2 ? (uint16_t)atoi(argv[2]) : 0;
    int expect = argc > 3 ? atoi(argv[3]) : 0;
    const char *message = argc > 4 ? argv[4] : "hello there";
    config.name = "c-example";

    /* Settings beyond sp2p_config go in an options object. This peer only
     * sends, so acknowledging on recv changes nothing here; a receiver sets
     * it to acknowledge only the messages its program has taken. */
    sp2p_options *options = sp2p_options_new();
    if (options == NULL) return fail("options");
    if (sp2p_options_set_ack_on_recv(options, 1) != SP2P_OK) return fail("set ack_on_recv");
    if (sp2p_options_set_ttl(options, 256) != SP2P_ERR_ARG) return fail("TTL 256 accepted");
    sp2p_peer *peer = NULL;
    int opened = sp2p_open_with(&config, options, &peer);
    sp2p_options_free(options); /* copied by sp2p_open_with */
    if (opened != SP2P_OK) return fail("open");

    int peers = sp2p_discover(peer, expect, 2000);
    if (peers < 0) return fail("discover");
    /* The _wide calls have room for any address, "[fe80::1%2]:30001" too. */
    sp2p_peer_info_wide found[64];
    int listed = sp2p_peers_wide(peer, found, 64);
    for (int i = 0; i < listed && i < 64; i++) printf("peer %s %s %s\n", found[i].id, found[i].address, found[i].name);

    size_t targeted = 0;
    int acked = sp2p_send(peer, (const uint8_t *)message, strlen(message), 2000, &targeted);
    if (acked < 0) return fail("send");

    /* The API rejects what it must, without crashing. */
    if (sp2p_discover(NULL, 0, 1) != SP2P_ERR_NULL) return fail("NULL peer accepted");
    if (sp2p_send(peer, NULL, 5, 1, NULL) != SP2P_ERR_NULL) return fail("NULL data accepted");
    static uint8_t big[SP2P_MAX_MESSAGE + 1];
    if (sp2p_send(peer, big, sizeof big, 1, NULL) != SP2P_ERR_TOO_LARGE) return fail("oversize accepted");

    int ok = peers > 0 && acked == peers && (size_t)peers == targeted && (expect <= 0 || peers >= expect);
    sp2p_close(peer);

    /* A closed handle is an error, not a use after free; closing twice does nothing. */
    if (sp2p_discover(peer, 0, 1) != SP2P_ERR_CLOSED) return fail("closed peer accepted");
    sp2p_close(peer);

    printf("%s %d/%d peers acknowledged\n", ok ? "PASS" : "FAIL", acked, peers);
    return ok ? 0 : 1;
}
