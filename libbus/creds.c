/* creds.c - a peer's credentials as busd knows them (SO_PEERCRED and
 * SO_PEERGROUPS at its connect), through GetNameOwner: by name, or for the
 * caller of a call being served, waiting or asynchronously. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "bus.pb-c.h"

/* One allocation: the struct, the groups, the unique name. */
static bus_creds_t *creds_from(const Bus__PeerInfo *info)
{
	size_t n = strlen(info->unique_name) + 1;
	bus_creds_t *c = malloc(sizeof(*c) + info->n_groups * sizeof(gid_t) + n);

	if (!c)
		return NULL;
	gid_t *groups = (gid_t *)(c + 1);
	char *name = (char *)(groups + info->n_groups);
	for (size_t i = 0; i < info->n_groups; i++)
		groups[i] = (gid_t)info->groups[i];
	memcpy(name, info->unique_name, n);
	c->unique_name = name;
	c->pid = (pid_t)info->pid;
	c->uid = (uid_t)info->uid;
	c->gid = (gid_t)info->gid;
	c->n_groups = info->n_groups;
	c->groups = groups;
	return c;
}

void bus_creds_free(bus_creds_t *creds)
{
	free(creds);
}

int bus_get_name_creds(bus_t *bus, const char *name, bus_creds_t **creds, bus_error_t *err)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
	Bus__PeerInfo *info = NULL;

	bus_error_clear(err);
	if (creds)
		*creds = NULL;
	if (!bus || !name || !creds) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "no name given");
		return -EINVAL;
	}
	req.name = (char *)name;
	int r = control_sync(bus, "GetNameOwner", &req.base, &bus__peer_info__descriptor,
			     (ProtobufCMessage **)&info, err);
	if (r < 0)
		return r;
	*creds = creds_from(info);
	bus__peer_info__free_unpacked(info, NULL);
	if (!*creds) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void creds_finish(bus_t *bus, struct control_op *op, const bus_msg_t *reply,
			 const bus_error_t *err)
{
	Bus__PeerInfo *info = NULL;
	bus_creds_t *c = NULL;
	bus_error_t e;

	if (reply && !(info = (Bus__PeerInfo *)bus_msg_unpack(reply, &bus__peer_info__descriptor))) {
		bus_error_set(&e, BUS_ERROR_FAILED, "busd's reply does not parse as %s",
			      bus__peer_info__descriptor.name);
		err = &e;
	} else if (info && !(c = creds_from(info))) {
		bus_error_set(&e, BUS_ERROR_FAILED, "out of memory");
		err = &e;
	}
	control_done(bus, op, c, err);
	bus_creds_free(c);
	if (info)
		bus__peer_info__free_unpacked(info, NULL);
}

int bus_get_name_creds_async(bus_t *bus, bus_slot_t **slot, const char *name, bus_creds_fn cb,
			     void *userdata)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;

	if (slot)
		*slot = NULL;
	if (!bus || !name || !cb)
		return -EINVAL;
	struct control_op *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->finish = creds_finish;
	op->creds = cb;
	op->userdata = userdata;
	req.name = (char *)name;
	return control_start(bus, slot, op, "GetNameOwner", &req.base, NULL);
}

int bus_query_sender_creds(void *call, bus_creds_t **creds, bus_error_t *err)
{
	const char *sender;
	bus_t *bus;

	if (creds)
		*creds = NULL;
	int r = serve_call_sender(call, &bus, &sender);
	if (r == -ECONNRESET) {
		conn_disconnected(bus, err);
		return r;
	}
	if (r < 0) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "not a call being served");
		return r;
	}
	return bus_get_name_creds(bus, sender, creds, err);
}

int bus_query_sender_creds_async(void *call, bus_slot_t **slot, bus_creds_fn cb, void *userdata)
{
	const char *sender;
	bus_t *bus;

	if (slot)
		*slot = NULL;
	int r = serve_call_sender(call, &bus, &sender);
	if (r < 0)
		return r;
	return bus_get_name_creds_async(bus, slot, sender, cb, userdata);
}
