/* name.c - well-known name ownership: a hash from name to entry, and for
 * each owner a list of its entries (found through a second hash keyed by the
 * owner pointer) so that a disconnecting peer releases all of them at once. */
#include "name.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "wire.h"

struct name_entry {
	void *owner;
	struct charge charge;           /* what it costs its owner */
	struct name_entry *prev, *next; /* the owner's list */
	size_t len;
	char name[]; /* NUL-terminated */
};

struct name_registry {
	hash *names;  /* name -> struct name_entry */
	hash *owners; /* owner pointer bytes -> first struct name_entry */
};

static void entry_free(void *v)
{
	struct name_entry *e = v;
	charge_release(&e->charge);
	free(e);
}

name_registry *name_registry_new(void)
{
	name_registry *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->names = hash_new();
	r->owners = hash_new();
	if (!r->names || !r->owners) {
		name_registry_free(r);
		return NULL;
	}
	return r;
}

void name_registry_free(name_registry *r)
{
	if (!r)
		return;
	hash_free(r->names, entry_free);
	hash_free(r->owners, NULL);
	free(r);
}

static int name_requestable(const char *name, size_t len)
{
	if (len == 3 && memcmp(name, "bus", 3) == 0)
		return 0;
	return len > 0 && name[0] != ':' && wire_name_valid(name, len);
}

int name_request(name_registry *r, const char *name, size_t len, void *owner,
		 struct charge *charge)
{
	if (!name_requestable(name, len))
		return NAME_E_INVALID;
	struct name_entry *e = hash_get(r->names, name, len);
	if (e)
		return e->owner == owner ? NAME_E_ALREADY_OWNER : NAME_E_TAKEN;

	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->owner = owner;
	e->charge = (struct charge){ 0 };
	e->len = len;
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	e->prev = NULL;
	e->next = hash_get(r->owners, &owner, sizeof(owner));
	if (hash_put(r->names, name, len, e) < 0 ||
	    hash_put(r->owners, &owner, sizeof(owner), e) < 0) {
		hash_remove(r->names, name, len);
		free(e);
		return -ENOMEM;
	}
	if (e->next)
		e->next->prev = e;
	if (charge) {
		e->charge = *charge;
		*charge = (struct charge){ 0 };
	}
	return 0;
}

/* Unlink e from its owner's list and the name table, and free it. */
static void entry_drop(name_registry *r, struct name_entry *e)
{
	void *owner = e->owner;
	if (e->prev)
		e->prev->next = e->next;
	else if (e->next)
		hash_put(r->owners, &owner, sizeof(owner), e->next); /* replaces: no allocation */
	else
		hash_remove(r->owners, &owner, sizeof(owner));
	if (e->next)
		e->next->prev = e->prev;
	hash_remove(r->names, e->name, e->len);
	charge_release(&e->charge);
	free(e);
}

int name_release(name_registry *r, const char *name, size_t len, void *owner)
{
	if (!name_requestable(name, len))
		return NAME_E_INVALID;
	struct name_entry *e = hash_get(r->names, name, len);
	if (!e || e->owner != owner)
		return NAME_E_NOT_OWNER;
	entry_drop(r, e);
	return 0;
}

void *name_lookup(const name_registry *r, const char *name, size_t len)
{
	struct name_entry *e = hash_get(r->names, name, len);
	return e ? e->owner : NULL;
}

size_t name_release_all(name_registry *r, void *owner, name_fn cb, void *userdata)
{
	size_t n = 0;
	struct name_entry *e;
	while ((e = hash_get(r->owners, &owner, sizeof(owner)))) {
		if (cb)
			cb(e->name, owner, userdata);
		entry_drop(r, e);
		n++;
	}
	return n;
}

void name_foreach_owned(const name_registry *r, void *owner, name_fn cb, void *userdata)
{
	for (struct name_entry *e = hash_get(r->owners, &owner, sizeof(owner)); e; e = e->next)
		cb(e->name, owner, userdata);
}

size_t name_count(const name_registry *r)
{
	return hash_count(r->names);
}

size_t name_count_owned(const name_registry *r, void *owner)
{
	size_t n = 0;
	for (struct name_entry *e = hash_get(r->owners, &owner, sizeof(owner)); e; e = e->next)
		n++;
	return n;
}
