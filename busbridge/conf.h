/* conf.h - bridge.conf, busbridge's own configuration (an INI file read
 * with inih): the NATS cluster and how to reach it, this node's names, and
 * what crosses the bridge. Every error names its file and line. */
#ifndef BUSBRIDGE_CONF_H
#define BUSBRIDGE_CONF_H

#include <stddef.h>

#define CONF_MAX_SERVERS 16
#define CONF_MAX_NAMES 64
#define CONF_MAX_TOPICS 64
#define CONF_TOKEN_MAX 64

struct bridge_conf {
	/* [nats]: handed to cnats as they are */
	char *servers[CONF_MAX_SERVERS];
	size_t n_servers;
	char *user, *password, *token, *credentials, *nkey_seed;
	int tls;               /* 1: require TLS (also when a URL says tls://) */
	char *tls_ca, *tls_cert, *tls_key, *tls_hostname;
	int tls_skip_verify;
	int randomize;                /* 0: servers tried in their order (default 1) */
	char prefix[CONF_TOKEN_MAX];  /* subject prefix, default "busd" */
	unsigned call_timeout_ms;     /* calls in both directions, default 25000 */
	/* [bridge] */
	char node[CONF_TOKEN_MAX];    /* this bridge, unique in the cluster */
	char bus_id[CONF_TOKEN_MAX];  /* the bus it sits on (default: node) */
	char *socket;                 /* busd's socket (default: libbus's) */
	/* [export], [import], [topics] */
	char *exports[CONF_MAX_NAMES];
	size_t n_exports;
	char *imports[CONF_MAX_NAMES];
	size_t n_imports;
	char *topics[CONF_MAX_TOPICS];
	size_t n_topics;
};

/* Read path into c (zeroed first, defaults set). Returns 0, or -1 after
 * printing every problem found, "path:line: what" one a line, to stderr. */
int conf_load(struct bridge_conf *c, const char *path);
void conf_free(struct bridge_conf *c);

/* 1 if s is one NATS subject token and one busd name element: letters,
 * digits, '_' and '-'. */
int conf_token_valid(const char *s);

#endif
