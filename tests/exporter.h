/* exporter.h - a test callee run in a forked child (harness_fork): it owns a
 * name and serves busd.examples.Echo (proto/echo.proto) under that name and
 * its unique id, answering in ways a test can check:
 *
 *   Echo(text, data)  -> reply text = request text, data = the caller's
 *                        unique name as busd stamped it (bus_call_msg sender)
 *   Delay(ms, text)   -> reports "delay TEXT" on ctl when the call arrives,
 *                        then replies text after ms milliseconds
 *   Fail(message)     -> error EXPORTER_ERROR, message "failed: MESSAGE";
 *                        message "noreply" answers with no reply instead
 *                        (bus.Error.ServiceFailed)
 *
 * On ctl it first sends "ready UNIQUE" (or "error TEXT"), then serves until
 * ctl is closed or says "quit"; it then closes its connection and exits 0.
 * "own NAME" on ctl makes it request one more name ("owned NAME" or
 * "error NAME: ERROR" back). */
#ifndef BUSD_TEST_EXPORTER_H
#define BUSD_TEST_EXPORTER_H

#include "harness.h"

#define EXPORTER_ERROR "org.test.Error.Failed"

/* harness_fn: arg is the well-known name to own (a const char *). */
int exporter_main(int ctl, void *arg);

/* Fork an exporter owning name and wait for it to be ready; its unique name
 * goes to unique (room for 64 bytes). Returns 0 or a negative errno. */
int exporter_start(harness_child *c, const char *name, char *unique);

/* Serve bus until ctl closes or says "quit" (0), or the connection is lost
 * (-ECONNRESET). on_line, if not NULL, gets every other line read from ctl. */
int exporter_serve(bus_t *bus, int ctl, void (*on_line)(bus_t *bus, const char *line, void *ud),
		   void *ud);

#endif
