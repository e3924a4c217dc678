/* test-memfd-receiver.c - libbus trusts no sender of an out-of-line body
 * (docs/protocol.md "Out-of-line bodies"), checked without busd: a fake
 * broker speaking the protocol itself sends libbus replies with unsealed,
 * writable or wrongly sized body memfds, which fail the call
 * (bus.Error.UnsealedBody), and a call with an unsealed one, which libbus
 * answers with that error; a sound one is the message's body, read-only
 * mapped; no descriptor is left open in the process. test-memfd.c checks
 * the same bodies through a real busd. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <bus/bus.h>
#include <bus/errors.h>
#include "bus.pb-c.h"
#include "harness.h"
#include "raw.h"
#include "tap.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* libbus trusts no sender: a peer without busd in between (here a fake
 * broker, speaking the protocol itself) sends it bodies busd would refuse.
 * The fake answers Hello, then each CALL libbus sends it with a REPLY whose
 * out-of-line body is, in turn, unsealed, writable, of another size than
 * declared, and sound; then it calls libbus with an unsealed body and
 * reports the error name libbus answers with. */
#define FAKE_BODY 8192

static int fake_broker(int ctl, void *arg)
{
	const char *path = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t data[FAKE_BODY], body[256];
	raw_conn c;
	raw_frame f;
	const unsigned seals[4] = { 0, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW, SEALS, SEALS };
	const uint64_t declared[4] = { FAKE_BODY, FAKE_BODY, FAKE_BODY + 1, FAKE_BODY };

	harness_fill(data, sizeof(data), 8);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		return 1;
	harness_send(ctl, "listening");
	memset(&c, 0, sizeof(c));
	if ((c.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0 || raw_recv(&c, &f, 10000) != 1)
		return 2;
	Bus__HelloReply rep = BUS__HELLO_REPLY__INIT;
	rep.unique_name = (char *)":1";
	rep.protocol_version = 1;
	rep.server = (char *)"fake";
	rep.max_peer_frame_size = 1u << 20;
	rep.max_fds_per_frame = 4;
	rep.max_memfd_body_size = 1u << 20;
	size_t len = bus__hello_reply__pack(&rep, body);
	wire_header h = { .kind = WIRE_KIND_REPLY, .serial = 1, .reply_serial = f.h.serial,
			  .destination = wire_str_c(":1"), .sender = wire_str_c("bus"),
			  .body_type = wire_str_c("bus.HelloReply") };
	raw_send(&c, &h, body, len);
	for (int i = 0; i < 4; i++) {
		if (raw_recv(&c, &f, 10000) != 1 || f.h.kind != WIRE_KIND_CALL)
			return 3;
		int fd = harness_memfd_with(data, sizeof(data), seals[i]);
		wire_header r = { .kind = WIRE_KIND_REPLY, .serial = 10 + i,
				  .reply_serial = f.h.serial, .destination = wire_str_c(":1"),
				  .sender = wire_str_c(":2"), .fd_count = 1,
				  .memfd_body_size = declared[i] };
		raw_send_fds(&c, &r, NULL, 0, &fd, 1);
		close(fd);
	}
	int fd = harness_memfd_with(data, sizeof(data), 0);
	wire_header call = { .kind = WIRE_KIND_CALL, .serial = 20, .destination = wire_str_c(":1"),
			     .sender = wire_str_c(":2"), .member = wire_str_c("Take"),
			     .fd_count = 1, .memfd_body_size = sizeof(data) };
	raw_send_fds(&c, &call, NULL, 0, &fd, 1);
	close(fd);
	char name[128] = "";
	if (raw_recv_reply(&c, 20, &f, 10000) == 1)
		raw_str(f.h.error_name, name, sizeof(name));
	harness_send(ctl, "%s", name[0] ? name : "-");
	harness_recv(ctl, (char *)body, sizeof(body), 10000); /* until the test is done */
	raw_close(&c);
	close(l);
	return 0;
}

static volatile int fake_done;
static char fake_err[128];
static size_t fake_len;
static int fake_same;

static void on_fake(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	uint8_t data[FAKE_BODY];

	(void)bus;
	(void)ud;
	fake_done = 1;
	snprintf(fake_err, sizeof(fake_err), "%s", err ? err->name : "");
	harness_fill(data, sizeof(data), 8);
	fake_len = reply ? reply->body_len : 0;
	fake_same = reply && reply->body_len == FAKE_BODY && reply->n_fds == 0 &&
		    reply->memfd_body_size == FAKE_BODY && memcmp(reply->body, data, FAKE_BODY) == 0;
}

static void test_receiver_checks(const char *path)
{
	char line[128];
	harness_child fake;
	bus_error_t err;
	bus_t *bus;
	int base = harness_open_fds(0);

	harness_fork(&fake, fake_broker, (void *)path);
	if (harness_recv(fake.ctl, line, sizeof(line), 10000) <= 0)
		harness_bail("the fake broker did not come up (its status %d)",
			     harness_wait(&fake, 1000));
	if (bus_connect(&bus, path, &err) < 0)
		harness_bail("cannot connect to the fake broker: %s: %s", err.name, err.message);
	const char *what[3] = { "unsealed", "writable (no F_SEAL_WRITE)", "of another size" };
	void *reply = NULL;
	size_t rlen = 0;
	for (int i = 0; i < 3; i++) {
		if (i == 1) { /* one of them through the async path */
			fake_done = 0;
			bus_call_async(bus, NULL, "org.test.Fake", NULL, "M", NULL, NULL, 0, 10000000,
				       on_fake, NULL);
			harness_loop_until(bus, &fake_done, 10000);
			ok(fake_done && strcmp(fake_err, BUS_ERROR_UNSEALED_BODY) == 0,
			   "libbus, without busd: a reply whose body memfd is %s fails the async call "
			   "with %s", what[i], BUS_ERROR_UNSEALED_BODY);
			continue;
		}
		int r = bus_call(bus, "org.test.Fake", NULL, "M", NULL, NULL, 0, 10000000, &err,
				 &reply, &rlen);
		ok(r == -EBADMSG && strcmp(err.name, BUS_ERROR_UNSEALED_BODY) == 0,
		   "libbus, without busd: a reply whose body memfd is %s fails bus_call: -EBADMSG, %s (%s)",
		   what[i], BUS_ERROR_UNSEALED_BODY, err.message);
	}
	fake_done = 0;
	bus_call_async(bus, NULL, "org.test.Fake", NULL, "M", NULL, NULL, 0, 10000000, on_fake,
		       NULL);
	harness_loop_until(bus, &fake_done, 10000);
	ok(fake_done && !fake_err[0] && fake_same,
	   "a sound one is the reply's body (%zu bytes), read-only mapped, n_fds 0", fake_len);
	/* The fake's call with an unsealed body is answered by libbus itself. */
	int got = 0;
	for (uint64_t until = harness_now_ms() + 10000; !got && harness_now_ms() < until;) {
		bus_process(bus);
		struct pollfd pfd = { .fd = fake.ctl, .events = POLLIN };
		if (poll(&pfd, 1, 10) == 1)
			got = harness_recv(fake.ctl, line, sizeof(line), 1000) > 0;
	}
	ok(got && strcmp(line, BUS_ERROR_UNSEALED_BODY) == 0,
	   "a call whose body memfd is unsealed is answered %s by libbus (%s)",
	   BUS_ERROR_UNSEALED_BODY, got ? line : "no answer");
	bus_close(bus);
	harness_send(fake.ctl, "done");
	harness_wait(&fake, 10000);
	is_int(harness_open_fds(0), base, "libbus kept no descriptor of them (/proc/self/fd)");
}

int main(void)
{
	char path[4096];

	plan(6);
	snprintf(path, sizeof(path), "%s/fake.sock", harness_dir());
	test_receiver_checks(path);
	unlink(path);
	return harness_done();
}
