/*
 * The C ABI's group keys, end to end: two peers holding one key (one from a
 * key file, one in memory) talk; a third with another key finds nobody,
 * receives nothing and counts what it could not open; a peer opened with
 * plain sp2p_open takes its key from SIMPLEP2P_KEY_FILE; a key file other
 * users may read is refused. All on interface 127.0.0.1. Exits 0 and
 * prints "PASS keyed" when all holds, 1 otherwise.
 *
 *   keys PORT
 *
 * Build: cc -Ibindings/c tests/c/keys.c -Ltarget/debug -lsimplep2p
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "simplep2p.h"

static char dir[] = "/tmp/sp2p-c-keys-XXXXXX";
static char group_key[64], open_key[64];

static void cleanup(void) {
    unlink(group_key);
    unlink(open_key);
    rmdir(dir);
}

#define CHECK(cond, what)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "keys: FAIL %s (last error: %s)\n", what, sp2p_last_error()); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* Writes one key line to a new file with `mode`. */
static void write_key(const char *path, const char *hex, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    CHECK(fd >= 0, "create a key file");
    CHECK(fchmod(fd, mode) == 0, "chmod the key file"); /* past the umask */
    CHECK(write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1, "write the key file");
    CHECK(close(fd) == 0, "close the key file");
}

static void from_hex(const char *hex, uint8_t out[32]) {
    for (int i = 0; i < 32; i++) {
        unsigned byte = 0;
        CHECK(sscanf(hex + 2 * i, "%2x", &byte) == 1, "parse sp2p_keygen's hex");
        out[i] = (uint8_t)byte;
    }
}

static sp2p_peer *open_peer(uint16_t port, const char *name, sp2p_options *options) {
    sp2p_config config = {0};
    config.interface = "127.0.0.1";
    config.port = port;
    config.name = name;
    sp2p_peer *peer = NULL;
    CHECK(sp2p_open_with(&config, options, &peer) == SP2P_OK, "open a peer");
    sp2p_options_free(options); /* copied */
    return peer;
}

static uint64_t stat_of(sp2p_peer *peer, const char *name) {
    uint64_t value = 0;
    CHECK(sp2p_stat(peer, name, &value) == SP2P_OK, "read a counter");
    return value;
}

/* Polls until the counter is above 0, for at most 60 s (a hang, not a speed). */
static int eventually_counts(sp2p_peer *peer, const char *name) {
    struct timespec poll = {0, 5 * 1000 * 1000};
    for (int i = 0; i < 12000; i++) {
        if (stat_of(peer, name) > 0) return 1;
        nanosleep(&poll, NULL);
    }
    return 0;
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: keys PORT");
    uint16_t port = (uint16_t)atoi(argv[1]);
    CHECK(mkdtemp(dir) != NULL, "make a scratch directory");
    atexit(cleanup);
    snprintf(group_key, sizeof group_key, "%s/group.key", dir);
    snprintf(open_key, sizeof open_key, "%s/open.key", dir);

    char hex[65], other_hex[65];
    CHECK(sp2p_keygen(hex) == SP2P_OK && strlen(hex) == 64, "sp2p_keygen");
    CHECK(sp2p_keygen(other_hex) == SP2P_OK && strcmp(hex, other_hex) != 0, "a second key");
    write_key(group_key, hex, 0600);
    write_key(open_key, hex, 0644);

    /* A key file others may read is refused at once, saying what to do and not the key. */
    sp2p_options *refused = sp2p_options_new();
    CHECK(refused != NULL, "sp2p_options_new");
    CHECK(sp2p_options_add_key_file(refused, open_key) == SP2P_ERR_KEY, "a 0644 key file accepted");
    CHECK(strstr(sp2p_last_error(), "chmod 600") != NULL, "the 0644 error says chmod 600");
    CHECK(strstr(sp2p_last_error(), hex) == NULL, "an error shows the key");
    sp2p_options_free(refused);

    sp2p_options *from_file = sp2p_options_new();
    CHECK(sp2p_options_add_key_file(from_file, group_key) == SP2P_OK, "add the key file");
    sp2p_peer *a = open_peer(port, "a", from_file);

    uint8_t key[32], other[32];
    from_hex(hex, key);
    from_hex(other_hex, other);
    sp2p_options *in_memory = sp2p_options_new();
    CHECK(sp2p_options_add_key(in_memory, key) == SP2P_OK, "add the key in memory");
    sp2p_peer *b = open_peer(port, "b", in_memory);
    sp2p_options *stranger_key = sp2p_options_new();
    CHECK(sp2p_options_add_key(stranger_key, other) == SP2P_OK, "add another key");
    sp2p_peer *stranger = open_peer(port, "stranger", stranger_key);

    /* sp2p_open, with no options, takes the key of SIMPLEP2P_KEY_FILE. */
    CHECK(setenv("SIMPLEP2P_KEY_FILE", group_key, 1) == 0, "setenv");
    sp2p_config config = {0};
    config.interface = "127.0.0.1";
    config.port = port;
    config.name = "from-env";
    sp2p_peer *from_env = NULL;
    CHECK(sp2p_open(&config, &from_env) == SP2P_OK, "sp2p_open with SIMPLEP2P_KEY_FILE");
    unsetenv("SIMPLEP2P_KEY_FILE");

    CHECK(sp2p_discover(b, 2, 10000) == 2, "b finds the two keyed peers");
    const char *text = "sealed from C";
    size_t targeted = 0;
    CHECK(sp2p_send(b, (const uint8_t *)text, strlen(text), 10000, &targeted) == 2 && targeted == 2,
          "both keyed peers acknowledge");
    uint8_t buf[64];
    sp2p_message meta;
    CHECK(sp2p_recv(a, 10000, buf, sizeof buf, &meta) == 1, "a receives");
    CHECK(meta.len == strlen(text) && memcmp(buf, text, meta.len) == 0, "a receives it whole");
    CHECK(strcmp(meta.name, "b") == 0, "from b");
    CHECK(sp2p_recv(from_env, 10000, buf, sizeof buf, &meta) == 1, "from-env receives");

    /* The stranger is told nothing, and counts the sealed datagrams it could not open. */
    CHECK(sp2p_discover(stranger, 1, 300) == 0, "the stranger finds nobody");
    CHECK(sp2p_recv(stranger, 0, buf, sizeof buf, &meta) == 0, "the stranger receives nothing");
    CHECK(eventually_counts(stranger, "auth_failed"), "the stranger counts auth_failed");
    CHECK(eventually_counts(a, "auth_failed"), "a counts the stranger's probes as auth_failed");
    CHECK(stat_of(a, "malformed") == 0 && stat_of(stranger, "malformed") == 0, "nothing malformed");

    sp2p_close(a);
    sp2p_close(b);
    sp2p_close(stranger);
    sp2p_close(from_env);
    printf("PASS keyed\n");
    return 0;
}
